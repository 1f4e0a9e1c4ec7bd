"""The scheduler: ready steps start (cached ones are copied), up to ``workers`` at once; a failure
skips its dependants while independent branches carry on; Ctrl-C stops every running step."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from . import _cache, _refs, _step
from ._dag import ancestors
from ._records import DONE, now, write_run
from ._requires import missing_requirement
from ._warnings import notebook_warnings

_BLOCKING = ("failed", "skipped", "unavailable")
_FINISHED = DONE + _BLOCKING


class Scheduler:
    def __init__(self, pipeline, record: dict, folder: Path, *, workers: int, force: bool, tracking, progress, workspace: Path):
        self.pipeline, self.record, self.folder = pipeline, record, folder
        self.workers, self.force, self.tracking, self.progress, self.workspace = workers, force, tracking, progress, workspace
        self.steps: dict[str, dict] = record["steps"]
        self.running: dict[str, _step.StepProcess] = {}
        self.finished: queue.Queue[str] = queue.Queue()
        self.run_ref = f"{record['pipeline']}/{record['run']}"
        self._t0: dict[str, float] = {}
        self.spares = _step.Spares()
        self.warm = False  # spares are started once a step has to run (a fully cached run needs none)

    # ------------------------------------------------------------------ bookkeeping
    def save(self) -> None:
        write_run(self.folder, self.record)

    def done_count(self) -> int:
        return sum(s["status"] not in ("pending", "running") for s in self.steps.values())

    def set_state(self, name: str, status: str, **fields) -> None:
        step = self.steps[name]
        step.update(status=status, **fields)
        if status not in ("pending", "running") and step.get("started") and not step.get("ended"):
            step["ended"] = now()
            step["seconds"] = round(time.monotonic() - self._t0.pop(name, time.monotonic()), 2)
        self.save()
        self.progress.changed(name, step, self.done_count())

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        """Run until no step can start and none is running; KeyboardInterrupt stops the running ones and re-raises."""
        try:
            while True:
                self._skip_blocked()
                for name in self._ready()[: max(0, self.workers - len(self.running))]:
                    self._start(name)
                self._skip_blocked()  # a step that just turned out unavailable blocks its dependants
                if self.warm:
                    waiting = sum(s["status"] == "pending" for s in self.steps.values())
                    self.spares.top_up(min(waiting, self.workers))
                if not self.running:
                    if self._ready():
                        continue  # cached or unavailable steps freed others
                    return
                try:
                    name = self.finished.get(timeout=0.5)
                except queue.Empty:
                    continue
                self._finish(name, self.running.pop(name))
        except KeyboardInterrupt:
            self._stop_all()
            self._clean_up_after_interrupt()
            raise
        finally:
            self.spares.close()

    def _clean_up_after_interrupt(self) -> None:
        """After Ctrl-C, the ``always`` steps (cleanups) with a step upstream that ran in this run (not one copied from
        the cache), one at a time (a tracking server a step started is stopped). A second Ctrl-C stops them too."""
        todo = [s for s in self.pipeline.order if self.pipeline.steps[s].always and self.steps[s]["status"] == "pending"
                and any(self.steps[a]["status"] == "succeeded" for a in ancestors(self.pipeline.deps, s))]
        if not todo:
            return
        self.progress.line(f"interrupted: running the cleanup step{'s' if len(todo) > 1 else ''} {', '.join(todo)} "
                           "(Ctrl-C again to skip)")
        try:
            for name in todo:
                self._start(name)
                while name in self.running:
                    try:
                        if self.finished.get(timeout=0.5) == name:
                            self._finish(name, self.running.pop(name))
                    except queue.Empty:
                        continue
        except KeyboardInterrupt:
            self._stop_all()

    def _ready(self) -> list[str]:
        """Pending steps whose dependencies succeeded (or, for an ``always`` step, finished whatever their status)."""
        return [s for s in self.pipeline.order if self.steps[s]["status"] == "pending"
                and all(self.steps[d]["status"] in (_FINISHED if self.pipeline.steps[s].always else DONE) for d in self.pipeline.deps[s])]

    def _skip_blocked(self) -> None:
        for name in self.pipeline.order:
            if self.steps[name]["status"] != "pending" or self.pipeline.steps[name].always:
                continue
            blockers = [d for d in sorted(self.pipeline.deps[name]) if self.steps[d]["status"] in _BLOCKING]
            if blockers:
                why = ", ".join(f"{d} {self.steps[d]['status']}" for d in blockers)
                self.set_state(name, "skipped", reason=f"needs {why}")

    # ------------------------------------------------------------------ one step
    def _start(self, name: str) -> None:
        spec = self.pipeline.steps[name]
        outputs = {d: self.steps[d].get("outputs") or {} for d in self.pipeline.deps[name]}
        step = self.steps[name]
        step.update(started=now(), ended=None, seconds=None, error=None, reason=None, cached_from=None, outputs={}, mlflow_runs=[],
                    warnings=[])
        self._t0[name] = time.monotonic()
        try:
            params, note = _parameters(self.pipeline, name, self.steps, self.record["parameters"], outputs)
        except _refs.RefError as exc:
            self.set_state(name, "failed", error={"cell": None, "ename": "ReferenceError", "evalue": str(exc), "source": "", "traceback": ""})
            return
        notebook = self.pipeline.notebook_path(name)
        upstream = {d: _cache.upstream_key(self.steps[d], fresh=self.pipeline.steps[d].fresh) for d in self.pipeline.deps[name]}
        key = _cache.cache_key(notebook, params, step=name, upstream=upstream)
        step.update(parameters=params, cache_key=key, reason=note)
        hit = None if self.force or spec.fresh else _cache.lookup(self.folder.parent, key)
        if hit is not None:
            _cache.copy_into(self.folder.parent, hit, self.folder, name, self.record["pipeline"])
            self.set_state(name, "cached", cached_from=f"{self.record['pipeline']}/{hit['run']}", outputs=hit.get("outputs") or {},
                           mlflow_runs=hit.get("mlflow_runs") or [], warnings=notebook_warnings(self.folder / f"{name}.ipynb"))
            return
        reason = missing_requirement(spec.requires)
        if reason:
            self.set_state(name, "unavailable", reason=reason)
            return
        worker = self.spares.take()  # it imports papermill while MLflow's run is made
        self.warm = True
        self.record["mlflow_run_id"] = self.tracking.wait()
        env = _step.step_env(workspace=self.workspace, outputs=self.folder / f"{name}.outputs.json", run_ref=self.run_ref, step=name,
                             mlflow_run=self.record.get("mlflow_run_id"))
        proc = _step.start(name, worker, notebook=notebook, parameters=params, folder=self.folder, cwd=self.pipeline.root,
                           timeout=spec.timeout, env=env)
        self.running[name] = proc
        threading.Thread(target=lambda: (proc.wait(), self.finished.put(name)), daemon=True, name=f"step-{name}").start()
        self.set_state(name, "running")

    def _finish(self, name: str, proc: _step.StepProcess) -> None:
        from ._outputs import read_outputs

        result = proc.outcome()
        step = self.steps[name]
        try:
            outputs = read_outputs(self.folder / f"{name}.outputs.json")
        except ValueError as exc:
            outputs, result = {}, {"status": "failed", "error": {"cell": None, "ename": "OutputsError", "evalue": str(exc)}}
        runs = self.tracking.step_runs(self.run_ref, name)
        step["warnings"] = notebook_warnings(self.folder / f"{name}.ipynb")
        if result["status"] == "succeeded":
            self.set_state(name, "succeeded", outputs=outputs, mlflow_runs=runs)
            if not self.pipeline.steps[name].fresh:  # a step that runs every time is never read from the cache
                    _cache.store(self.folder.parent, step["cache_key"], run=self.record["run"], step=name, outputs=outputs,
                             mlflow_runs=runs, seconds=step["seconds"])
        elif result["status"] == "interrupted":
            self.set_state(name, "pending", outputs=outputs, mlflow_runs=runs, reason="interrupted", ended=now())
        else:
            self.set_state(name, "failed", outputs=outputs, mlflow_runs=runs, error=result["error"])

    def _stop_all(self) -> None:
        for proc in list(self.running.values()):
            proc.stop()
        for name, proc in list(self.running.items()):
            self.running.pop(name)
            proc.outcome()
            self.set_state(name, "pending", reason="interrupted", ended=now())


def _parameters(pipeline, name: str, steps: dict, params: dict, outputs: dict) -> tuple[dict, str | None]:
    """The step's resolved parameters, and for an ``always`` step after unfinished ones, a note saying so."""
    spec = pipeline.steps[name]
    if not spec.always:
        return _refs.resolve(spec.parameters, params, outputs), None
    unfinished = sorted(d for d in pipeline.deps[name] if steps[d]["status"] not in DONE)
    resolved, left_out = _refs.resolve_available(spec.parameters, params, outputs, set(unfinished))
    if not unfinished:
        return resolved, None
    note = "runs after " + ", ".join(f"{d} {_as_said(steps[d])}" for d in unfinished)
    return resolved, note + (f"; notebook defaults for {', '.join(left_out)}" if left_out else "")


def _as_said(step: dict) -> str:
    """A dependency's state in an ``always`` step's note: a pending one was interrupted, or never started."""
    if step["status"] != "pending":
        return step["status"]
    return "interrupted" if step.get("reason") == "interrupted" else "not run"
