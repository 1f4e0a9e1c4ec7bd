"""A tracked run's model, loaded by run id: what evaluation, conformal calibration and export start from.

``load_run_model(RUN)`` finds the run (a full MLflow run id or a unique prefix of one, or a
``runs:/RUN`` URI) and returns its model with the dataset it was trained on:

- a CNN (``train_dataset``): ``models/<dataset>/<run id>/model.pt`` in the workspace, or the run's
  ``model/model.pt`` artifact when the workspace copy is gone;
- a fitted estimator recorded by ``track.log_estimator`` (the run's ``model/model.pkl`` artifact);
- an embedding (``train_embedding``): ``models/<dataset>/<run id>/embedding.pt``, or the run's
  ``model/embedding.pt`` artifact (an :class:`~mlaas_kernel.train.EmbeddingNet`: ``transform``, kNN ``predict``).

A run with neither raises :class:`ModelNotFoundError`, naming the run and what it does hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["LOADERS", "LoadedModel", "ModelNotFoundError", "find_run", "load_run_model"]


class ModelNotFoundError(LookupError):
    """No such run, or a run without a usable model; the message says which."""


@dataclass
class LoadedModel:
    run_id: str
    kind: str  # "cnn", "estimator", or a kind another module registered in LOADERS
    model: Any
    dataset: str | None  # the run's mlaas.dataset tag
    run: Any  # the MLflow Run
    source: str  # where the model came from (a file path or an artifact path), for messages


def find_run(run: str, *, workspace_dir: str | os.PathLike | None = None):
    """The MLflow run ``run`` names: a run id, a unique prefix of one (8 characters or more), or ``runs:/ID``."""
    from .track import setup

    client, _ = setup(workspace_dir=workspace_dir)
    ref = str(run).removeprefix("runs:/").strip("/").split("/")[0]
    if not ref:
        raise ModelNotFoundError(f"{run!r} is not a run id")
    try:
        return client.get_run(ref)
    except Exception:
        pass
    matches = []
    if len(ref) >= 8:
        exps = [e.experiment_id for e in client.search_experiments()]
        matches = [r for r in client.search_runs(exps, max_results=5000) if r.info.run_id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ModelNotFoundError(f"run id prefix {ref!r} matches {len(matches)} runs: give more of it")
    raise ModelNotFoundError(f"no run {ref!r} in the tracking store (`mlaas mlflow` lists the runs; a prefix needs 8 characters or more)")


def _artifact(client, run_id: str, path: str) -> Path | None:
    try:
        names = {a.path for a in client.list_artifacts(run_id, path.rsplit("/", 1)[0])}
    except Exception:
        return None
    if path not in names:
        return None
    import tempfile

    return Path(client.download_artifacts(run_id, path, tempfile.mkdtemp(prefix="mlaas-model-")))


def _network_file(client, run, workspace_dir, filename: str) -> tuple[Any, str] | None:
    """A network written by mlaas train: ``models/<dataset>/<run id>/FILENAME``, or the run's ``model/FILENAME`` artifact."""
    from .data import workspace
    from .train import load_model

    dataset = run.data.tags.get("mlaas.dataset")
    local = workspace(workspace_dir) / "models" / str(dataset) / run.info.run_id / filename
    path = local if dataset and local.is_file() else _artifact(client, run.info.run_id, f"model/{filename}")
    return (load_model(path), str(path)) if path is not None else None


def _load_cnn(client, run, workspace_dir) -> tuple[Any, str] | None:
    return _network_file(client, run, workspace_dir, "model.pt")


def _load_embedding(client, run, workspace_dir) -> tuple[Any, str] | None:
    return _network_file(client, run, workspace_dir, "embedding.pt")


def _load_pickle(client, run, workspace_dir) -> tuple[Any, str] | None:
    import pickle

    path = _artifact(client, run.info.run_id, "model/model.pkl")
    return (pickle.loads(path.read_bytes()), str(path)) if path is not None else None


# kind -> loader(client, run, workspace_dir) returning (model, source) or None; tried in order.
LOADERS: dict[str, Callable] = {"cnn": _load_cnn, "estimator": _load_pickle, "embedding": _load_embedding}


def load_run_model(run: str, *, workspace_dir: str | os.PathLike | None = None, kinds: tuple[str, ...] | None = None) -> LoadedModel:
    """The model of run ``run`` (see the module's docstring); ``kinds`` limits which loaders are tried."""
    from .track import setup

    found = find_run(run, workspace_dir=workspace_dir)
    client, _ = setup(workspace_dir=workspace_dir)
    for kind, loader in LOADERS.items():
        if kinds is not None and kind not in kinds:
            continue
        got = loader(client, found, workspace_dir)
        if got is not None:
            return LoadedModel(found.info.run_id, kind, got[0], found.data.tags.get("mlaas.dataset"), found, got[1])
    try:
        held = sorted(a.path for a in client.list_artifacts(found.info.run_id)) or ["no artifacts"]
    except Exception:
        held = ["artifacts unreadable"]
    status = found.info.status
    raise ModelNotFoundError(f"run {found.info.run_id} ({found.info.run_name}, {status}) has no usable model "
                             f"(it holds: {', '.join(held)}); train one with `mlaas train` or notebook 04")
