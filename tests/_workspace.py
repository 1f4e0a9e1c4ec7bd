"""Workspaces for the tests: one per module (made fresh, or copied from a session's trained one).

Training and registering a CNN costs seconds of CPU per module; copying a workspace folder costs
a fraction of one. ``copy_workspace`` makes a copy that is a workspace of its own: SQLite files are
copied through SQLite's backup (their WAL content included), and every absolute path of the source
(MLflow's artifact locations, model sources) is rewritten to the copy's, so nothing the copy writes
lands in the source and nothing it reads comes from there.

A copy keeps its source's run and model ids, and MLflow caches each run's artifact repository by
id for the whole process (``mlflow.tracking._tracking_service.utils._artifact_repos_cache``): a
copy would write its artifacts into whichever workspace that id was first used in. So
``module_workspace`` empties that cache (``mlaas_kernel.track._store.forget_artifact_locations``) when a
module's workspace starts and when it ends.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from mlaas_kernel.track._store import forget_artifact_locations

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


@contextlib.contextmanager
def module_workspace(tmp_path_factory, name: str, datasets: tuple[str, ...] = (), *, copy_of: Path | None = None):
    """A workspace under ``tmp_path_factory`` (offline, its own MLflow store) for a module; yields its root.

    ``copy_of``: start from a copy of that workspace (``copy_workspace``); ``datasets``: ingest these
    (after the copy, when there is one).
    """
    from mlaas_kernel import data

    root = tmp_path_factory.mktemp(name) / "workspace"
    if copy_of is not None:
        copy_workspace(copy_of, root)
    forget_artifact_locations()
    try:
        with pytest.MonkeyPatch.context() as mp:
            use_workspace(mp, root)
            for dataset in datasets:
                data.ingest(dataset, progress=False)
            yield root
    finally:
        forget_artifact_locations()


def use_workspace(monkeypatch, root) -> None:
    """Point this process at workspace ``root``: offline, and its own MLflow store (no inherited tracking URI)."""
    monkeypatch.setenv("MLAAS_WORKSPACE", str(root))
    monkeypatch.setenv("MLAAS_OFFLINE", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def _copy_sqlite(src: Path, dst: Path, old: str, new: str) -> None:
    """``src`` into ``dst`` by SQLite's backup, then ``old`` replaced by ``new`` in every text value."""
    with contextlib.closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as source, \
            contextlib.closing(sqlite3.connect(dst)) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # the copy in one file; a store reopens it in its own mode
        tables = [r[0] for r in target.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            for column in [r[1] for r in target.execute(f'PRAGMA table_info("{table}")')]:
                target.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                               f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0', (old, new, old))
        target.commit()


def _copy_file(src: Path, dst: Path, old: str, new: str) -> None:
    raw = src.read_bytes()
    if old.encode() not in raw:
        shutil.copy2(src, dst)
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RuntimeError(f"{src}: a binary file holds the workspace's path {old}; a copy of it would point back there") from None
    dst.write_text(text.replace(old, new), encoding="utf-8")
    shutil.copystat(src, dst)


def copy_workspace(src: Path, dst: Path) -> Path:
    """Copy workspace ``src`` to ``dst`` (which must not exist) as a workspace of its own; returns ``dst``.

    Run it while nothing writes to ``src``. Raises RuntimeError when a file the copy cannot rewrite
    (a binary one) names ``src``.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise FileExistsError(f"{dst}: the copy's folder exists already")
    old, new = str(src), str(dst)
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if path.name.endswith(".lock") or any(path.name.endswith(s) for s in _SQLITE_SIDECARS):
            continue  # lock files are per process; WAL and journal content comes with the backup
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_sqlite(path):
            _copy_sqlite(path, target, old, new)
        else:
            _copy_file(path, target, old, new)
    return dst
