"""``evaluate_run(RUN)``: a tracked run's model measured on the data it was held out from,
with its figures written out and logged back onto the run.

- A CNN run (``mlaas train``): the validation positions of the run's own split
  (``train.split_dataset`` with the run's seed), less the items of its label snapshot when it
  trained on one.
- A tabular run (notebook 04b): the test rows its recorded :class:`TabularTask` rebuilds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._classification import N_BINS, classification_metrics, confidently_wrong
from ._figures import classification_figures, regression_figures, wrong_images_figure, wrong_rows_figure
from ._log import log_to_run, write_evaluation
from ._regression import regression_metrics
from ._result import Evaluation
from ._tabular_task import TASK_TAG, TabularTask, TaskError

TOP_WRONG = 16


class EvaluationError(ValueError):
    """A run that cannot be evaluated (its data is missing, it records no test split...); the message says why."""


def _dataset(name: str | None, run, workspace_dir):
    from ..data import DataError, load

    if not name:
        raise EvaluationError(f"run {run.info.run_id} does not name its dataset (no mlaas.dataset tag): nothing to evaluate it on")
    try:
        return load(name, workspace_dir=workspace_dir)
    except DataError as exc:
        raise EvaluationError(f"run {run.info.run_id} was trained on dataset {name!r}, which is not in this workspace "
                              f"(ingest it first: mlaas ingest {name}); {exc}") from None


def _fingerprint_note(ds, run) -> list[str]:
    recorded = run.data.tags.get("mlaas.dataset.fingerprint")
    if recorded and recorded != str(ds.manifest.get("fingerprint")):
        return [f"dataset {ds.name!r} changed since run {run.info.run_id[:8]} was trained: its held-out items may differ"]
    return []


def held_out_items(loaded, workspace_dir=None):
    """Images, true class indices and class names of the run's held-out items, with their dataset positions."""
    from ..data import DataError
    from ..labels import load_snapshot
    from ..train import split_dataset

    run = loaded.run
    ds = _dataset(loaded.dataset, run, workspace_dir)
    seed = run.data.params.get("random_state", "0")
    _, val = split_dataset(ds, random_state=int(seed) if seed.lstrip("-").isdigit() else 0)
    data = f"the validation split of {ds.name}"
    snapshot = run.data.tags.get("mlaas.labels.snapshot")
    if snapshot:
        try:
            labeled = load_snapshot(snapshot, workspace_dir=workspace_dir)["item"].astype(int).to_numpy()
        except (DataError, FileNotFoundError) as exc:
            raise EvaluationError(f"run {run.info.run_id} trained on label snapshot {snapshot}, which is not in this workspace: {exc}") from None
        val = np.setdiff1d(val, labeled)
        data += f" less the {len(labeled):,} items of label snapshot {snapshot.split('@')[-1][:15]}"
    classes = [str(c) for c in loaded.model.classes_]
    index = {c: i for i, c in enumerate(classes)}
    truth = np.asarray([str(v) if v is not None and v == v else "" for v in ds.labels()[val].tolist()])
    known = np.asarray([t in index for t in truth], dtype=bool)
    notes = _fingerprint_note(ds, run)
    if (~known).any():
        notes.append(f"{int((~known).sum())} held-out item(s) without a label the model knows were left out")
    val, truth = val[known], truth[known]
    if not len(val):
        raise EvaluationError(f"run {run.info.run_id} has no held-out items with known labels to evaluate on")
    return ds.images()[val], np.asarray([index[t] for t in truth]), classes, val, f"{data} ({len(val):,} items)", notes


def _wrong_table(positions, y_idx, proba, classes, top_wrong):
    import pandas as pd

    picks = confidently_wrong(y_idx, proba, top_wrong)
    return picks, pd.DataFrame({"true": [classes[i] for i in y_idx[picks]], "predicted": [classes[i] for i in proba[picks].argmax(axis=1)],
                                "confidence": proba[picks].max(axis=1)}, index=pd.Index(np.asarray(positions)[picks], name="item"))


def _evaluate_cnn(loaded, *, top_wrong: int, n_bins: int, workspace_dir) -> Evaluation:
    images, y_idx, classes, positions, data, notes = held_out_items(loaded, workspace_dir)
    proba = loaded.model.predict_proba(images)
    metrics = classification_metrics(y_idx, proba, classes, n_bins=n_bins)
    picks, wrong = _wrong_table(positions, y_idx, proba, classes, top_wrong)
    captions = [f"#{item}: {r.true} as {r.predicted} ({r.confidence:.1%})" for item, r in wrong.iterrows()]  # as the summary
    figures = classification_figures(metrics, wrong_images_figure(images[picks], captions))
    return Evaluation(loaded.run_id, loaded.run.info.run_name, metrics, figures, data, wrong=wrong, notes=notes + metrics.notes)


def _evaluate_tabular(loaded, *, top_wrong: int, n_bins: int, workspace_dir) -> Evaluation:
    try:
        task = TabularTask.from_run(loaded.run)
        ds = _dataset(task.dataset, loaded.run, workspace_dir)
        _, X_test, _, y_test = task.split(workspace_dir=workspace_dir)
    except TaskError as exc:
        raise EvaluationError(str(exc)) from None
    notes = _fingerprint_note(ds, loaded.run)
    data = f"the test rows of {task.dataset} ({len(X_test):,} of them, target {task.target})"
    model = loaded.model
    if task.kind == "regression":
        groups = task.frame(workspace_dir=workspace_dir).loc[X_test.index, task.group] if task.group else None
        metrics = regression_metrics(y_test.to_numpy(), model.predict(X_test), categories=groups, target=task.target)
        return Evaluation(loaded.run_id, loaded.run.info.run_name, metrics, regression_figures(metrics), data, notes=notes)
    classes = [str(c) for c in model.classes_]
    index = {c: i for i, c in enumerate(classes)}
    y_idx = np.asarray([index.get(str(v), -1) for v in y_test])
    if (y_idx < 0).any():
        raise EvaluationError(f"the test rows hold classes the model never saw: {sorted(set(map(str, y_test)) - set(classes))}")
    proba = np.asarray(model.predict_proba(X_test))
    metrics = classification_metrics(y_idx, proba, classes, n_bins=n_bins)
    picks, wrong = _wrong_table(X_test.index, y_idx, proba, classes, top_wrong)
    figures = classification_figures(metrics, wrong_rows_figure(wrong.join(X_test)))
    return Evaluation(loaded.run_id, loaded.run.info.run_name, metrics, figures, data, wrong=wrong, notes=notes + metrics.notes)


def evaluate_run(run: str, *, top_wrong: int = TOP_WRONG, log: bool = True, out: str | os.PathLike | None = None, png: bool = True,
                 n_bins: int = N_BINS, workspace_dir: str | os.PathLike | None = None) -> Evaluation:
    """Evaluate run ``run`` (an id, a unique prefix of one, or ``runs:/ID``) on its held-out data.

    ``top_wrong`` most confidently wrong items are shown; the figures (HTML, and PNG when ``png``)
    and ``metrics.json`` go to ``out``; with ``log`` the numbers become ``eval_*`` metrics of the
    run and the files its ``evaluation/`` artifacts (without ``out`` they are kept there only;
    with neither, in ``runs/<run id>/evaluation`` in the workspace). Raises :class:`~mlaas_kernel.models.ModelNotFoundError` for an
    unknown run or one without a model, :class:`EvaluationError` when it cannot be evaluated.
    """
    from ..data import workspace
    from ..models import load_run_model

    if int(top_wrong) < 0:
        raise EvaluationError(f"top_wrong is {top_wrong}; give 0 or more")
    loaded = load_run_model(run, workspace_dir=workspace_dir)
    if loaded.kind == "cnn":
        ev = _evaluate_cnn(loaded, top_wrong=top_wrong, n_bins=n_bins, workspace_dir=workspace_dir)
    elif loaded.kind == "estimator":
        ev = _evaluate_tabular(loaded, top_wrong=top_wrong, n_bins=n_bins, workspace_dir=workspace_dir)
    else:
        raise EvaluationError(_not_a_classifier(loaded))
    _write_and_log(ev, out, log=log, png=png, default=workspace(workspace_dir) / "runs" / loaded.run_id / "evaluation",
                   workspace_dir=workspace_dir)
    return ev


def _not_a_classifier(loaded) -> str:
    if loaded.kind == "embedding":
        return (f"run {loaded.run_id} is an embedding (mlaas train --model siamese), not a classifier: evaluate a classifier run "
                f"(mlaas train, or notebook 04b's tabular runs); an embedding is judged by its silhouette (notebook 07) and used by "
                f"mlaas conformal RUN --score knn --embedding {loaded.run_id}")
    return f"run {loaded.run_id} holds a model of kind {loaded.kind!r}; evaluation measures classifiers (mlaas train) and tabular runs (notebook 04b)"


def _write_and_log(ev: Evaluation, out, *, log: bool, png: bool, default: Path, workspace_dir) -> None:
    """Write the files to ``out``. Logged without an ``out``, they are written to a scratch folder and
    then live in the run's artifacts only (no second copy of several MB of HTML in the workspace)."""
    import shutil
    import tempfile

    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="mlaas-eval-")) if log else default
    try:
        ev.files, why = write_evaluation(ev.figures, ev.numbers(), folder, png=png)
        if why:
            ev.notes.append(why)
        ev.out_dir = folder
        if log:
            ev.logged = log_to_run(ev.run_id, ev.scalars(), ev.files, workspace_dir=workspace_dir)
            if out is None:
                ev.out_dir = _artifact_folder(ev.run_id, workspace_dir)
                ev.files = [ev.out_dir / p.name for p in ev.files]
    finally:
        if out is None and log:
            shutil.rmtree(folder, ignore_errors=True)


def _artifact_folder(run_id: str, workspace_dir) -> Path:
    """Where the run's ``evaluation/`` artifacts are: a local folder for the embedded store, else their URI."""
    from urllib.parse import unquote, urlparse

    from ..track import setup
    from ._log import ARTIFACT_DIR

    uri = setup(workspace_dir=workspace_dir)[0].get_run(run_id).info.artifact_uri.rstrip("/")
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) / ARTIFACT_DIR if parsed.scheme in ("", "file") else Path(f"{uri}/{ARTIFACT_DIR}")


def latest_run(*, dataset: str, estimator: str | None = None, model: str = "cnn", experiment: str = "mlaas",
               workspace_dir: str | os.PathLike | None = None) -> str | None:
    """The id of the newest finished run on ``dataset`` with a model of the kind asked for, or ``None``.

    With ``estimator`` ``None``: a run of ``mlaas train`` whose ``mlaas.model`` tag is ``model`` (``cnn``,
    the classifier evaluation measures, or ``embedding``, a siamese run; runs from before the tag count as
    ``cnn``). A tuning study's finished trials are training runs and count; its parent run counts only once
    it holds the best trial's model (it starts before its trials, so the newest is in practice the last
    finished trial or a later plain run). With ``estimator``: a run of that estimator class
    (``"TabularRegressor"``...) that records its task.
    """
    from ..track import runs

    for run in runs(experiment, workspace_dir=workspace_dir, max_results=500):
        tags = run.data.tags
        if run.info.status != "FINISHED" or tags.get("mlaas.dataset") != dataset or tags.get("mlaas.estimator") != estimator:
            continue
        if estimator is not None:
            if TASK_TAG in tags:
                return run.info.run_id
        elif tags.get("mlaas.model", "cnn") == model and (tags.get("mlaas.kind") != "study"
                                                          or tags.get("mlaas.best.model", "").startswith("runs:/")):
            return run.info.run_id
    return None
