"""Conformal prediction on MNIST: coverage and mean set size at significance 0.01, 0.05 and 0.1 for the
softmax scores (LAC, APS) of the real CNN against the kNN score on an embedding, with calibration
time and prediction time per 1,000 items.

The CNN is ``train_dataset("mnist")`` with default settings, trained once in a scratch workspace
(or ``--workspace DIR --run RUN`` reuses one). Its 2,000 held-out digits are split 100 times at
random into 1,000 calibration and 1,000 evaluation items (Mondrian rows: 1,400 and 600, so each
digit has the 99 calibration items significance 0.01 needs); coverage and set size are the means
over those splits. The kNN score measures distances to the 8,000 training digits in
``--embedding``: ``pca`` (50 PCA components of the pixels) or ``siamese`` (the metric-learning
embedding of ``mlaas_kernel.train.train_embedding``, trained once with its defaults).

Times, on one split: ``calibrate`` scores the 1,000 calibration items (the model's forward pass or
the embedding and kNN search) and calibrates; ``predict / 1,000`` scores 1,000 new items and gives
their p-values and sets; ``conformal / 1,000`` is the p-values and sets alone, from ready scores.

    python bench/conformal.py
    python bench/conformal.py --workspace workspace --run 1a2b3c4d --embedding pca
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

LEVELS = (0.01, 0.05, 0.1)


def _model_and_items(args, workspace: str):
    from mlaas_kernel import data, train
    from mlaas_kernel.models import load_run_model

    ds = data.ingest("mnist", workspace_dir=workspace, progress=False)
    run = args.run
    if not run:
        started = time.perf_counter()
        run = train.train_dataset("mnist", workspace_dir=workspace).run_id
        print(f"trained the CNN (default settings) in {time.perf_counter() - started:.0f} s: run {run}")
    model = load_run_model(run, workspace_dir=workspace).model
    images, y = np.asarray(ds.images()), ds.labels()
    train_idx, held = train.split_dataset(ds)
    return model, images, y, train_idx, held


def _embedding(args, images, train_idx, workspace: str):
    from mlaas_kernel.conformal import PixelPCA

    if args.embedding == "pca":
        return PixelPCA().fit(images[train_idx]), "PCA (50 components) of the pixels"
    from mlaas_kernel import train

    started = time.perf_counter()
    result = train.train_embedding("mnist", workspace_dir=workspace)
    print(f"trained the siamese embedding (defaults) in {time.perf_counter() - started:.0f} s: run {result.run_id}")
    from mlaas_kernel.models import load_run_model

    model = load_run_model(result.run_id, kinds=("embedding",), workspace_dir=workspace).model
    knn_accuracy = result.metrics.get("knn_accuracy", float("nan"))
    return model, f"the {model.dim}-d siamese embedding of run {result.run_id[:8]} (its kNN accuracy {knn_accuracy:.2%})"


def _timed(scorer, to_input, images, cal, test, y, mondrian: bool = False) -> dict:
    from mlaas_kernel.conformal import ConformalClassifier, prediction_sets

    started = time.perf_counter()
    cp = ConformalClassifier(scorer, mondrian=mondrian).calibrate_scores(scorer.score(to_input(images[cal])), y[cal])
    calibrate = time.perf_counter() - started
    started = time.perf_counter()
    scores = scorer.score(to_input(images[test]))
    p = cp.p_values_scores(scores)
    [prediction_sets(p, level) for level in LEVELS]
    predict = (time.perf_counter() - started) * 1000 / len(test) * 1000
    started = time.perf_counter()
    p = cp.p_values_scores(scores)
    [prediction_sets(p, level) for level in LEVELS]
    alone = (time.perf_counter() - started) * 1000 / len(test) * 1000
    return {"calibrate_s": calibrate, "predict_ms": predict, "conformal_ms": alone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", help="a workspace to reuse (default: a scratch one)")
    parser.add_argument("--run", help="a CNN run in that workspace (default: train one)")
    parser.add_argument("--embedding", choices=("pca", "siamese"), default="siamese", help="features of the kNN score (default siamese)")
    parser.add_argument("--splits", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    workspace = args.workspace or tempfile.mkdtemp(prefix="mlaas-bench-conformal-")
    from mlaas_kernel.conformal import APS, LAC, KNNScore, coverage_over_splits

    model, images, y, train_idx, held = _model_and_items(args, workspace)
    emb, described = _embedding(args, images, train_idx, workspace)
    knn = KNNScore(k=10).fit(emb.transform(images[train_idx]), y[train_idx])
    order = np.random.default_rng(0).permutation(held)
    cal, test = order[:1000], order[1000:]
    rows = [("lac", LAC(model.classes_), model.predict_proba, False), ("aps", APS(model.classes_), model.predict_proba, False),
            ("knn", knn, emb.transform, False), ("lac-mondrian", LAC(model.classes_), model.predict_proba, True),
            ("knn-mondrian", knn, emb.transform, True)]
    print(f"MNIST: 8,000 training digits (kNN reference), 2,000 held out; {args.splits} random 1,000/1,000 splits "
          "(Mondrian: 1,400/600)")
    print(f"kNN features: {described}; accuracy of the CNN on the held-out digits: {(model.predict(images[held]) == y[held]).mean():.2%}\n")
    head = "score          " + "".join(f"  cover@{v:<5} size@{v:<5}" for v in LEVELS) + "  calibrate  predict/1,000  conformal/1,000"
    print(head)
    print("-" * len(head))
    for name, scorer, to_input, mondrian in rows:
        scores = scorer.score(to_input(images[held]))
        # Mondrian at 0.01 needs 99 calibration items per digit: 1,400 of the 2,000 (about 140 each)
        frame = coverage_over_splits(scorer, scores, y[held], LEVELS, n_splits=args.splits, mondrian=mondrian, name=name,
                                     calibration_fraction=0.7 if mondrian else 0.5)
        t = _timed(scorer, to_input, images, cal, test, y, mondrian)
        cells = "".join(f"  {r.coverage:>10.2%}  {r.mean_set_size:>9.3f}" for r in frame.itertuples())
        print(f"{name:<15}{cells}  {t['calibrate_s']:>7.2f} s  {t['predict_ms']:>9.1f} ms  {t['conformal_ms']:>12.2f} ms")
    print("\ncover@S: mean share of evaluation sets holding the true class at significance S (target 1 - S); "
          "size@S: mean classes per set")
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
