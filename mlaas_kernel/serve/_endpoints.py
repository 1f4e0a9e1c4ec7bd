"""The running-endpoint files: ``workspace/serving/endpoints/<name>@<alias>.json`` (url, pid, version) while a server runs.

The playground and ``mlaas predict NAME@ALIAS`` find a running endpoint through them; a file whose
process is gone is stale and ignored (and removed).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

__all__ = ["endpoint_file", "find_endpoint", "remove_endpoint", "split_ref", "write_endpoint"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def split_ref(ref: str) -> tuple[str, str | None, int | None]:
    """``NAME@ALIAS`` / ``NAME/VERSION`` / ``NAME`` as (name, alias, version); NAME alone means ``@champion``."""
    try:
        from ..registry import parse_ref
    except ImportError:
        parse_ref = None
    if parse_ref is not None:
        r = parse_ref(ref)
        return r.name, r.alias, r.version
    text = str(ref).strip()
    name, alias, version = text, None, None
    if "@" in text:
        name, alias = text.split("@", 1)
    elif "/" in text:
        name, number = text.rsplit("/", 1)
        if not number.isdigit():
            raise ValueError(f"model reference {ref!r}: the version after '/' must be a number")
        version = int(number)
    else:
        alias = "champion"
    if not _NAME.match(name) or (alias is not None and not _NAME.match(alias)):
        raise ValueError(f"model reference {ref!r} is not NAME@ALIAS, NAME/VERSION or NAME")
    return name, alias, version


def _key(ref: str) -> str:
    name, alias, version = split_ref(ref)
    return f"{name}@{alias}" if alias else f"{name}@version-{version}"


def endpoint_file(ref: str, *, workspace_dir=None) -> Path:
    from ..data import workspace

    return workspace(workspace_dir) / "serving" / "endpoints" / f"{_key(ref)}.json"


def write_endpoint(ref: str, *, url: str, version, pid: int | None = None, workspace_dir=None) -> Path:
    """Record (atomically) that ``ref`` is served at ``url`` by this process (or ``pid``), answering with ``version``."""
    from .._atomic import atomic_write

    path = endpoint_file(ref, workspace_dir=workspace_dir)
    record = {"ref": _key(ref), "url": url, "pid": pid or os.getpid(), "version": version}
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record)))
    return path


def remove_endpoint(ref: str, *, workspace_dir=None, pid: int | None = None) -> None:
    """Remove ``ref``'s endpoint file if this process (or ``pid``) wrote it."""
    path = endpoint_file(ref, workspace_dir=workspace_dir)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if record.get("pid") == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def find_endpoint(ref: str, *, workspace_dir=None) -> dict | None:
    """The running endpoint's record for ``ref`` (url, pid, version), or None when none runs."""
    path = endpoint_file(ref, workspace_dir=workspace_dir)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(record.get("pid")):
        path.unlink(missing_ok=True)
        return None
    return record
