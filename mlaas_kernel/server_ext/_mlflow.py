"""One MLflow client for the server, made once: read-only on the workspace's SQLite store."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import quote

# MLflow 3's UI opens in its GenAI view unless the URL asks for "Model training" (it reads this before its localStorage)
TRAINING_VIEW = "?workflowType=machine_learning"
_CLIENTS: dict[str, object] = {}
_LOCK = threading.Lock()


def store_uri(ws: Path) -> str | None:
    """The tracking URI the workbench uses (``$MLFLOW_TRACKING_URI`` wins); None when the workspace has no store yet."""
    from ..track._store import STORE_NAME

    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{ws / STORE_NAME}" if (ws / STORE_NAME).is_file() else None


def store_files(ws: Path) -> tuple[Path, ...]:
    """The files whose change means new runs, metrics or versions (the embedded store)."""
    from ..track._store import STORE_NAME

    return (ws / STORE_NAME, ws / f"{STORE_NAME}-wal", ws / f"{STORE_NAME}-journal")


def client(uri: str):
    """An MlflowClient on ``uri``, cached; a ``sqlite:///`` store is opened read-only
    (``mode=ro``: a sidebar's poll can never write to, or lock out, a training run's store)."""
    with _LOCK:
        if uri not in _CLIENTS:
            from ..track._store import quiet_mlflow

            quiet_mlflow()
            from mlflow.tracking import MlflowClient

            # The path percent-encoded: MLflow makes the parent folder of what follows sqlite:/// (relative
            # to the cwd), which for a plain ``file:/path`` would be a folder named "file:" in Lab's root.
            read = f"sqlite:///file:{quote(uri.removeprefix('sqlite:///'), safe='')}?mode=ro&uri=true" if uri.startswith("sqlite:///") else uri
            _CLIENTS[uri] = MlflowClient(tracking_uri=read, registry_uri=read)
        return _CLIENTS[uri]


def ui_link(uri: str, fragment: str) -> str | None:
    """Where the MLflow UI shows ``fragment`` (``#/experiments/1/runs/R``): through Lab's proxy for
    the embedded store (``/mlflow/...``, relative to base_url), the server itself for an HTTP one."""
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/") + "/" + fragment
    return "/mlflow/" + fragment
