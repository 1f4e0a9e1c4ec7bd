"""What the overview's sections share: where the workspace is, paths Lab opens, times, a small cache."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable


def workspace_root() -> Path:
    """The workspace the server reads: ``$MLAAS_WORKSPACE``, else ``./workspace`` (never created here)."""
    from ..data import workspace

    return workspace(create=False)


def lab_path(path: Path, root_dir: Path) -> str | None:
    """``path`` relative to the server's root_dir (what Lab opens as a document), or None outside it."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(root_dir))).as_posix()
    except ValueError:
        return None


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def describe(exc: BaseException) -> str:
    """An error as a sidebar shows it: its type and message."""
    return f"{type(exc).__name__}: {exc}"


def stat_key(*paths: Path) -> tuple:
    """Size and mtime of each file (None when missing): changes whenever SQLite commits a write."""
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


class Cached:
    """One value kept for ``ttl`` seconds, or while ``key()`` stays the same (at most ``hold`` seconds).

    A section read from MLflow is recomputed only when its SQLite file changed (or every ``hold``
    seconds at most); a sidebar polling every 5 s then costs a stat() and no query.
    """

    def __init__(self, compute: Callable[[], Any], *, ttl: float = 2.0, key: Callable[[], Any] | None = None, hold: float = 30.0):
        self.compute, self.ttl, self.key, self.hold = compute, ttl, key, hold
        self._lock = threading.Lock()
        self._value: Any = None
        self._at = -1e18
        self._key: Any = object()

    def get(self) -> Any:
        with self._lock:
            now = time.monotonic()
            key = self.key() if self.key else None
            fresh = now - self._at < (self.hold if self.key and key == self._key else self.ttl)
            if not fresh:
                self._value = self.compute()
                self._at, self._key = time.monotonic(), key
            return self._value
