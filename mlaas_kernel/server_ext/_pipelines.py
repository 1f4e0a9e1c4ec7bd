"""The overview's pipelines: recent pipeline runs (``mlaas_kernel.pipelines.list_runs``: run.json, a dead
pid's ``running`` read as ``interrupted``), their progress and the notebook to open."""

from __future__ import annotations

from pathlib import Path

from ._common import lab_path

MAX_RUNS = 20
DONE = ("succeeded", "cached")


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


def _named(steps: dict, status: str) -> list[str]:
    return [name for name, s in steps.items() if s.get("status") == status]


def _row(run: dict, ws: Path, root_dir: Path) -> dict:
    """One run: ``running_steps`` every step running now (parallel workers), ``unavailable`` the steps this
    machine cannot run ({step: reason}, e.g. TensorRT without a GPU), ``running_step`` the first running one."""
    steps = run.get("steps") or {}
    failed, running = _named(steps, "failed"), _named(steps, "running")
    unavailable = {name: steps[name].get("reason") for name in _named(steps, "unavailable")}
    return {"pipeline": run.get("pipeline"), "run": run.get("run"), "status": run.get("status"),
            "failed_step": failed[0] if failed else None, "running_step": running[0] if running else None,
            "running_steps": running, "unavailable": unavailable, "steps_unavailable": len(unavailable),
            "steps_done": sum(s.get("status") in DONE for s in steps.values()), "steps_total": len(steps),
            "started": run.get("started"), "ended": run.get("ended"), "mlflow_run_id": run.get("mlflow_run_id"),
            "open": _opens(run, ws, root_dir)}


def pipelines(ws: Path, *, root_dir: Path) -> tuple[list[dict], None]:
    """The pipelines section, newest first (a run.json being written or damaged is left out by list_runs)."""
    if not (ws / "pipelines").is_dir():
        return [], None
    from ..pipelines import list_runs

    return [_row(r, ws, root_dir) for r in list_runs(workspace_dir=ws, limit=MAX_RUNS)], None
