"""Train on an ingested image dataset, tracked: what ``mlaas train`` and the notebooks call."""

from __future__ import annotations

import json
import os
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ._checkpoints import CHECKPOINTS, find_checkpoint
from ._image import ImageClassifier
from ._inputs import TrainingInputError, TrainingWarning, check_given
from ._session import process_group

MIN_VALIDATION = 50  # fewer held-out items than this make validation accuracy noise


@dataclass
class TrainResult:
    run_id: str | None
    metrics: dict[str, float]
    model_path: Path | None
    stopped: bool = False
    epochs_run: int = 0
    tracking_seconds: float = 0.0
    training_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # one record per epoch (loss, validation metrics...)


def split_dataset(ds, *, validation_fraction: float = 0.2, random_state: int = 0):
    """Train and validation positions: the dataset's own train/test split when it has one,
    else a seeded split (the bundled MNIST test set gives 8,000 / 2,000)."""
    table = ds.table()
    if "split" in table.columns and {"train", "test"} <= set(table["split"].astype(str)):
        split = table["split"].astype(str).to_numpy()
        return np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    order = np.random.default_rng(random_state).permutation(len(table))
    n_val = int(round(len(order) * validation_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_dataset(
    name: str,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    labels: str | None = None,
    resume: bool | str = False,
    track: bool = True,
    callbacks: Sequence[Any] = (),
    random_state: int | None = None,
    device: str = "auto",
    compile: bool = False,
    max_lr: float | None = None,
    width: int = 16,
    dropout: float = 0.0,
    weight_decay: float = 1e-4,
    experiment: str = "mlaas",
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    workspace_dir: str | os.PathLike | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train an :class:`ImageClassifier` on dataset ``name`` and track it in MLflow.

    ``labels`` names a label snapshot (a path or ``dataset@sha256:...``): training then uses the
    labeled items only, with the snapshot's labels, and records the snapshot's hash on the run.
    ``resume`` continues a run from its checkpoint (the same MLflow run): a run id (or a unique
    prefix of one), or ``True`` for the dataset's newest checkpoint. A resumed run keeps its own
    plan (epochs, batch size, learning rate, seed, label snapshot) unless an argument overrides it.
    Unset ``epochs`` and ``batch_size`` adapt to the data's size (see :class:`ImageClassifier`).
    ``width``, ``dropout`` and ``weight_decay`` shape the network and its optimiser (what a tuning
    study searches over); ``run_name`` and ``tags`` go on the MLflow run (a study's trials carry
    their parent run's id there).
    """
    check_given(epochs=epochs, batch_size=batch_size, max_lr=max_lr, width=width, dropout=dropout, weight_decay=weight_decay,
                device=device)  # before the run exists: bad input leaves no run behind
    run = start_run(name, kind="cnn", epochs=epochs, labels=labels, resume=resume, track=track, callbacks=callbacks,
                    random_state=random_state, experiment=experiment, run_name=run_name, tags=tags,
                    workspace_dir=workspace_dir, verbose=verbose)
    plan = run.plan
    clf = ImageClassifier(epochs=epochs, batch_size=_first(batch_size, plan.get("batch_size"), 128),
                          max_lr=_first(max_lr, plan.get("max_lr"), 3e-3), width=plan.get("width", width),
                          dropout=plan.get("dropout", dropout), weight_decay=plan.get("weight_decay", weight_decay),
                          device=device, compile=compile, **run.estimator_options(resume), verbose=verbose)
    run.fit(clf)
    return finish_run(clf, run, "model.pt", lambda tracker: _log_confusion(clf, run.items, tracker))


@dataclass
class Run:
    """A training run being set up: the dataset and its items, the tracker, the checkpoint folder, a resumed run's plan."""

    ds: Any
    items: "_Items"
    tracker: Any
    ckpt_path: Path | None
    plan: dict
    notes: list[str]
    rank: int
    callbacks: list
    labels: str | None
    random_state: int
    workspace_dir: Any = None

    @property
    def run_state(self) -> dict | None:
        return {"labels": self.labels} if self.labels else None

    def fit(self, est) -> None:
        """``est.fit`` on the run's items; a run still RUNNING when it raises (whatever raised) ends FAILED."""
        from ._ended import ends_on_error

        with ends_on_error(self.tracker, self.workspace_dir):
            est.fit(self.items.images[self.items.train], self.items.y_train, validation_data=self.items.validation,
                    run_state=self.run_state)

    def estimator_options(self, resume) -> dict:
        """The loop's arguments every estimator of a run takes: checkpoints, resume, callbacks, seed."""
        return {"checkpoint_dir": str(self.ckpt_path.parent) if self.ckpt_path is not None else None, "resume": bool(resume),
                "callbacks": self.callbacks, "random_state": self.random_state}


def start_run(name: str, *, kind: str, epochs, labels, resume, track: bool, callbacks, random_state, experiment: str,
              run_name: str | None, tags: dict | None, workspace_dir, verbose: int) -> Run:
    """Load dataset ``name``, find a resumed run's checkpoint and plan, pick the items, start the tracker and the run's folder."""
    from .. import data
    from ..data import workspace

    ds = data.load(name, workspace_dir=workspace_dir)
    if ds.kind != "images":
        raise TrainingInputError(f"dataset {name!r} is a {ds.kind} dataset; train tables with TabularClassifier (notebook 04b)")
    dist = process_group()
    rank = dist.get_rank() if dist else 0
    if track and rank == 0:
        from ..track import prepare

        prepare(workspace_dir)  # MLflow is readied in a thread while the data loads (a no-op when done already)
    models = workspace(workspace_dir) / "models" / ds.name
    ckpt_path, plan, notes = None, {}, []
    if resume:
        ckpt_path = find_checkpoint(models, ds.name, resume, kind)
        plan, note = _resumed_plan(ckpt_path, epochs)
        notes.append(note)
        if verbose and rank == 0:
            print(note, flush=True)
    labels = labels if labels is not None else plan.get("labels")
    random_state = _first(random_state, plan.get("random_state"), 0)
    items = _training_items(ds, labels, random_state, workspace_dir, warn=rank == 0)
    tracker, all_callbacks = None, list(callbacks)
    if track and rank == 0:
        from ..track import Tracker

        tracker = Tracker(experiment=experiment, run_name=run_name or f"{ds.name}-{kind}",
                          tags={**items.tags, "mlaas.model": kind, **(tags or {})},
                          params={"dataset": ds.name, "train_items": len(items.train), "val_items": len(items.val),
                                  "world_size": dist.get_world_size() if dist else 1},
                          workspace_dir=workspace_dir)
        all_callbacks.insert(0, tracker)
    if ckpt_path is None and rank == 0:  # a new run: its own folder
        key = tracker.start() if tracker is not None else f"untracked-{uuid.uuid4().hex[:12]}"
        ckpt_path = models / key / CHECKPOINTS[kind]
    return Run(ds, items, tracker, ckpt_path, plan, notes + items.notes, rank, all_callbacks, labels, random_state, workspace_dir)


@dataclass
class _Items:
    """What a run trains and validates on."""

    images: Any
    train: np.ndarray
    y_train: np.ndarray
    val: np.ndarray
    y_val: np.ndarray
    tags: dict[str, str]
    notes: list[str]

    @property
    def validation(self):
        return (self.images[self.val], self.y_val) if len(self.val) else None


def _training_items(ds, labels: str | None, random_state: int, workspace_dir, *, warn: bool = True) -> _Items:
    """The dataset's own labels and split, or a label snapshot's items; warns when too few are left to validate on."""
    from ..labels import load_snapshot

    images = ds.images()
    y_all = ds.labels()
    train_idx, val_idx = split_dataset(ds, random_state=random_state)
    tags = {"mlaas.dataset": ds.name, "mlaas.dataset.fingerprint": ds.manifest["fingerprint"]}
    notes = []
    y_train = y_all[train_idx]
    if labels:
        snap = load_snapshot(labels, workspace_dir=workspace_dir)
        labeled = dict(zip(snap["item"].astype(int), snap["label"].astype(str)))
        train_idx = np.asarray(sorted(labeled), dtype=np.int64)
        val_idx = np.setdiff1d(val_idx, train_idx)
        y_train = np.asarray([labeled[i] for i in train_idx])
        y_all = y_all.astype(str)
        meta = _snapshot_hash(labels)
        tags.update({"mlaas.labels.snapshot": meta, "mlaas.labels.count": str(len(train_idx))})
        notes.append(f"trained on {len(train_idx)} labeled items of snapshot {meta}")
    known = np.asarray([v is not None and v == v and str(v) != "" for v in y_all[val_idx].tolist()], dtype=bool)
    val_idx = val_idx[known]
    classes = len(np.unique(y_train))
    say = _warn if warn else (lambda notes, text: notes.append(text))  # one warning, not one per DDP process
    if len(train_idx) < 10 * classes:
        say(notes, f"only {len(train_idx)} training items for {classes} classes ({len(train_idx) / max(classes, 1):.1f} per class): "
                     "expect a weak model; label more items")
    if len(val_idx) < MIN_VALIDATION:
        say(notes, f"{len(val_idx)} labeled item(s) left for validation (fewer than {MIN_VALIDATION}): "
                     + ("no validation metrics" if not len(val_idx) else "validation accuracy will be noise"))
    return _Items(images, train_idx, y_train, val_idx, y_all[val_idx], tags, notes)


def _resumed_plan(ckpt_path: Path, epochs: int | None) -> tuple[dict, str]:
    """The plan a checkpoint was trained with (epochs, batch size, learning rate, seed, labels) and
    a line saying what resumes (``epochs``, when given, overrides the run's own)."""
    from ._loop import load_checkpoint

    ckpt = load_checkpoint(ckpt_path)
    plan = dict(ckpt.get("plan", {}))
    plan["labels"] = ckpt.get("run_state", {}).get("labels")
    run = ckpt.get("run_state", {}).get("mlflow_run_id") or ckpt_path.parent.parent.name
    done, total = int(ckpt["epoch"]), int(ckpt["epochs"])
    state = "was stopped" if ckpt.get("stopped") else ("had finished" if done >= total else "was interrupted")
    goal = epochs or total
    if done >= goal:  # refuse before anything runs: the run's status and checkpoint stay as they are
        if epochs:
            raise TrainingInputError(f"--epochs {epochs} is the run's total number of epochs, and run {run} has done {done} of {total}: "
                                     f"give more than {done} (or leave --epochs out to finish its own {total})")
        raise TrainingInputError(f"run {run} has finished its {total} epochs: give --epochs above {done} to train it further")
    return plan, f"resuming run {run}: it {state} after epoch {done} of {total}; continuing at epoch {done + 1} of {goal}"


def finish_run(est, run: Run, filename: str, log_more: Callable[[Any], None] | None = None) -> TrainResult:
    """The result, the model file ``filename`` beside the checkpoint, and the run's artifacts (``log_more(tracker)`` adds more)."""
    progress, tracker = est.progress_, run.tracker
    notes = run.notes + [m for m in progress.messages if m not in run.notes]
    metrics = {k: float(v) for k, v in (est.history_[-1] if est.history_ else {}).items() if k != "epoch"}
    if "val_accuracy" in metrics:
        metrics["accuracy"] = metrics["val_accuracy"]
    result = TrainResult(tracker.run_id if tracker else est.run_state_.get("mlflow_run_id"), metrics, None, progress.stopped,
                         len(est.history_), tracker.seconds if tracker else 0.0, progress.seconds, notes, list(est.history_))
    if run.rank != 0 or run.ckpt_path is None:
        return result
    from ._saved import save_model

    model_path = save_model(est, run.ckpt_path.parent.parent / filename)
    result.model_path = model_path
    if tracker is not None:
        try:
            tracker.log_artifact(model_path, "model")
            tracker.log_dict(run.ds.manifest, "dataset_manifest.json")
            tracker.log_dict({"device": progress.device, "history": est.history_, "notes": notes}, "training.json")
            if log_more is not None:
                log_more(tracker)
        except Exception as exc:  # the server may be away at the very end: the model stays in the workspace
            result.notes.append(f"artifacts not logged ({type(exc).__name__}: {exc}); the model is in {model_path}")
    return result


def _log_confusion(clf, items: "_Items", tracker) -> None:
    if len(items.val):
        pred = clf.predict(items.images[items.val])
        tracker.log_dict(_confusion(items.y_val, pred, clf.classes_), "confusion_matrix.json")


def _first(*values):
    return next(v for v in values if v is not None)


def _warn(notes: list[str], text: str) -> None:
    warnings.warn(text, TrainingWarning, stacklevel=3)
    notes.append(text)


def _snapshot_hash(ref: str) -> str:
    text = str(ref)
    if "@sha256:" in text:
        return text
    import pyarrow.parquet as pq

    meta = pq.read_schema(text).metadata or {}
    info = json.loads(meta.get(b"mlaas", b"{}"))
    return f"{info.get('dataset', '?')}@sha256:{info.get('sha256', '?')}"


def _confusion(y_true, y_pred, classes) -> dict:
    classes = [str(c) for c in classes]
    idx = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)):
        if t in idx:
            m[idx[t], idx[p]] += 1
    return {"classes": classes, "matrix": m.tolist(), "rows": "true label", "columns": "predicted label"}
