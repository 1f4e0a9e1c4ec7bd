"""The overview's pipelines: recent pipeline runs (``run.json``), their progress and the notebook to open."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._common import lab_path

MAX_RUNS = 20
DONE = ("succeeded", "cached")


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def _read_runs(ws: Path) -> tuple[list[dict], list[str]]:
    """run.json files as the engine writes them, newest first (until ``mlaas_kernel.pipelines.list_runs`` exists)."""
    found, errors = [], []
    for path in (ws / "pipelines").glob("*/*/run.json"):
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            errors.append(f"{path}: {exc}")
            continue
        if run.get("status") == "running" and not _alive(run.get("pid")):
            run["status"] = "interrupted"
        found.append(run)
    return sorted(found, key=lambda r: str(r.get("run", "")), reverse=True), errors


def _list_runs(ws: Path) -> tuple[list[dict], list[str]]:
    try:
        from ..pipelines import list_runs
    except ImportError:
        return _read_runs(ws)
    return list_runs(workspace_dir=ws), []


def _opens(run: dict, ws: Path, root_dir: Path) -> str | None:
    """The failed step's executed notebook, else the running one's, else the last one written."""
    steps = run.get("steps") or {}
    folder = ws / "pipelines" / str(run.get("pipeline")) / str(run.get("run"))
    for wanted in ("failed", "running", None):
        for name, step in reversed(list(steps.items())):
            nb = folder / (step.get("output_notebook") or f"{name}.ipynb")
            if (wanted is None or step.get("status") == wanted) and nb.is_file():
                return lab_path(nb, root_dir)
    return None


def _row(run: dict, ws: Path, root_dir: Path) -> dict:
    steps = run.get("steps") or {}
    failed = [name for name, s in steps.items() if s.get("status") == "failed"]
    running = [name for name, s in steps.items() if s.get("status") == "running"]
    return {"pipeline": run.get("pipeline"), "run": run.get("run"), "status": run.get("status"),
            "failed_step": failed[0] if failed else None, "running_step": running[0] if running else None,
            "steps_done": sum(s.get("status") in DONE for s in steps.values()), "steps_total": len(steps),
            "started": run.get("started"), "ended": run.get("ended"), "mlflow_run_id": run.get("mlflow_run_id"),
            "open": _opens(run, ws, root_dir)}


def pipelines(ws: Path, *, root_dir: Path) -> tuple[list[dict], str | None]:
    """The pipelines section (newest first) and its error: unreadable run.json files are named there."""
    if not (ws / "pipelines").is_dir():
        return [], None
    found, errors = _list_runs(ws)
    return [_row(r, ws, root_dir) for r in found[:MAX_RUNS]], "; ".join(errors) or None
