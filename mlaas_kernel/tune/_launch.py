"""Starting N worker processes on one study, watching them, and failing at once the trial of one that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ._trials import FAIL, mark_run


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen
    log: Path
    reported: bool = False

    @property
    def id(self) -> str:
        import socket

        return f"{socket.gethostname()}:{self.proc.pid}"

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass
class LaunchReport:
    notes: list[str] = field(default_factory=list)
    failed_workers: int = 0
    interrupted: bool = False


def _cores(index: int, n: int) -> str:
    """The cores worker ``index`` of ``n`` runs on: an equal share of this process's cores (all of them if fewer than n)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if n <= 1 or len(cores) < n:
        return ""
    share = len(cores) // n
    return ",".join(map(str, cores[index * share:(index + 1) * share]))


def start_workers(name: str, n: int, *, until: int, deadline: float, workspace_dir) -> list[Worker]:
    logs = Path(workspace_dir) / "optuna" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLAAS_WORKSPACE": str(workspace_dir), "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    workers = []
    for i in range(n):
        log = logs / f"{name}-worker-{i}.log"
        cmd = [sys.executable, "-m", "mlaas_kernel.tune._worker", name, "--until", str(until), "--deadline", str(deadline),
               "--workspace", str(workspace_dir), "--cores", _cores(i, n)]
        with open(log, "w") as out:
            workers.append(Worker(i, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env), log))
    return workers


def fail_trials_of(study, worker_id: str, *, workspace_dir=None) -> list[int]:
    """Mark FAIL the RUNNING trials of a worker that is gone (and end their MLflow runs FAILED); returns their numbers."""
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("mlaas.worker") == worker_id:
            try:
                study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            except Exception:  # its heartbeat check (another worker) got there first
                continue
            mark_run(t.user_attrs.get("mlflow_run_id"), FAIL, status="FAILED", experiment=study.user_attrs.get("mlaas.experiment", "mlaas"),
                     workspace_dir=workspace_dir, note=f"worker {worker_id} died during trial {t.number}")
            failed.append(t.number)
    return failed


def _exit_text(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def watch(study, workers: list[Worker], progress, *, workspace_dir=None, poll_seconds: float = 1.0) -> LaunchReport:
    """Wait for the workers, updating ``progress``; a worker that ends badly has its trial failed now, and the others go on."""
    report = LaunchReport()
    try:
        while True:
            progress.update()
            for w in workers:
                rc = w.proc.poll()
                if rc is None or w.reported:
                    continue
                w.reported = True
                if rc != 0:
                    report.failed_workers += 1
                    lost = fail_trials_of(study, w.id, workspace_dir=workspace_dir)
                    lost_text = f"; its trial {', '.join(map(str, lost))} is marked FAIL" if lost else ""
                    report.notes.append(f"worker {w.index} (pid {w.proc.pid}) ended: {_exit_text(rc)}{lost_text}; "
                                        f"the other workers go on. Its log ({w.log}) ends:\n{w.tail()}")
            if all(w.reported for w in workers):
                break
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        report.interrupted = True
        for w in workers:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in workers:
            w.proc.wait()
            fail_trials_of(study, w.id, workspace_dir=workspace_dir)
        report.notes.append("interrupted: the workers were stopped, their running trials marked FAIL; --resume continues the study")
    progress.update()
    return report
