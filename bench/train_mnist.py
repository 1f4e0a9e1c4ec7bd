"""Training speed on MNIST: images per second and time to 98 % held-out accuracy, tracking off and on;
and what tracking costs the first run in a new workspace, with the store and client made ahead.

The MNIST test set (10,000 digits) is split 8,000 / 2,000 with a fixed seed; the CNN of
``mlaas_kernel.train.ImageClassifier`` trains on the 8,000 and is scored on the 2,000 after each
epoch. The same run is made twice: without tracking, then with the MLflow + TensorBoard
tracker writing to a scratch workspace, and the tracker's own time is reported as a share of
training time. First, each in a fresh process and a fresh workspace (as a first ``mlaas train`` or
a new kernel meets it), the first tracked run's time in tracking calls, with
``mlaas_kernel.track.prepare()`` called by ``train_dataset`` itself or before the data is ingested.

    python bench/train_mnist.py                       # CPU here, GPU where there is one
    python bench/train_mnist.py --epochs 10 --batch-size 512 --compile
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load():
    from mlaas_kernel.data._idx import read_idx
    from mlaas_kernel.data._sources import _bundled

    x = read_idx(_bundled("mnist", "t10k-images-idx3-ubyte.gz"))
    y = read_idx(_bundled("mnist", "t10k-labels-idx1-ubyte.gz"))
    order = np.random.default_rng(0).permutation(len(y))
    return x[order[2000:]], y[order[2000:]], x[order[:2000]], y[order[:2000]]


def one_run(args, data, *, track: bool, workspace: str):
    from mlaas_kernel.train import ImageClassifier

    xtr, ytr, xva, yva = data
    callbacks = []
    tracker = None
    if track:
        from mlaas_kernel.track import Tracker

        os.environ.pop("MLFLOW_TRACKING_URI", None)
        tracker = Tracker(run_name="bench-train-mnist", workspace_dir=workspace)
        callbacks.append(tracker)
    clf = ImageClassifier(epochs=args.epochs, batch_size=args.batch_size, max_lr=args.max_lr, device=args.device,
                          compile=args.compile, callbacks=callbacks, random_state=args.seed)
    t = time.perf_counter()
    clf.fit(xtr, ytr, validation_data=(xva, yva))
    wall = time.perf_counter() - t
    steps_seconds, to_target, rates = 0.0, None, []
    for h in clf.history_:
        seconds = (len(xtr) // args.batch_size) * args.batch_size / h["images_per_second"]
        steps_seconds += seconds
        rates.append(h["images_per_second"])
        if to_target is None and h["val_accuracy"] >= args.target:
            to_target = (h["epoch"], steps_seconds)
    return {
        "device": clf.progress_.device,
        "rate": float(np.median(rates[1:] if len(rates) > 1 else rates)),  # first epoch includes warm-up
        "first_epoch_rate": rates[0],
        "accuracy": clf.history_[-1]["val_accuracy"],
        "to_target": to_target,
        "train_seconds": steps_seconds,
        "wall": wall,
        "tracking_seconds": tracker.seconds if tracker else 0.0,
        "tracking_timings": dict(tracker.timings) if tracker else {},
    }


FIRST_RUN = """
import sys
ws, mode = sys.argv[1], sys.argv[2]
from mlaas_kernel import data, track
if mode == "notebook":
    track.prepare(ws)  # notebook 04's first line: MLflow gets ready while MNIST is ingested
data.ingest("mnist", workspace_dir=ws, progress=False)
if mode != "notebook":
    track.prepare(ws)  # what mlaas train does first: MLflow gets ready while torch is imported
from mlaas_kernel.train import train_dataset
result = train_dataset("mnist", epochs=1, workspace_dir=ws, device="cpu")
print(result.tracking_seconds, result.training_seconds)
"""
FIRST_RUN_MODES = {
    "cli": "mlaas train, store made on demand",
    "cli-store-ready": "mlaas train, store made ahead (track.prepare_store)",
    "notebook": "notebook 04 (prepare, then ingest)",
}


def first_run_cost(mode: str) -> tuple[float, float]:
    """(seconds in tracking calls, seconds of training) of the first tracked run of a new workspace, in a new process."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL")}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "MLAAS_OFFLINE": "1"})
    with tempfile.TemporaryDirectory() as ws:
        if mode == "cli-store-ready":  # as `mlaas lab` or an earlier command would have made it
            subprocess.run([sys.executable, "-m", "mlaas_kernel.track", "prepare", ws], env=env, check=True, capture_output=True)
        out = subprocess.run([sys.executable, "-c", FIRST_RUN, ws, mode], env=env, check=True, capture_output=True, text=True)
        tracking, training = map(float, out.stdout.split()[-2:])
        return tracking, training


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-lr", type=float, default=3e-3)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--target", type=float, default=0.98, help="held-out accuracy to time (default 0.98)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    data = load()
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != "cpu" else f"CPU, {torch.get_num_threads()} threads"
    print(f"MNIST test set split 8,000 / 2,000; {args.epochs} epochs, batch {args.batch_size}; torch {torch.__version__}; {name}")
    results = {}
    print("first tracked run of a new workspace, in a new process (1 epoch with train_dataset):")
    for mode, label in FIRST_RUN_MODES.items():
        tracking, training = first_run_cost(mode)
        print(f"  {label:<52} tracking {tracking:.2f} s of {training:.2f} s of training")
    with tempfile.TemporaryDirectory() as ws:
        from mlaas_kernel.track import setup

        os.environ.pop("MLFLOW_TRACKING_URI", None)
        setup(workspace_dir=ws)  # made once per workspace; the throughput runs below measure the loop
        for track in (False, True):
            results[track] = one_run(args, data, track=track, workspace=ws)
    print(f"\n{'':<26}{'tracking off':>16}{'tracking on':>16}")
    off, on = results[False], results[True]

    def row(label, fmt, key):
        print(f"{label:<26}{fmt(off[key]):>16}{fmt(on[key]):>16}")

    row("images/s (median epoch)", lambda v: f"{v:,.0f}", "rate")
    row("images/s (first epoch)", lambda v: f"{v:,.0f}", "first_epoch_rate")
    row(f"time to {args.target:.0%} (training)", lambda v: f"{v[1]:.2f} s, ep {v[0]}" if v else "not reached", "to_target")
    row("training seconds", lambda v: f"{v:.2f}", "train_seconds")
    row("wall seconds (with eval)", lambda v: f"{v:.2f}", "wall")
    row("final held-out accuracy", lambda v: f"{v:.4f}", "accuracy")
    print(f"\ntracking overhead: {on['tracking_seconds']:.3f} s in tracker calls = {100 * on['tracking_seconds'] / on['train_seconds']:.2f} % of training time; "
          f"throughput ratio on/off {on['rate'] / off['rate']:.3f}")
    t = on["tracking_timings"]
    during = t["steps"] + t["epochs"]
    print(f"  of which: start {t['begin']:.3f} s (store, experiment, run, params, TensorBoard writer), "
          f"during training {during:.3f} s = {100 * during / on['train_seconds']:.2f} %, end {t['end']:.3f} s")
    print(f"device: {off['device']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
