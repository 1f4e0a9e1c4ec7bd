"""Where runs go: the tracking URI, a quiet MLflow client, and the workspace's store made ahead of need.

Creating MLflow's SQLite store runs its schema migrations (seconds), and importing MLflow and
opening the store costs a new process seconds more. :func:`prepare` does both ahead of need, in a
background thread; :func:`prepare_store` makes the store alone in a separate process (for servers).
A store is made once per workspace, under a lock, into a temporary file renamed into place when
complete, so :func:`setup` waits for a preparation in flight instead of doing the work twice, and
never opens a half-made store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ._kind import KIND_TAG, TRAINING, mark_training, training_tags

_SETUP_DONE: dict[tuple[str, str], tuple[object, str]] = {}
_SETUP_LOCK = threading.Lock()
_WARMING: dict[tuple[str, str], threading.Thread] = {}
STORE_NAME = "mlflow.db"


_LAST_URI: list[str] = []  # the tracking URI this process used last (see forget_artifact_locations)
_URI_LOCK = threading.Lock()


def tracking_uri(workspace_dir: str | os.PathLike | None = None) -> str:
    """``$MLFLOW_TRACKING_URI``, else the workspace's ``sqlite:///.../mlflow.db``.

    When it differs from the URI this process used last, MLflow's cache of artifact locations by
    run id is emptied (:func:`forget_artifact_locations`).
    """
    from ..data import workspace

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{workspace(workspace_dir) / STORE_NAME}"
    with _URI_LOCK:
        if _LAST_URI != [uri]:
            if _LAST_URI:
                forget_artifact_locations()
            _LAST_URI[:] = [uri]
    return uri


def forget_artifact_locations() -> None:
    """Empty MLflow's process-wide cache of artifact repositories by run (and logged model) id.

    MLflow 3 (``mlflow.tracking._tracking_service.utils._artifact_repos_cache``, filled by
    ``TrackingServiceClient._get_artifact_repo``) keeps each run id's artifact location for the
    life of the process, whatever store the run was read from. A run id that lives in two stores
    (a copied or restored workspace, or another workspace opened in the same kernel) would then
    read and write its artifacts in the first store's folder.
    """
    utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
    cache = getattr(utils, "_artifact_repos_cache", None)
    if cache is not None:  # nothing is cached before MLflow is imported
        cache.clear()


def quiet_mlflow() -> None:
    """MLflow's and alembic's INFO lines (store creation, migrations) and artifact progress bars off; warnings stay.

    ``MLFLOW_LOGGING_LEVEL``, when the user sets it, wins.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm bar per artifact download
    if "MLFLOW_LOGGING_LEVEL" in os.environ and os.environ["MLFLOW_LOGGING_LEVEL"] != "WARNING":
        return
    os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"  # read by MLflow when it is first imported
    for name in ("mlflow", "alembic"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


@contextlib.contextmanager
def _store_lock(root: Path):
    """An exclusive lock on the workspace's store creation (released if its holder dies)."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".mlflow.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _mark_default(store) -> None:
    """MLflow's "Default" experiment (made by the migrations) is a model-training one too (see ``_kind``)."""
    from mlflow.entities import ExperimentTag

    default = store.get_experiment_by_name("Default")
    if default is not None and not default.tags.get(KIND_TAG):
        store.set_experiment_tag(default.experiment_id, ExperimentTag(KIND_TAG, TRAINING))


def _create_store(root: Path) -> None:
    """Make ``root/mlflow.db`` with MLflow's schema, complete or not at all."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    final = root / STORE_NAME
    tmp = root / f".{STORE_NAME}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        store = SqlAlchemyStore(f"sqlite:///{tmp}", (root / "mlartifacts").as_uri())  # runs the migrations
        _mark_default(store)
        store.engine.dispose()  # no connection left on the file we rename
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_store(workspace_dir: str | os.PathLike | None = None) -> bool:
    """Create the workspace's embedded store unless it exists; True when this call made it."""
    from ..data import workspace

    quiet_mlflow()
    root = workspace(workspace_dir)
    if (root / STORE_NAME).exists():
        return False
    with _store_lock(root):
        if (root / STORE_NAME).exists():  # made while we waited for the lock
            return False
        for stale in root.glob(f".{STORE_NAME}.*.tmp"):  # left by a preparation that was killed
            stale.unlink(missing_ok=True)
        _create_store(root)
        return True


def prepare(workspace_dir: str | os.PathLike | None = None, *, experiment: str = "mlaas", background: bool = True):
    """Make tracking ready ahead of the first tracked run: the workspace's MLflow store (made once)
    and this process's client on it (MLflow imported, store opened, experiment found).

    With ``background`` (the default) a thread does it and the caller goes on at once (ingesting
    data, importing torch); the first run's :func:`setup` then waits for that thread instead of
    doing the work twice. Returns the thread, or ``None`` when there is nothing to do.
    """
    from ..data import workspace

    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    root = workspace(workspace_dir)
    if not background:
        setup(experiment, workspace_dir=root)
        return None
    key = (tracking_uri(root), experiment)

    def warm() -> None:
        try:
            setup(experiment, workspace_dir=root)
        except Exception:  # the run's own setup() meets the same error and reports it
            pass
        finally:
            with _SETUP_LOCK:
                _WARMING.pop(key, None)

    with _SETUP_LOCK:
        if key in _SETUP_DONE or key in _WARMING:  # ready, or being readied
            return None
        _WARMING[key] = thread = threading.Thread(target=warm, name="mlaas-track-prepare", daemon=True)
    thread.start()
    return thread


def prepare_store(workspace_dir: str | os.PathLike | None = None):
    """Create the workspace's store in a separate process (for servers such as ``mlaas lab``, which
    should not import MLflow themselves); returns the process, or ``None`` when the store exists."""
    from ..data import workspace

    root = workspace(workspace_dir)
    if os.environ.get("MLFLOW_TRACKING_URI") or (root / STORE_NAME).exists():
        return None
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    return subprocess.Popen([sys.executable, "-m", "mlaas_kernel.track", "prepare", str(root)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def setup(experiment: str = "mlaas", *, workspace_dir: str | os.PathLike | None = None):
    """An MLflow client on :func:`tracking_uri` and the experiment's id (created with its
    artifacts in the workspace's ``mlartifacts/`` when the store is the embedded one)."""
    quiet_mlflow()
    from ..data import workspace

    uri = tracking_uri(workspace_dir)
    key = (uri, experiment)
    with _SETUP_LOCK:
        warming = _WARMING.get(key)
    if warming is not None and warming is not threading.current_thread():
        warming.join()  # prepare() is readying this very client: wait for it rather than do it twice
    with _SETUP_LOCK:
        if key in _SETUP_DONE:
            return _SETUP_DONE[key]
    if uri.startswith("http"):
        # fail fast: the Tracker keeps metrics itself when the server is away
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    elif uri == f"sqlite:///{workspace(workspace_dir) / STORE_NAME}":
        ensure_store(workspace_dir)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        location = None if uri.startswith("http") else (workspace(workspace_dir) / "mlartifacts").as_uri()
        try:
            exp_id = client.create_experiment(experiment, artifact_location=location, tags=training_tags())
        except Exception:  # another process created it meanwhile
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    else:
        exp_id = exp.experiment_id
    if exp is not None:  # made before experiments carried their kind (an older workspace), or by someone else
        _mark_training(client, exp)
    if not uri.startswith("http"):  # a server may lose its experiments when restarted: ask again there
        with _SETUP_LOCK:
            _SETUP_DONE[key] = (client, exp_id)
    return client, exp_id


def _mark_training(client, exp) -> None:
    """Tag an existing experiment as model training (see ``_kind``); a store that refuses the write
    (a server's permissions) costs the UI its kind, not the run."""
    from mlflow.exceptions import MlflowException

    try:
        mark_training(client, exp.experiment_id, exp.tags)
    except MlflowException as exc:
        logging.getLogger(__name__).warning("could not tag experiment %r as model training: %s", exp.name, exc)


def main(argv: list[str] | None = None) -> int:
    """``python -m mlaas_kernel.track prepare WORKSPACE``: what :func:`prepare` runs in the background."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m mlaas_kernel.track")
    p.add_argument("command", choices=["prepare"])
    p.add_argument("workspace")
    args = p.parse_args(argv)
    t = time.perf_counter()
    made = ensure_store(args.workspace)
    setup(workspace_dir=args.workspace)  # the default experiment too
    print(f"MLflow store {'created' if made else 'already there'} in {time.perf_counter() - t:.2f} s")
    return 0
