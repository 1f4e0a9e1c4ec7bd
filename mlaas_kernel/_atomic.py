"""One way to write a file so that readers see the old version or the new one, never half."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def _create_beside(path: Path) -> Path:
    """A new, empty file next to ``path``, created like ``open(..., "w")`` would: mode 0666 less the umask.

    (``tempfile.mkstemp`` makes 0600 files whatever the umask, which would leave exports and
    snapshots unreadable by the teammates the umask lets in.)
    """
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` for a temporary file beside ``path``, flush it to disk, then rename it to ``path``.

    The file gets the mode any new file gets (0666 less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
