"""Train on an ingested image dataset, tracked: what ``mlaas train`` and the notebooks call."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._image import ImageClassifier, TrainingInputError


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
    epochs: int = 5,
    batch_size: int = 128,
    labels: str | None = None,
    resume: bool = False,
    track: bool = True,
    callbacks: Sequence[Any] = (),
    random_state: int = 0,
    device: str = "auto",
    compile: bool = False,
    max_lr: float = 3e-3,
    experiment: str = "mlaas",
    workspace_dir: str | os.PathLike | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train an :class:`ImageClassifier` on dataset ``name`` and track it in MLflow.

    ``labels`` names a label snapshot (a path or ``dataset@sha256:...``): training then uses the
    labeled items only, with the snapshot's labels, and records the snapshot's hash on the run.
    ``resume`` continues from the dataset's last checkpoint (same MLflow run).
    """
    import torch

    from .. import data
    from ..data import workspace
    from ..labels import load_snapshot

    ds = data.load(name, workspace_dir=workspace_dir)
    if ds.kind != "images":
        raise TrainingInputError(f"dataset {name!r} is a {ds.kind} dataset; train tables with TabularClassifier (notebook 04b)")
    images = ds.images()
    y_all = ds.labels()
    train_idx, val_idx = split_dataset(ds, random_state=random_state)
    tags: dict[str, str] = {"mlaas.dataset": ds.name, "mlaas.dataset.fingerprint": ds.manifest["fingerprint"]}
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
    root = workspace(workspace_dir) / "models" / ds.name
    ckpt_dir = root / "checkpoint"
    if not resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    if resume and not (ckpt_dir / "last.pt").exists():
        raise TrainingInputError(f"nothing to resume: no checkpoint in {ckpt_dir}")

    dist = torch.distributed if torch.distributed.is_available() and torch.distributed.is_initialized() else None
    rank = dist.get_rank() if dist else 0
    tracker = None
    all_callbacks = list(callbacks)
    if track and rank == 0:
        from ..track import Tracker

        tracker = Tracker(experiment=experiment, run_name=f"{ds.name}-cnn", tags=tags,
                          params={"dataset": ds.name, "train_items": len(train_idx), "val_items": len(val_idx),
                                  "world_size": dist.get_world_size() if dist else 1},
                          workspace_dir=workspace_dir)
        all_callbacks.insert(0, tracker)
    clf = ImageClassifier(epochs=epochs, batch_size=batch_size, max_lr=max_lr, device=device, compile=compile,
                          checkpoint_dir=str(ckpt_dir), resume=resume, callbacks=all_callbacks, random_state=random_state, verbose=verbose)
    clf.fit(images[train_idx], y_train, validation_data=(images[val_idx], y_all[val_idx]))
    progress = clf.progress_
    metrics = {k: float(v) for k, v in (clf.history_[-1] if clf.history_ else {}).items() if k != "epoch"}
    if "val_accuracy" in metrics:
        metrics["accuracy"] = metrics["val_accuracy"]
    result = TrainResult(tracker.run_id if tracker else clf.run_state_.get("mlflow_run_id"), metrics, None, progress.stopped,
                         len(clf.history_), tracker.seconds if tracker else 0.0, progress.seconds, notes)
    if rank != 0:
        return result
    out = root / (result.run_id or "untracked")
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.pt"
    torch.save({"state_dict": clf.model_.state_dict(), "classes": clf.classes_, "mean": clf.mean_, "std": clf.std_,
                "input_shape": clf.input_shape_, "width": clf.width}, model_path)
    result.model_path = model_path
    if tracker is not None:
        try:
            tracker.log_artifact(model_path, "model")
            tracker.log_dict(ds.manifest, "dataset_manifest.json")
            tracker.log_dict({"device": progress.device, "history": clf.history_, "notes": notes}, "training.json")
            pred = clf.predict(images[val_idx])
            tracker.log_dict(_confusion(y_all[val_idx], pred, clf.classes_), "confusion_matrix.json")
        except Exception as exc:  # the server may be away at the very end: the model stays in the workspace
            result.notes.append(f"artifacts not logged ({type(exc).__name__}: {exc}); the model is in {model_path}")
    return result


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
