"""Conformal calibration of a tracked run's model, logged back onto the run.

:func:`calibrate_run` calibrates on one half of the run's validation split and measures coverage
and set size on the other half; :func:`log_calibration` stores the sets, the metrics and the
calibration (``conformal/calibration_<name>.json``, what serving can load) on the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._checks import ConformalInputError, check_significance
from ._predictor import ConformalClassifier
from ._scores import APS, LAC, KNNScore

__all__ = ["RunCalibration", "calibrate_run", "load_calibration", "log_calibration", "metric_key", "newest_run"]


@dataclass
class RunCalibration:
    """What :func:`calibrate_run` found; ``table`` has one row per evaluation item."""

    run_id: str
    name: str  # score, with "-mondrian" when class-conditional
    significance: float
    predictor: ConformalClassifier
    summary: dict
    table: Any
    n_calibration: int
    features: str | None = None  # what the kNN score measured distances on
    notes: list[str] = field(default_factory=list)
    scores: Any = None  # the score matrix of all held-out items (calibration and evaluation)
    labels: Any = None
    evaluation: Any = None  # positions of the evaluation half in ``scores``

    def levels(self, levels=(0.01, 0.02, 0.05, 0.1, 0.2)):
        """Coverage and mean set size on this split's evaluation half at each significance (a pandas table)."""
        from ._figures import evaluate_levels

        return evaluate_levels(self.predictor, self.scores[self.evaluation], self.labels[self.evaluation], levels, name=self.name)

    def over_splits(self, levels=(0.01, 0.02, 0.05, 0.1, 0.2), *, n_splits: int = 100):
        """Mean coverage and set size over ``n_splits`` random halvings of the held-out items (and one split's spread)."""
        from ._figures import coverage_over_splits

        return coverage_over_splits(self.predictor.scorer, self.scores, self.labels, levels, n_splits=n_splits,
                                    mondrian=self.predictor.mondrian, name=self.name)

    def summary_text(self, *, n_splits: int = 100) -> str:
        """A few lines for people: this split's coverage against the target and the mean over ``n_splits``
        random splits (what the guarantee is about), set sizes, empty sets explained."""
        s, a = self.summary, self.significance
        # sd of one split's coverage: the calibration quantile's spread plus the test items' binomial spread
        spread = np.sqrt(a * (1 - a) * (1 / self.n_calibration + 1 / s["n"]))
        mean = float(self.over_splits((a,), n_splits=n_splits)["coverage"].iloc[0])
        lines = [f"run {self.run_id}: {self.name} sets at significance {a:g} (target coverage {1 - a:.1%})",
                 f"  coverage        {s['coverage']:.2%} on this split ({s['n']:,} items: one split of {self.n_calibration:,} + "
                 f"{s['n']:,} items varies by about ±{spread:.1%})",
                 f"  {f'over {n_splits} splits':<16}{mean:.2%} (mean over random calibration/evaluation splits of the same "
                 f"{len(self.labels):,} items: the guarantee is on this average, ≥ {1 - a:.1%})",
                 f"  mean set size   {s['mean_set_size']:.3f} classes ({s['singletons']:.1%} single, {s['empty']:.1%} empty)",
                 f"  calibration     {self.n_calibration:,} items"]
        worst = min(s["class_coverage"].items(), key=lambda kv: kv[1])
        lines.append(f"  lowest class    {worst[0]}: {worst[1]:.2%}")
        if s["empty"] > 0:
            lines.append(f"empty sets ({s['empty']:.1%}): no class is typical enough for those items at {a:g}; when the model is "
                         f"right more often than {1 - a:.1%}, the sets reach that coverage by leaving its least certain items "
                         "empty (a smaller significance fills them)")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def newest_run(dataset: str, *, model: str = "cnn", experiment: str = "mlaas",
               workspace_dir: str | os.PathLike | None = None) -> str | None:
    """The id of the newest finished run on ``dataset`` whose ``mlaas.model`` tag is ``model`` (``cnn`` or
    ``embedding``; runs from before the tag count as ``cnn``), or None: :func:`mlaas_kernel.evaluate.latest_run`."""
    from ..evaluate import latest_run

    return latest_run(dataset=dataset, model=model, experiment=experiment, workspace_dir=workspace_dir)


def metric_key(kind: str, name: str, significance: float) -> str:
    """``conformal_<kind>_<name>_<level>``, e.g. ``conformal_coverage_lac_0.05``."""
    return f"conformal_{kind}_{name}_{significance:g}"


def _split_validation(n: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into the held-out items) of the calibration half and the evaluation half."""
    order = np.random.default_rng(random_state).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def _scorer(score: str, classes, *, reference, k: int, embedding, random_state: int, workspace_dir=None, dataset=None):
    """The scorer, and what turns (model, images) into its input: probabilities for lac/aps, features for knn."""
    if score in ("lac", "aps"):
        scorer = LAC(classes) if score == "lac" else APS(classes, random_state=random_state)
        return scorer, (lambda model, images: model.predict_proba(images)), None
    images, labels = reference  # knn
    embedding, described = _embedding(embedding, images, random_state, workspace_dir, dataset)
    scorer = KNNScore(k=k).fit(embedding.transform(images), labels)
    return scorer, (lambda model, x: embedding.transform(x)), described


def _embedding(embedding, images, random_state: int, workspace_dir, dataset: str | None = None):
    """The kNN score's feature map and its description: an embedding run (its id), a fitted
    ``transform``-er, or (None) PCA of the pixels fitted on the reference images."""
    if embedding is None:
        from ._features import PixelPCA

        pca = PixelPCA(random_state=random_state).fit(images)
        return pca, pca.describe()
    if isinstance(embedding, str):
        from ..models import load_run_model

        loaded = load_run_model(embedding, workspace_dir=workspace_dir)  # any kind, so that a wrong one is named
        if loaded.kind != "embedding":
            what = f"run {loaded.run_id} is {KIND_NAMES.get(loaded.kind, f'a model of kind {loaded.kind!r}')}"
            train = f"`mlaas train {dataset or 'DATASET'} --model siamese`"
            raise ConformalInputError(f"embedding=RUN needs an embedding run (train.train_embedding, {train}); {what}",
                                      cli=f"--embedding needs an embedding run ({train}); {what}")
        if loaded.dataset != dataset:
            raise ConformalInputError(f"embedding run {loaded.run_id} was trained on {loaded.dataset!r}, the model on {dataset!r}: "
                                      "give an embedding of the same dataset")
        dim = getattr(loaded.model, "dim", "?")
        return loaded.model, f"the {dim}-d siamese embedding of run {loaded.run_id[:8]} ({loaded.run.info.run_name})"
    describe = getattr(embedding, "describe", None)
    return embedding, describe() if describe else type(embedding).__name__


KIND_NAMES = {"cnn": "a CNN classifier", "estimator": "a fitted estimator (a tabular run)", "embedding": "a siamese embedding"}


def _not_a_classifier(loaded, workspace_dir) -> ConformalInputError:
    """The error for a run whose model is not an image classifier; an embedding run is shown where it goes."""
    what = KIND_NAMES.get(loaded.kind, f"a model of kind {loaded.kind!r}")
    text = f"run {loaded.run_id} holds {what}: conformal calibration of runs covers image classifiers (mlaas train) for now"
    if loaded.kind != "embedding":
        return ConformalInputError(text)
    classifier = newest_run(loaded.dataset, workspace_dir=workspace_dir) if loaded.dataset else None
    cnn, ref = (classifier[:8] if classifier else "CNN_RUN"), loaded.run_id[:8]
    return ConformalInputError(f"{text}; kNN sets on this embedding take it as embedding=RUN: "
                               f"calibrate_run({cnn!r}, score='knn', embedding={ref!r})",
                               cli=f"{text}; kNN sets on this embedding take it as --embedding RUN: "
                               f"mlaas conformal {cnn} --score knn --embedding {ref}")


def _reference(loaded, workspace_dir):
    """The run's training items (images, labels): the kNN score's reference set."""
    from .. import data
    from ..train import split_dataset

    ds = data.load(loaded.dataset, workspace_dir=workspace_dir)
    seed = loaded.run.data.params.get("random_state", "0")
    train, _ = split_dataset(ds, random_state=int(seed) if seed.lstrip("-").isdigit() else 0)
    return np.asarray(ds.images()[train]), ds.labels()[train]


def calibrate_run(run: str, *, significance: float = 0.05, score: str = "lac", mondrian: bool = False, k: int = 10,
                  embedding=None, random_state: int = 0, log: bool = True,
                  workspace_dir: str | os.PathLike | None = None) -> RunCalibration:
    """Calibrate run ``run``'s model on half of its held-out items; evaluate on the other half.

    The held-out items are those ``mlaas evaluate`` uses (the run's validation split, less its
    label snapshot's items). ``score`` is ``lac``, ``aps`` or ``knn``; the kNN score measures
    distances to the run's training items in ``embedding``: an embedding run's id
    (``train_embedding``, ``mlaas train --model siamese``), anything with ``transform(images)``,
    or, when None, PCA components of the pixels.
    ``log`` stores the result on the run (:func:`log_calibration`).
    """
    from ..evaluate import held_out_items  # the held-out items, chosen once for evaluation and calibration
    from ..models import load_run_model

    level = check_significance(significance)
    if score not in ("lac", "aps", "knn"):
        raise ConformalInputError(f"score {score!r} is not one of lac, aps, knn")
    loaded = load_run_model(run, workspace_dir=workspace_dir)
    if loaded.kind != "cnn":
        raise _not_a_classifier(loaded, workspace_dir)
    images, y_idx, _, positions, held_out, notes = held_out_items(loaded, workspace_dir)
    classes = np.asarray(loaded.model.classes_)
    y = classes[y_idx]
    cal, test = _split_validation(len(y), random_state)
    reference = _reference(loaded, workspace_dir) if score == "knn" else None
    scorer, inputs, features = _scorer(score, classes, reference=reference, k=k, embedding=embedding, random_state=random_state,
                                       workspace_dir=workspace_dir, dataset=loaded.dataset)
    predictor = ConformalClassifier(scorer, mondrian=mondrian, random_state=random_state)
    scores = scorer.score(inputs(loaded.model, images))
    predictor.calibrate_scores(scores[cal], y[cal])
    summary, table = predictor.evaluate_table(scores[test], y[test], level, ids=positions[test])
    notes = [f"calibrated on {len(cal):,} of {held_out}; evaluated on the other {len(test):,}", *notes]
    if features:
        notes.append(f"kNN distances on {features}")
    name = score + ("-mondrian" if mondrian else "")
    result = RunCalibration(loaded.run_id, name, level, predictor, summary, table, len(cal), features, notes, scores, y, test)
    if log:
        log_calibration(result, workspace_dir=workspace_dir)
    return result


def log_calibration(result: RunCalibration, *, workspace_dir: str | os.PathLike | None = None) -> list[str]:
    """Log ``result`` onto its run: the sets (``conformal/sets_<name>_<level>.parquet``), the calibration
    (``conformal/calibration_<name>.json``) and the metrics; returns the artifact paths."""
    import json
    import tempfile
    import time
    from pathlib import Path

    from mlflow.entities import Metric

    from ..track import setup

    client, _ = setup(workspace_dir=workspace_dir)
    level = f"{result.significance:g}"
    sets_name, cal_name = f"sets_{result.name}_{level}.parquet", f"calibration_{result.name}.json"
    with tempfile.TemporaryDirectory() as tmp:
        table = result.table.reset_index()
        table["set"] = table["set"].map(lambda s: [str(v) for v in s])
        table.to_parquet(Path(tmp) / sets_name, index=False)
        calibration = {**result.predictor.to_dict(), "features": result.features, "n_calibration": result.n_calibration}
        (Path(tmp) / cal_name).write_text(json.dumps(calibration))
        client.log_artifact(result.run_id, str(Path(tmp) / sets_name), "conformal")
        client.log_artifact(result.run_id, str(Path(tmp) / cal_name), "conformal")
    now = int(time.time() * 1000)
    client.log_batch(result.run_id, metrics=[
        Metric(metric_key("coverage", result.name, result.significance), result.summary["coverage"], now, 0),
        Metric(metric_key("mean_set_size", result.name, result.significance), result.summary["mean_set_size"], now, 0)])
    return [f"conformal/{sets_name}", f"conformal/{cal_name}"]


def load_calibration(run: str, *, name: str = "lac", scorer=None, workspace_dir: str | os.PathLike | None = None) -> ConformalClassifier:
    """The calibrated classifier :func:`log_calibration` stored on run ``run`` as ``conformal/calibration_<name>.json``
    (what an endpoint loads to return sets); a kNN calibration needs its fitted ``scorer``."""
    import json
    import tempfile

    from ..models import ModelNotFoundError, find_run
    from ..track import setup

    found = find_run(run, workspace_dir=workspace_dir)
    client, _ = setup(workspace_dir=workspace_dir)
    wanted = f"conformal/calibration_{name}.json"
    held = sorted(a.path for a in client.list_artifacts(found.info.run_id, "conformal"))
    if wanted not in held:
        have = ", ".join(p.split("calibration_", 1)[1][:-5] for p in held if "/calibration_" in p) or "none"
        raise ModelNotFoundError(f"run {found.info.run_id} has no {wanted} (calibrations it has: {have}); "
                                 f"make one with `mlaas conformal {found.info.run_id[:8]} --score {name.split('-')[0]}`")
    with tempfile.TemporaryDirectory() as tmp:
        data = json.loads(open(client.download_artifacts(found.info.run_id, wanted, tmp)).read())
    return ConformalClassifier.from_dict(data, scorer=scorer)
