"""``run_pipeline``: a new run or a resumed one, its record, tracking and signals around the scheduler."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

from ._mlflow import PipelineTracking
from ._params import apply_overrides, check_notebooks
from ._progress import Progress
from ._records import DONE, RUN_FILE, load_run, new_run_id, now, run_folder, write_run
from ._scheduler import Scheduler
from ._spec import PipelineError, load_pipeline


def _new_record(pipeline, params: dict) -> dict:
    return {"pipeline": pipeline.name, "run": new_run_id(), "status": "running", "started": now(), "ended": None,
            "parameters": params, "mlflow_run_id": None, "resumed_from": None, "missing": list(pipeline.missing),
            "pid": os.getpid(), "steps": {s: _fresh_step(pipeline, s) for s in pipeline.order}}


def _fresh_step(pipeline, name: str) -> dict:
    spec = pipeline.steps[name]
    return {"status": "pending", "notebook": spec.notebook, "output_notebook": f"{name}.ipynb", "parameters": dict(spec.parameters),
            "needs": sorted(pipeline.deps[name]), "outputs": {}, "started": None, "ended": None, "seconds": None, "cache_key": None,
            "cached_from": None, "mlflow_runs": [], "warnings": [], "error": None, "reason": None}


def _resumed_record(pipeline, resume: str, overrides, workspace_dir) -> dict:
    record = load_run(f"{pipeline.name}/{resume}", workspace_dir=workspace_dir)
    if record["status"] == "running":
        raise PipelineError(f"{pipeline.name}/{record['run']} is still running (pid {record.get('pid')}): wait for it or stop it first")
    before = record.get("parameters", {})  # a parameter the spec no longer declares is dropped, a new one has its default
    params = apply_overrides(pipeline, {k: before.get(k, v) for k, v in pipeline.parameters.items()}, overrides)
    old, previous = record.get("steps", {}), record["status"]
    record.update(parameters=params, status="running", ended=None, pid=os.getpid(), missing=list(pipeline.missing),
                  resumed_from=f"{pipeline.name}/{record['run']}")
    record.setdefault("resumes", []).append({"at": now(), "previous_status": previous})
    record.pop("status_note", None)
    # Steps that succeeded (or came from the cache) keep their results; the others start again, and so do
    # the ones that run every time (cache: false, always: true): a tracking server a cleanup step stopped.
    record["steps"] = {name: (old[name] if old.get(name, {}).get("status") in DONE and not pipeline.steps[name].fresh
                              else _fresh_step(pipeline, name)) for name in pipeline.order}
    return record


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a run like Ctrl-C does (only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _final_status(record: dict) -> tuple[str, str | None]:
    steps = record["steps"]
    if any(s["status"] == "failed" for s in steps.values()):
        return "failed", None
    not_run = [n for n, s in steps.items() if s["status"] in ("unavailable", "skipped")]
    if not_run:
        unavailable = [n for n in not_run if steps[n]["status"] == "unavailable"]
        return "succeeded", f"did not run: {', '.join(not_run)} ({', '.join(unavailable)} unavailable on this machine)"
    return "succeeded", None


def run_pipeline(name: str, *, params=None, resume: str | None = None, force: bool = False, workers: int | None = None,
                 workspace_dir=None, progress: bool = True, track: bool = True) -> dict:
    """Run pipeline ``name`` (or resume run ``resume``, an id, a prefix or ``last``); returns the final run.json.

    ``params`` overrides pipeline parameters (a mapping or ``(NAME, VALUE)`` pairs; text parses as YAML);
    ``force`` runs every step even when cached; ``workers`` bounds the steps run at once (default: the
    cores); ``progress`` prints a line per step state change and a summary; ``track`` makes the MLflow run.
    A KeyboardInterrupt (or SIGTERM) stops the running steps, records the run as ``interrupted`` and re-raises.
    """
    from ..data import workspace

    pipeline = load_pipeline(name)
    if workers is not None and workers < 1:
        raise PipelineError(f"workers must be at least 1 (got {workers})")
    record = (_resumed_record(pipeline, resume, params, workspace_dir) if resume
              else _new_record(pipeline, apply_overrides(pipeline, pipeline.parameters, params)))
    check_notebooks(pipeline)
    folder = run_folder(record, workspace_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_run(folder, record)
    tracking = PipelineTracking(enabled=track, workspace_dir=workspace_dir)
    shown = Progress(list(pipeline.order), quiet=not progress)
    scheduler = Scheduler(pipeline, record, folder, workers=workers or os.cpu_count() or 1, force=force, tracking=tracking,
                          progress=shown, workspace=workspace(workspace_dir))
    started = time.monotonic()
    try:
        with _sigterm_as_interrupt():
            shown.line(f"pipeline {pipeline.name} run {record['run']}{' (resumed)' if resume else ''}: {len(pipeline.order)} steps, "
                       f"parameters {record['parameters']}")
            # MLflow opens its store while cached steps are copied and the first workers import papermill.
            tracking.start_in_background(pipeline=pipeline.name, run=record["run"], params=record["parameters"],
                                         description=pipeline.description, existing=record.get("mlflow_run_id"))
            scheduler.run()
        record["status"], record["status_note"] = _final_status(record)
    except KeyboardInterrupt as exc:
        record["status"], record["status_note"] = "interrupted", "stopped by the user: resume with --resume " + record["run"]
        exc.pipeline_run = record["run"]  # the CLI's hint names this run, not "last" (another run may start meanwhile)
        raise
    finally:
        scheduler.spares.close()
        record["mlflow_run_id"] = tracking.wait() or record.get("mlflow_run_id")
        record.update(ended=now(), seconds=round(time.monotonic() - started, 2))
        write_run(folder, record)
        tracking.finish(record["status"], folder / RUN_FILE)
        shown.summary(record, folder)
    return record
