"""A worker process: ``python -m mlaas_kernel.tune._worker STUDY --until N``, trials until the study has N live ones.

Workers share the study through its storage: each asks the sampler for the next trial, trains it
and reports it there; with heartbeats, a trial whose worker died becomes FAIL.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def worker_alive(worker: str | None) -> bool:
    """False when ``host:pid`` names a process of this host that is gone (or a zombie); True when unknown."""
    import socket

    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True


def live_trials(study) -> int:
    """Trials that count toward the budget: complete, pruned, or running in a live worker (a killed
    worker's trial is FAIL soon, by its launcher or a heartbeat check, and must not end the study early)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    return sum(t.state != TrialState.RUNNING or worker_alive(t.user_attrs.get("mlaas.worker")) for t in trials)


def objective_for(study, *, workspace_dir=None, random_state: int = 0):
    """The objective a study's stored spec calls for (the CNN's or the forest's)."""
    from ._parent import PARENT_ATTR
    from ._study import StudySpec

    spec = StudySpec.from_attrs(study.user_attrs)
    parent = study.user_attrs.get(PARENT_ATTR)
    if spec.space.model == "cnn":
        from ._trials import CNNObjective

        return CNNObjective(spec, parent, workspace_dir=workspace_dir, random_state=random_state)
    from ._forest import ForestObjective

    return ForestObjective(spec, parent, workspace_dir=workspace_dir, random_state=random_state)


def work(name: str, *, until: int, deadline: float = 0.0, workspace_dir=None, random_state: int = 0) -> int:
    """Run trials of study ``name`` until it has ``until`` live trials or ``deadline`` (epoch seconds) passes; returns how many."""
    import optuna

    from ._study import open_study
    from ._trials import interruptible

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(name, None, resume=True, workspace_dir=workspace_dir)
    objective = interruptible(objective_for(study, workspace_dir=workspace_dir, random_state=random_state),
                              experiment=study.user_attrs.get("mlaas.experiment", "mlaas"), workspace_dir=workspace_dir)
    ran = 0
    while live_trials(study) < until and not (deadline and time.time() >= deadline):
        study.optimize(objective, n_trials=1, gc_after_trial=True)
        ran += 1
    return ran


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlaas_kernel.tune._worker")
    p.add_argument("study")
    p.add_argument("--until", type=int, required=True)
    p.add_argument("--deadline", type=float, default=0.0)
    p.add_argument("--workspace", default=None)
    p.add_argument("--cores", default="", help="comma-separated CPU cores to run on (so N workers do not fight over all cores)")
    args = p.parse_args(argv)
    if args.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    try:
        n = work(args.study, until=args.until, deadline=args.deadline, workspace_dir=args.workspace)
    except KeyboardInterrupt:  # Ctrl-C: the trial is FAIL and tagged interrupted (see interruptible); no traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from ._launch import INTERRUPTED_EXIT

        print(f"worker {os.getpid()}: interrupted", flush=True)
        return INTERRUPTED_EXIT
    print(f"worker {os.getpid()}: {n} trial(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
