"""MLflow's global tracking URI, pointed at the workspace while a fluent MLflow call runs; loading a version's model."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def fluent_uri(workspace_dir: str | os.PathLike | None = None):
    """MLflow's global tracking URI on the workspace's store for a while, then back as it was.

    MLflow's fluent functions (``mlflow.onnx.log_model``, ``mlflow.pyfunc.load_model("models:/...")``)
    and even ``MlflowClient.create_model_version`` read the global URI, which by default is a
    ``mlflow.db`` in the current folder. ``set_tracking_uri`` also writes $MLFLOW_TRACKING_URI,
    which is put back too.
    """
    from mlflow.tracking._tracking_service import utils

    from ..track import tracking_uri

    uri = tracking_uri(workspace_dir)
    before, env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    utils.set_tracking_uri(uri)
    try:
        yield
    finally:
        utils.set_tracking_uri(before)
        if env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env


def load_pyfunc(ref, *, workspace_dir: str | os.PathLike | None = None):
    """``mlflow.pyfunc.load_model`` of the version ``ref`` names (its ONNX model: ``predict(x)`` gives
    ``{"probabilities": ...}`` for a classifier)."""
    import mlflow.pyfunc

    from ._versions import resolve

    version = resolve(ref, workspace_dir=workspace_dir)
    with fluent_uri(workspace_dir):
        return mlflow.pyfunc.load_model(version.uri)


def download_model(ref, dst: str | os.PathLike, *, workspace_dir: str | os.PathLike | None = None) -> Path:
    """The MLflow model folder of the version ``ref`` names (``MLmodel``, ``model.onnx``, ``extra_files/serving.json``)
    downloaded into ``dst``; returns the folder."""
    import mlflow.artifacts

    from ._versions import resolve

    version = resolve(ref, workspace_dir=workspace_dir)
    Path(dst).mkdir(parents=True, exist_ok=True)
    with fluent_uri(workspace_dir):
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(dst)))
