"""Run records: ``workspace/pipelines/<name>/<run>/run.json``, written atomically, read back with
the status of a run whose process died corrected to ``interrupted``."""

from __future__ import annotations

import datetime as _dt
import json
import secrets
from pathlib import Path

from ._spec import PipelineError

RUN_FILE = "run.json"
STEP_STATES = ("pending", "running", "succeeded", "cached", "failed", "skipped", "unavailable")
DONE = ("succeeded", "cached")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """``YYYYMMDD-HHMMSS-xxxx`` (UTC): ids sort by time."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def pipelines_root(workspace_dir=None) -> Path:
    from ..data import workspace

    return workspace(workspace_dir) / "pipelines"


def write_run(folder: Path, record: dict) -> None:
    """``run.json`` in ``folder``, replaced atomically (readers see the old one or the new one)."""
    from .._atomic import atomic_write

    text = json.dumps(record, indent=1, default=str)
    atomic_write(folder / RUN_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _alive(pid) -> bool:
    import psutil  # jupyter's own dependency: the kernel manager needs it

    try:
        return psutil.pid_exists(int(pid))
    except (TypeError, ValueError):
        return False


def read_run(folder: Path) -> dict:
    record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    if record.get("status") == "running" and not _alive(record.get("pid")):
        record["status"] = "interrupted"
    return record


def list_runs(name: str | None = None, *, workspace_dir=None, limit: int | None = None) -> list[dict]:
    """Every pipeline run's record (of pipeline ``name`` only, when given), newest first; the newest ``limit`` only,
    when given (only those are read: run ids, the folders' names, sort by time)."""
    root = pipelines_root(workspace_dir)
    folders = [root / name] if name else [p for p in root.glob("*") if p.is_dir()]
    files = sorted((run for folder in folders for run in folder.glob(f"*/{RUN_FILE}")), key=lambda f: f.parent.name, reverse=True)
    records = []
    for run in files:
        if limit is not None and len(records) >= limit:
            break
        try:
            records.append(read_run(run.parent))
        except (OSError, ValueError):
            continue  # a run folder being created, or damaged: not a run to list
    return records


def load_run(ref: str, *, workspace_dir=None) -> dict:
    """A run's record by ``NAME/RUN``, ``NAME/last``, a run id or a unique prefix of one."""
    name, _, run = ref.rpartition("/") if "/" in ref else (None, "", ref)
    runs = list_runs(name or None, workspace_dir=workspace_dir)
    if run == "last":
        if not runs:
            raise PipelineError(f"{ref}: pipeline {name!r} has no runs yet (mlaas pipeline run {name})")
        return runs[0]
    hits = [r for r in runs if r.get("run", "").startswith(run)]
    exact = [r for r in hits if r.get("run") == run]
    if len(exact) == 1 or len(hits) == 1:
        return (exact or hits)[0]
    if not hits:
        recent = ", ".join(f"{r['pipeline']}/{r['run']}" for r in runs[:5]) or "(none)"
        raise PipelineError(f"{ref}: no such pipeline run; recent runs: {recent}")
    raise PipelineError(f"{ref}: matches {len(hits)} runs ({', '.join(r['pipeline'] + '/' + r['run'] for r in hits[:5])}): give more of the id")


def run_folder(record: dict, workspace_dir=None) -> Path:
    return pipelines_root(workspace_dir) / record["pipeline"] / record["run"]
