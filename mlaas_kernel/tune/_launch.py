"""Starting N worker processes on one study, watching them, and failing at once the trial of one that dies.

Ctrl-C (SIGINT: a terminal sends it to the whole process group, a Jupyter kernel interrupt too)
stops the study cleanly: the launcher only notes it (:func:`interrupt_flag`), lets the workers end
their trials (FAIL in Optuna, tagged ``mlaas.interrupted``; their MLflow runs KILLED), forwards the
interrupt to a worker that did not get it, and kills one that does not stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ._trials import FAIL, INTERRUPTED, INTERRUPTED_ATTR, mark_run

INTERRUPTED_EXIT = 130  # a worker's exit code after Ctrl-C (as shells report SIGINT)
GRACE_SECONDS = 3.0  # a worker that got the terminal's Ctrl-C itself ends within this; the others are sent it
STOP_SECONDS = 30.0  # then a worker still running is killed


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


@contextlib.contextmanager
def interrupt_flag():
    """Within it, Ctrl-C sets the yielded event instead of raising KeyboardInterrupt wherever the
    launcher happens to be (inside a database call, a finaliser that would swallow it): the study
    is stopped cleanly and whoever started it raises afterwards. Off the main thread (no signals
    arrive there) or where SIGINT is ignored, the handler is left as it is."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


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


def fail_trials_of(study, worker_id: str, *, interrupted: bool = False, workspace_dir=None) -> list[int]:
    """Mark FAIL the RUNNING trials of a worker that is gone and end their MLflow runs (FAILED; KILLED when
    ``interrupted``, the trials then tagged so); returns their numbers."""
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("mlaas.worker") == worker_id:
            try:
                if interrupted:
                    study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED_ATTR, True)
                study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            except Exception:  # its heartbeat check (another worker) got there first
                continue
            why = f"interrupted during trial {t.number}" if interrupted else f"worker {worker_id} died during trial {t.number}"
            mark_run(t.user_attrs.get("mlflow_run_id"), INTERRUPTED if interrupted else FAIL, status="KILLED" if interrupted else "FAILED",
                     experiment=study.user_attrs.get("mlaas.experiment", "mlaas"), workspace_dir=workspace_dir, note=why)
            failed.append(t.number)
    return failed


def _exit_text(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def was_interrupted(rc: int | None) -> bool:
    """A worker's exit code after Ctrl-C: its own (130) or SIGINT's (it got it before it could catch it)."""
    return rc in (INTERRUPTED_EXIT, -signal.SIGINT)


def _died(study, w: Worker, report: LaunchReport, rc: int, *, others_go_on: bool, workspace_dir) -> None:
    report.failed_workers += 1
    lost = fail_trials_of(study, w.id, workspace_dir=workspace_dir)
    lost_text = f"; its trial {', '.join(map(str, lost))} is marked FAIL" if lost else ""
    go_on = "; the other workers go on" if others_go_on else ""
    report.notes.append(f"worker {w.index} (pid {w.proc.pid}) ended: {_exit_text(rc)}{lost_text}{go_on}. Its log ({w.log}) ends:\n{w.tail()}")


def _wait(workers: list[Worker], seconds: float) -> None:
    end = time.monotonic() + seconds
    while any(w.proc.poll() is None for w in workers) and time.monotonic() < end:
        time.sleep(0.1)


def stop_workers(study, workers: list[Worker], report: LaunchReport, *, workspace_dir=None) -> None:
    """After Ctrl-C: give the workers the interrupt (those that did not get it), wait for them to end their
    trials, kill those that do not; their trials still RUNNING become FAIL, their runs KILLED."""
    _wait(workers, GRACE_SECONDS)
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGINT)
    _wait(workers, STOP_SECONDS)
    for w in workers:
        if w.proc.poll() is None:
            w.proc.kill()
            report.notes.append(f"worker {w.index} (pid {w.proc.pid}) did not stop within {STOP_SECONDS:.0f} s of the interrupt: killed")
        rc = w.proc.wait()
        if not w.reported and rc not in (0, -signal.SIGKILL) and not was_interrupted(rc):
            _died(study, w, report, rc, others_go_on=False, workspace_dir=workspace_dir)
        w.reported = True
        fail_trials_of(study, w.id, interrupted=True, workspace_dir=workspace_dir)


def watch(study, workers: list[Worker], progress, *, stop: threading.Event | None = None, workspace_dir=None,
          poll_seconds: float = 1.0) -> LaunchReport:
    """Wait for the workers, updating ``progress``; a worker that ends badly has its trial failed now, and the
    others go on. ``stop`` set (Ctrl-C, see :func:`interrupt_flag`) or a worker ended by Ctrl-C: all stop."""
    report = LaunchReport()
    stop = stop or threading.Event()
    while True:
        progress.update()
        for w in workers:
            rc = w.proc.poll()
            if rc is None or w.reported:
                continue
            if was_interrupted(rc):  # the Ctrl-C reached the worker; the launcher's may come a moment later, or be lost
                stop.set()
                continue
            w.reported = True
            if rc != 0:
                _died(study, w, report, rc, others_go_on=True, workspace_dir=workspace_dir)
        if stop.is_set():
            report.interrupted = True
            stop_workers(study, workers, report, workspace_dir=workspace_dir)
            break
        if all(w.reported for w in workers):
            break
        time.sleep(poll_seconds)
    progress.update()
    return report
