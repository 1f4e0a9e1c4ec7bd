"""Where studies live: one SQLite file in WAL mode under ``workspace/optuna/``, shared by worker processes.

Optuna's RDB storage on SQLite in WAL mode was chosen over its journal file storage. With two
worker processes of a trivial objective on 2 busy cores (``bench/tune.py``), the journal ran
41-212 trials/s and SQLite WAL 27-72 (with or without heartbeats); a CNN trial takes seconds, so
both are far beyond need. What decides: in Optuna 5.0 only the RDB storage records heartbeats, so
a worker killed mid-trial leaves that trial FAIL (not RUNNING forever) through Optuna itself; the
journal storage has no heartbeat. The same code takes PostgreSQL through ``$MLAAS_OPTUNA_STORAGE``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

STORE_NAME = "studies.db"
HEARTBEAT_SECONDS = 5  # a live worker's trial is marked alive this often
GRACE_SECONDS = 20  # a RUNNING trial silent this long belongs to a dead worker: FAIL


class TuneError(ValueError):
    """Bad input to a study: an unknown study, a search space that does not fit, a bad override."""


def storage_path(workspace_dir: str | os.PathLike | None = None) -> Path:
    """``workspace/optuna/studies.db``, the file every study of the workspace is kept in."""
    from ..data import workspace

    return workspace(workspace_dir) / "optuna" / STORE_NAME


def storage_url(workspace_dir: str | os.PathLike | None = None) -> str:
    """The SQLAlchemy URL of the workspace's study storage (``$MLAAS_OPTUNA_STORAGE`` wins: e.g. PostgreSQL)."""
    return os.environ.get("MLAAS_OPTUNA_STORAGE") or f"sqlite:///{storage_path(workspace_dir)}"


def _wal(path: Path) -> None:
    """Switch the SQLite file to WAL (kept in the file: readers never block the writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _on_stale_trial(study, trial) -> None:
    """A dead worker's trial is FAIL in the study: end its MLflow run FAILED too."""
    from ._trials import end_stale_run

    end_stale_run(study, trial)


def storage(workspace_dir: str | os.PathLike | None = None, *, heartbeat: bool = True, url: str | None = None):
    """The Optuna RDB storage of the workspace, with heartbeats (``heartbeat=False``: a reader, e.g. the progress bar)."""
    url = url or storage_url(workspace_dir)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        _wal(path)
        with _lock(path):  # two processes making the tables at once: one gets "table studies already exists"
            return _rdb(url, heartbeat)
    return _rdb(url, heartbeat)


@contextlib.contextmanager
def _lock(path: Path):
    import fcntl

    with open(path.with_name(f".{path.name}.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _rdb(url: str, heartbeat: bool):
    import warnings

    import optuna

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    hb = {"heartbeat_interval": HEARTBEAT_SECONDS, "grace_period": GRACE_SECONDS,
          "heartbeat_stale_trial_callback": _on_stale_trial} if heartbeat else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **hb)


def journal_storage(path: str | os.PathLike):
    """Optuna's journal file storage on ``path`` (what ``bench/tune.py --storage`` compares with)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = str(path)
    return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
