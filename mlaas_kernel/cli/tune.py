"""``mlaas tune``: an Optuna study of the CNN (or a forest) on a dataset, in worker processes; ``--dashboard`` shows it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ._common import _export_workspace, _fail, _port_free, positive_int


def dashboard_command(url: str, port: int) -> list[str]:
    """optuna-dashboard on the study storage, loopback only."""
    return [sys.executable, "-c", "import sys; from optuna_dashboard._cli import main; sys.exit(main())", url,
            "--host", "127.0.0.1", "--port", str(port), "--quiet"]


def _print_result(res) -> None:
    print(res.summary())
    print(f"storage: {res.storage} (study {res.study_name}; `mlaas tune --dashboard` shows it)")
    for note in res.notes:
        print(f"note: {note}")


def _start_dashboard(url: str, port: int):
    print(f"optuna-dashboard on http://127.0.0.1:{port}/ for {url}", flush=True)
    return subprocess.Popen(dashboard_command(url, port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def cmd_tune(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..tune import TuneError, storage_path, storage_url

    ws = _export_workspace()
    if args.dashboard and not _port_free(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use; pick another with --port")
    if args.dataset is None:
        if not args.dashboard:
            return _fail("give a DATASET to tune (or --dashboard alone to show the workspace's studies)")
        if not storage_path(ws).exists() and not os.environ.get("MLAAS_OPTUNA_STORAGE"):
            return _fail(f"no studies in this workspace yet ({storage_path(ws)}): run `mlaas tune DATASET` first")
        cmd = dashboard_command(storage_url(ws), args.port)
        print(f"optuna-dashboard on http://127.0.0.1:{args.port}/ for {storage_url(ws)}", flush=True)
        os.execv(cmd[0], cmd)
    if args.resume and not args.study:
        return _fail("--resume needs --study NAME (the study to continue)")
    from ..tune import StudyInterrupted, tune

    dashboard = None
    try:
        if args.dashboard:
            from ..tune import storage

            storage(ws, heartbeat=False)  # the file exists before the dashboard opens it
            dashboard = _start_dashboard(storage_url(ws), args.port)
        res = tune(args.dataset, n_trials=args.trials, workers=args.workers, study=args.study, resume=args.resume, model=args.model,
                   space=args.space, target=args.target, pruner=args.pruner, timeout=args.timeout)
    except (TuneError, DataError) as exc:
        return _fail(str(exc), 1)
    except StudyInterrupted as exc:  # Ctrl-C: the study was stopped cleanly; say what is kept and how to go on
        _print_result(exc.result)
        print(exc, flush=True)
        return 130
    finally:
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait()
    _print_result(res)
    return 0 if res.complete or res.pruned else 1


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("tune", help="tune the CNN (or a forest) on a dataset with Optuna, trials as MLflow child runs",
                       description="Run an Optuna study (TPE sampler, pruning on the per-epoch validation accuracy) on DATASET: "
                       "each trial trains with sampled parameters as an MLflow child run of the study's parent run, which gets "
                       "the best trial's parameters, metric and model. Studies live in workspace/optuna/studies.db (SQLite, WAL); "
                       "--workers N processes share a study, and a worker killed mid-trial leaves that trial FAIL.",
                       epilog="Examples: mlaas tune mnist --trials 30 --workers 2 | mlaas tune mnist --space max_lr=1e-3:1e-2:log "
                       "--space batch_size=64,128 | mlaas tune mnist --study s1 --resume --trials 10 | mlaas tune --dashboard")
    p.add_argument("dataset", nargs="?", help="an ingested dataset (images: the CNN; tables: a forest)")
    p.add_argument("--trials", type=positive_int, default=20, help="trials to run (default 20; with --resume, trials to add)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes on the same study (default 1; each gets a share of the cores)")
    p.add_argument("--study", metavar="NAME", help="study name (default DATASET-MODEL-TIME)")
    p.add_argument("--resume", action="store_true", help="continue the study --study NAME (same dataset, model and space)")
    p.add_argument("--model", choices=("cnn", "forest"), help="what to tune (default: cnn for images, forest for tables)")
    p.add_argument("--target", metavar="COLUMN", help="tables: the column to predict (gpu-benchmarks: primary_category)")
    p.add_argument("--timeout", type=float, metavar="S", help="start no trial after S seconds")
    p.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median", help="stop weak trials early (default median)")
    p.add_argument("--space", action="append", metavar="PARAM=LOW:HIGH[:log]",
                   help="override one parameter's range (or PARAM=A,B,C for choices); repeatable. CNN: max_lr, width, dropout, "
                   "batch_size, epochs; forest: n_estimators, max_depth, min_samples_leaf, max_features")
    p.add_argument("--dashboard", action="store_true", help="serve optuna-dashboard on the studies (alone: only the dashboard)")
    p.add_argument("--port", type=int, default=int(os.environ.get("MLAAS_OPTUNA_PORT", 8080)), help="dashboard port (default 8080, or $MLAAS_OPTUNA_PORT)")
    p.set_defaults(func=cmd_tune)
