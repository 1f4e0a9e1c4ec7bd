"""A note of each tracked run for ``mlaas run``'s summary.

``mlaas run`` points ``MLAAS_RUN_RECORD`` at a JSON-lines file before papermill starts the
kernel (kernels inherit the environment); whoever ends a tracked run calls :func:`record`,
and ``mlaas run`` reads the lines back with :func:`read` once the notebook is done.
Outside ``mlaas run`` the variable is unset and :func:`record` does nothing.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

ENV = "MLAAS_RUN_RECORD"

__all__ = ["ENV", "read", "record"]


def _plain(value):
    """A metric value JSON can carry: floats stay floats, NaN and infinities become None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def record(run_id: str, *, status: str, metrics: dict | None = None, experiment: str | None = None) -> None:
    """Append one line for run ``run_id`` to the file named by ``MLAAS_RUN_RECORD``, if set.

    ``status`` is the run's final status (``FINISHED``, ``FAILED``, ``KILLED``...), ``metrics``
    the last value of each metric, ``experiment`` the experiment's name. Never raises: a
    summary must not break the run it describes.
    """
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        line = json.dumps({
            "run_id": str(run_id), "status": str(status), "experiment": experiment,
            "metrics": {str(k): _plain(v) for k, v in (metrics or {}).items()},
            "time": time.time(),
        }) + "\n"
        # One write on an O_APPEND descriptor: concurrent writers (DDP ranks) never interleave
        # inside a line of this size.
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
    except Exception:  # noqa: BLE001 - a summary line is never worth failing a run for
        pass


def read(path: str | os.PathLike) -> list[dict]:
    """The records in ``path`` in the order written; a missing file or a torn line is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and "run_id" in item:
            records.append(item)
    return records
