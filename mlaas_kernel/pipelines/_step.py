"""Step worker processes: started ahead of need (:class:`Spares`), handed a step, stopped kernel and all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from ._outputs import OUTPUTS_ENV


def _spawn() -> subprocess.Popen:
    # Its own session: a Ctrl-C in the terminal reaches the runner alone, which stops each step in order.
    return subprocess.Popen([sys.executable, "-m", "mlaas_kernel.pipelines._worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, text=True)


class Spares:
    """Idle workers that have imported papermill and wait for a job, so a step starts without that wait."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def top_up(self, count: int) -> None:
        self.procs = [p for p in self.procs if p.poll() is None]
        while len(self.procs) < count:
            self.procs.append(_spawn())

    def take(self) -> subprocess.Popen:
        self.procs = [p for p in self.procs if p.poll() is None]
        return self.procs.pop(0) if self.procs else _spawn()

    def close(self) -> None:
        """End the spares: they hold no kernel yet (one starts only with a job), so a kill is clean and does not wait."""
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            proc.wait()
            proc.stdin.close()
        self.procs = []


class StepProcess:
    """One running step: its worker process, and where its result will be."""

    def __init__(self, step: str, folder: Path, proc: subprocess.Popen, result: Path):
        self.step, self.folder, self.proc, self.result = step, folder, proc, result

    def wait(self) -> int:
        return self.proc.wait()

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM (the worker stops its kernel and writes its result), SIGKILL if it does not end in ``grace`` s."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass

    def outcome(self) -> dict:
        """The worker's result; a worker that died without one failed, and the log says why."""
        try:
            result = json.loads(self.result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = {"status": "failed", "error": {"cell": None, "ename": "WorkerDied", "source": "",
                                                    "evalue": f"the step's process ended with code {self.proc.returncode} "
                                                              f"and no result; see {self.folder / (self.step + '.log')}"}}
        self.result.unlink(missing_ok=True)
        return result


def step_env(*, workspace: Path, outputs: Path, run_ref: str, step: str, mlflow_run: str | None) -> dict:
    """The variables a step's kernel gets on top of the runner's environment (None: unset)."""
    return {"MLAAS_WORKSPACE": str(workspace), OUTPUTS_ENV: str(outputs), "MLAAS_PIPELINE_RUN": run_ref, "MLAAS_PIPELINE_STEP": step,
            "PYTHONUNBUFFERED": "1", "MLAAS_PIPELINE_MLFLOW_RUN": mlflow_run or None}


def start(step: str, proc: subprocess.Popen, *, notebook: Path, parameters: dict, folder: Path, cwd: Path, timeout: float | None,
          env: dict) -> StepProcess:
    """Hand ``step`` to worker ``proc``: its notebook executes into ``folder/<step>.ipynb``, its log is ``<step>.log``."""
    for suffix in (".ipynb", ".log", ".outputs.json"):
        (folder / f"{step}{suffix}").unlink(missing_ok=True)  # a resumed step starts clean
    result = folder / f".{step}.result.json"
    result.unlink(missing_ok=True)
    job = {"input": str(notebook), "output": str(folder / f"{step}.ipynb"), "parameters": parameters, "cwd": str(cwd),
           "timeout": timeout, "result": str(result), "log": str(folder / f"{step}.log"), "env": env}
    try:
        proc.stdin.write(json.dumps(job, default=str) + "\n")
        proc.stdin.close()
    except OSError:
        pass  # the worker died early: outcome() says so
    return StepProcess(step, folder, proc, result)
