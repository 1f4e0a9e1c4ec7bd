"""How well the siamese embedding separates the real MNIST digits, against raw pixels and the CNN classifier.

On the 8,000 / 2,000 split of the bundled MNIST test set (``train_dataset``'s split), in a scratch
workspace, untracked: the silhouette of PCA-16 of the pixels (the baseline), then
``mlaas_kernel.train.train_embedding`` with its defaults for each loss (the kept epoch's validation
silhouette and 5-nearest-neighbour accuracy, seconds, images per second), then ``train_dataset``'s
CNN with its defaults (validation accuracy). The load average is printed before and after: the
loss's many small tensor operations slow down most on a busy machine.

    python bench/embedding_mnist.py
    python bench/embedding_mnist.py --losses triplet --dim 32 --epochs 10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--losses", nargs="+", default=["triplet", "multi-similarity"], choices=("triplet", "multi-similarity"))
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--epochs", type=int, default=None, help="default: the estimators' own (5 on 8,000 items)")
    p.add_argument("--no-cnn", action="store_true", help="skip the CNN classifier")
    args = p.parse_args(argv)
    os.environ.setdefault("MLAAS_OFFLINE", "1")
    from sklearn.decomposition import PCA

    from mlaas_kernel import data
    from mlaas_kernel.train import silhouette, split_dataset, train_dataset, train_embedding

    with tempfile.TemporaryDirectory() as ws:
        ds = data.ingest("mnist", workspace_dir=ws, progress=False)
        x, y = ds.images(mmap=False), ds.labels()
        train, val = split_dataset(ds)
        flat = x.reshape(len(x), -1) / 255.0
        pixels = silhouette(PCA(16, random_state=0).fit(flat[train]).transform(flat[val]), y[val])
        print(f"MNIST {len(train):,} / {len(val):,}; silhouette of PCA-16 of the pixels: {pixels:.4f}")
        for loss in args.losses:
            before, t = load_average(), time.perf_counter()
            r = train_embedding("mnist", loss=loss, dim=args.dim, epochs=args.epochs, track=False, workspace_dir=ws)
            m = r.metrics
            print(f"embedding ({loss}, {args.dim}-d): silhouette {m['silhouette']:.4f}, kNN accuracy {m['knn_accuracy']:.4f} "
                  f"(epoch {m['best_epoch']:.0f} of {r.epochs_run}); {time.perf_counter() - t:.0f} s, "
                  f"{m['images_per_second']:,.0f} images/s; load {before} -> {load_average()}")
        if not args.no_cnn:
            before, t = load_average(), time.perf_counter()
            r = train_dataset("mnist", epochs=args.epochs, track=False, workspace_dir=ws)
            print(f"CNN classifier: accuracy {r.metrics['accuracy']:.4f}; {time.perf_counter() - t:.0f} s, "
                  f"{r.metrics['images_per_second']:,.0f} images/s; load {before} -> {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
