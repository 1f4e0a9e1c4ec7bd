"""The workspace: one folder that holds all of the workbench's state."""

from __future__ import annotations

import os
import re
from pathlib import Path

SUBFOLDERS = ("datasets", "runs", "models", "tensorboard", "mlartifacts")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DataError(ValueError):
    """Bad input to ingestion: the message names the input and what is wrong with it."""


def workspace(path: str | os.PathLike | None = None, *, create: bool = True) -> Path:
    """The workspace folder: ``path``, else ``$MLAAS_WORKSPACE``, else ``./workspace``.

    It is created, with its sub-folders, on first use unless ``create`` is false.
    """
    root = Path(path or os.environ.get("MLAAS_WORKSPACE") or "workspace").expanduser().absolute()
    if create:
        for sub in SUBFOLDERS:
            (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe dataset name, else raise :class:`DataError`."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise DataError(
            f"dataset name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (a name with '/' or '..' would escape the workspace)"
        )
    return name
