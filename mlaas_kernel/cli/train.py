"""``mlaas train``: the CNN classifier (or, with ``--model siamese``, an embedding) on an image dataset, tracked."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ._common import _export_workspace, _fail, positive_int


SUMMARY = {"cnn": ("accuracy", "val_loss", "loss", "images_per_second"),
           "embedding": ("silhouette", "knn_accuracy", "best_epoch", "loss", "images_per_second")}


def _print_train_result(run_id, metrics: dict, model_path, stopped: bool, notes=(), kind: str = "cnn") -> None:
    print(f"run id: {run_id}")
    for key in SUMMARY[kind]:
        if key in metrics:
            print(f"  {key:<18} {metrics[key]:,.0f}" if key in ("images_per_second", "best_epoch") else f"  {key:<18} {metrics[key]:.4f}")
    if kind == "embedding" and "silhouette" not in metrics:
        print("  (no validation items: no silhouette, the last epoch is kept)")
    print(f"model: {model_path}")
    for note in notes:
        print(f"note: {note}")
    if stopped:
        print("stopped before the last epoch; `mlaas train ... --resume` continues")


def _run_torchrun(args, options: dict) -> int:
    """``--nproc N``: torchrun's processes, their output streamed line by line as it comes."""
    import json

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "mlaas_kernel.train._ddp", args.dataset, "--options", json.dumps(options)]
    print(f"launching {args.nproc} processes with torchrun", flush=True)
    result = None
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env) as proc:
        for line in proc.stdout:
            if line.startswith("MLAAS_RESULT "):
                result = json.loads(line[len("MLAAS_RESULT "):])
            else:
                print(line, end="", flush=True)
    if proc.returncode != 0 or result is None:
        return _fail(f"torchrun exited with {proc.returncode}", 1)
    _print_train_result(result["run_id"], result["metrics"], result["model_path"], result["stopped"], result.get("notes", ()),
                        options.get("model", "cnn"))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..compute import GPUUnavailableError
    from ..train import TrainingInputError

    kind = KINDS[args.model]
    if kind != "embedding" and (args.dim is not None or args.loss is not None):
        return _fail(f"--dim and --loss shape an embedding: give --model siamese with them (the {args.model} model has neither)", 2)
    _export_workspace()
    if not args.no_track:
        from ..track import prepare

        prepare()  # MLflow is imported and its store made in a thread while torch loads
    options = {"epochs": args.epochs, "batch_size": args.batch_size, "labels": args.labels, "resume": args.resume,
               "random_state": args.seed, "device": args.device, "compile": args.compile, "track": not args.no_track,
               "verbose": 1}
    if kind == "embedding":
        options.update({k: v for k, v in (("dim", args.dim), ("loss", args.loss)) if v is not None})
    if args.nproc > 1:
        return _run_torchrun(args, {**options, "model": kind} if kind != "cnn" else options)
    from ..train import train_dataset, train_embedding

    shown = _warnings_as_lines()
    try:
        res = (train_embedding if kind == "embedding" else train_dataset)(args.dataset, **options)
    except (TrainingInputError, DataError, GPUUnavailableError) as exc:
        return _fail(str(exc), 1)
    except FileNotFoundError as exc:  # a --labels snapshot path that is not there
        return _fail(f"{exc.filename or exc}: no such label snapshot (give a file, or DATASET@sha256:HASH from `mlaas labels`)", 1)
    _print_train_result(res.run_id, res.metrics, res.model_path, res.stopped, [n for n in res.notes if n not in shown], kind)
    return 0


def _warnings_as_lines() -> set[str]:
    """Show training warnings as one ``mlaas: warning: ...`` line each, when they happen (not
    Python's file:line and source), and return the set of texts shown, so the closing notes
    do not repeat them."""
    import warnings

    from ..train import TrainingWarning

    shown: set[str] = set()
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, TrainingWarning):
            return default(message, category, filename, lineno, file, line)
        shown.add(str(message))
        print(f"mlaas: warning: {message}", file=sys.stderr, flush=True)

    warnings.showwarning = show
    return shown




KINDS = {"cnn": "cnn", "siamese": "embedding"}  # --model choice -> the kind of model (checkpoint folder, loader)


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("train", help="train a CNN classifier (or an embedding) on an image dataset, tracked in MLflow",
                       description="Train on DATASET's own labels (or a label snapshot's), tracked in MLflow and TensorBoard; prints the run id and final metrics. "
                                   "A checkpoint is written after each epoch; --resume continues a run that was stopped or killed, with its own plan. "
                                   "--model siamese trains an embedding instead (images to --dim numbers, near for the same class): "
                                   "it keeps the epoch with the best validation silhouette and prints its silhouette and 5-nearest-neighbour accuracy.")
    p.add_argument("dataset")
    p.add_argument("--model", choices=tuple(KINDS), default="cnn",
                   help="cnn: a classifier (cross-entropy); siamese: an embedding trained on pairs or triplets (default cnn)")
    p.add_argument("--dim", type=positive_int, default=None, help="--model siamese: dimensions of the embedding (default 16)")
    p.add_argument("--loss", choices=("triplet", "multi-similarity"), default=None,
                   help="--model siamese: triplet (mined semi-hard triplets, the default) or multi-similarity (mined pairs)")
    p.add_argument("--epochs", type=positive_int, default=None, help="passes over the data (default 5, more on small data so the schedule has 200 steps; a resumed run's own)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="images per step (default 128, at most a quarter of the data; a resumed run's own)")
    p.add_argument("--labels", metavar="SNAPSHOT", help="train on a label snapshot: a path or DATASET@sha256:HASH (a resumed run's own)")
    p.add_argument("--nproc", type=positive_int, default=1, help="processes (DDP through torchrun; one per GPU, or gloo on the CPU)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN",
                   help="continue run RUN (its id, or a unique prefix) from its checkpoint; with no RUN, the dataset's newest checkpoint")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train (default: the compute layer's choice)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0; a resumed run's own)")
    p.add_argument("--no-track", action="store_true", help="do not record the run in MLflow/TensorBoard")
    p.set_defaults(func=cmd_train)
