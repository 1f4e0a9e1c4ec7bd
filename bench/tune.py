"""Tuning on MNIST: study storage with 2 workers, trials per minute with 1 and 2 workers, the epochs
pruning saves, and a 30-trial study of the CNN against the default configuration.

The bundled MNIST test set (10,000 digits) is split 8,000 / 2,000 (``split_dataset``); each trial
trains the CNN on the 8,000 and reports validation accuracy on the 2,000 after each epoch. Storage:
two processes run trials of a trivial objective on Optuna's journal file storage and on its RDB
storage on SQLite in WAL mode (with and without heartbeats). Everything goes to a scratch workspace.

    python bench/tune.py             # storage, throughput, then the 30-trial study (about 10 minutes on 2 cores)
    python bench/tune.py --quick     # a smoke run of every part (a minute or two)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIXED = ["max_lr=0.003:0.003", "width=16:16", "dropout=0:0", "batch_size=128", "epochs=1:1"]  # one configuration, for throughput


def _storage(kind: str, path: str, heartbeat: bool):
    from mlaas_kernel.tune import storage
    from mlaas_kernel.tune._storage import journal_storage

    if kind == "journal":
        return journal_storage(path)
    return storage(url=f"sqlite:///{path}", heartbeat=heartbeat)


def _storage_worker(kind: str, path: str, heartbeat: bool, n: int, out) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=_storage(kind, path, heartbeat))
    t = time.perf_counter()
    study.optimize(lambda tr: (tr.suggest_float("x", -10, 10) - 2) ** 2 + tr.suggest_int("y", 0, 8), n_trials=n)
    out.put(time.perf_counter() - t)


def bench_storage(tmp: Path, n: int) -> None:
    """Trials per second of 2 processes sharing one study, per storage (a trivial objective: storage cost only)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"storage, 2 worker processes x {n} trials of a trivial objective:")
    for kind, heartbeat in [("journal", False), ("sqlite-wal", False), ("sqlite-wal", True)]:
        path = str(tmp / f"{kind}-{heartbeat}.{'log' if kind == 'journal' else 'db'}")
        optuna.create_study(study_name="bench", storage=_storage(kind, path, False))
        out = mp.get_context("spawn").Queue()
        t = time.perf_counter()
        procs = [mp.get_context("spawn").Process(target=_storage_worker, args=(kind, path, heartbeat, n, out)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t
        inner = max(out.get() for _ in procs)
        done = len(optuna.load_study(study_name="bench", storage=_storage(kind, path, False)).trials)
        print(f"  {kind:<11}{' +heartbeat' if heartbeat else '           '} {done / inner:7.1f} trials/s "
              f"({done} trials in {inner:.1f} s of optimising, {wall:.1f} s with process start)")


def bench_throughput(ws: Path, n: int) -> None:
    """Trials per minute of one fixed CNN configuration (1 epoch), with 1 and 2 workers."""
    from mlaas_kernel.tune import tune

    print(f"trials per minute, {n} trials of 1 epoch (width 16, batch 128) on 8,000 / 2,000 digits:")
    for workers in (1, 2):
        res = tune("mnist", n_trials=n, workers=workers, study=f"throughput-{workers}", space=FIXED, pruner="none",
                   workspace_dir=ws, progress=False)
        print(f"  {workers} worker(s): {60 * (res.complete + res.pruned) / res.seconds:5.2f} trials/min "
              f"({res.complete} trials in {res.seconds:.0f} s, worker start included)")


def epochs_saved(study) -> tuple[int, int, float]:
    """(epochs planned, epochs trained, share saved by pruning) over the study's finished trials."""
    from optuna.trial import TrialState

    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    planned = sum(int(t.user_attrs.get("epochs_planned", 0)) for t in finished)
    ran = sum(int(t.user_attrs.get("epochs_run", 0)) for t in finished)
    return planned, ran, (planned - ran) / planned if planned else 0.0


def bench_study(ws: Path, n: int, workers: int, space) -> float | None:
    from mlaas_kernel.tune import load_study, tune

    print(f"study: {n} trials, {workers} workers, TPE + median pruner, space {space or 'default'}:")
    res = tune("mnist", n_trials=n, workers=workers, study="bench-study", space=space, workspace_dir=ws, progress=True)
    planned, ran, saved = epochs_saved(load_study("bench-study", workspace_dir=ws))
    print(f"  {res.complete} complete, {res.pruned} pruned, {res.failed} failed in {res.seconds / 60:.1f} min "
          f"({60 * (res.complete + res.pruned) / res.seconds:.2f} trials/min)")
    print(f"  pruning trained {ran} of {planned} planned epochs: {100 * saved:.0f} % saved")
    if res.best:
        print(f"  best validation accuracy {res.best_value:.4f} (trial {res.best['number']}: {res.best_params})")
    return res.best_value


def bench_default(ws: Path, epochs: int | None) -> float:
    from mlaas_kernel.train import train_dataset

    t = time.perf_counter()
    res = train_dataset("mnist", epochs=epochs, workspace_dir=ws, run_name="bench-default")
    acc = res.metrics["val_accuracy"]
    print(f"default configuration (train_dataset('mnist'{'' if epochs is None else f', epochs={epochs}'}), "
          f"{res.epochs_run} epochs): validation accuracy {acc:.4f} in {time.perf_counter() - t:.0f} s")
    return acc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: few trials, 1 epoch")
    p.add_argument("--trials", type=int, default=None, help="trials in the study (default 30; --quick 3)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", choices=("storage", "throughput", "study"), help="run one part")
    args = p.parse_args(argv)
    from mlaas_kernel import data

    n = args.trials or (3 if args.quick else 30)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws = tmp / "workspace"
        data.ingest("mnist", workspace_dir=ws, progress=False)
        if args.only in (None, "storage"):
            bench_storage(tmp, 20 if args.quick else 200)
        if args.only in (None, "throughput"):
            bench_throughput(ws, 2 if args.quick else 4)
        if args.only in (None, "study"):
            t = time.perf_counter()
            best = bench_study(ws, n, args.workers, ["epochs=1:1"] if args.quick else None)
            minutes = (time.perf_counter() - t) / 60
            default = bench_default(ws, 1 if args.quick else None)
            verdict = "beats" if best is not None and best > default else "does not beat"
            print(f"the {n}-trial study took {minutes:.1f} min and {verdict} the default: {best or float('nan'):.4f} vs {default:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
