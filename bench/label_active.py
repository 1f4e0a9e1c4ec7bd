"""Labels that pay off: held-out accuracy against the number of labels, per strategy, on real MNIST.

The annotator is simulated by the true labels of the MNIST test set (the bundled 10,000
digits; ``MLAAS_OFFLINE=1`` and a temporary ``MLAAS_WORKSPACE`` are enough). For each seed a
different 2,000 digits are held out and the other 8,000 form the pool; figures are the mean
and standard deviation over the seeds.

Strategies (the learner is :class:`mlaas_kernel.active.ActiveLearner`, one retrain per batch):

- ``random``: labels drawn at random from the pool (the baseline for the same models).
- ``typical``: typical points of k-means clusters of the UMAP embedding, clusters growing with
  the labels (TypiClust), all the way.
- ``typical+margin``: the workbench default: typical points for the first 100 labels, then the
  smallest margin of label spreading over the embedding.
- reference, the learner without an embedding: an RBF SVM on PCA-50 features, first 10
  random labels then ``random``, ``margin`` or ``margin+diversity`` (the figures before this
  work).

Models scored on the held-out digits:

- ``spread``: label spreading over the kNN graph of the UMAP embedding of all 10,000 digits.
  Transductive: the held-out digits are embedded with the rest (no labels are used for the
  embedding), so they take part in the graph; this is what the labeler's suggestions are.
- ``cnn``: :class:`mlaas_kernel.train.ImageClassifier` trained on the pool's images (deskewed,
  as the embedding's input is) with the labels plus label spreading's pseudo-labels for the
  rest of the pool. Inductive: it never sees the held-out digits, and predicts new images.
- ``svm``: the reference SVM, trained on the labels only.

    MLAAS_OFFLINE=1 MLAAS_WORKSPACE=$(mktemp -d) python bench/label_active.py   # 16 min on 2 busy cores, 66 s of it the embedding
    python bench/label_active.py --seeds 1 --budgets 50,100 --no-reference       # a quick look
    python bench/label_active.py --gil-only                                      # what a thread would cost the UI
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlaas_kernel import active  # noqa: E402
from mlaas_kernel.embedding import BackgroundEmbedding, UMAPParams, deskew, embed  # noqa: E402

NEW = ["random", "typical", "typical+margin"]
REFERENCE = ["random", "margin", "margin+diversity"]
BUDGETS = (50, 100, 200, 300, 500)
TARGETS = {100: 0.95, 300: 0.97}


class SVMProba:
    """An RBF SVM whose class scores (one-vs-rest decision values) pass through a softmax.

    The ranking strategies only need scores that order the classes and shrink the gap near
    the boundary; this avoids Platt scaling's internal cross-validation on tiny label sets.
    """

    def __init__(self, C: float = 10.0):
        self.C = C

    def fit(self, x, y):
        from sklearn.svm import SVC

        self.model_ = SVC(C=self.C, gamma="scale", decision_function_shape="ovr").fit(x, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, x):
        d = np.asarray(self.model_.decision_function(x), dtype=np.float64)
        if d.ndim == 1:  # two classes
            d = np.column_stack([-d, d])
        e = np.exp(3.0 * (d - d.max(axis=1, keepdims=True)))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x):
        return self.model_.predict(x)


# ------------------------------------------------------------------ the simulated annotator
def drive(learner, truth, budgets, *, batch: int, start=()) -> dict[int, dict[int, str]]:
    """Label what ``learner`` asks for until the largest budget; the labels held at each budget.

    One retrain per batch: ``retrain_every`` equals ``batch``, so the batch's last ``teach``
    starts it; an explicit :meth:`retrain` runs only for a short last batch.
    """
    budgets = sorted(budgets)
    snapshots: dict[int, dict[int, str]] = {}
    for item in start:
        learner.teach(int(item), truth[item])
    learner.wait()
    while len(learner.labels) < budgets[-1]:
        goal = next(b for b in budgets if b > len(learner.labels))
        before = learner.retrains
        for item in learner.next_items(min(batch, goal - len(learner.labels))):
            learner.teach(item, truth[item])  # the simulated annotator is always right
        learner.wait()
        if learner.retrains == before:
            learner.retrain()
        if len(learner.labels) in budgets:
            snapshots[len(learner.labels)] = dict(learner.labels)
    return snapshots


# ------------------------------------------------------------------ the models scored
def spread_accuracy(emb_all, labels: dict[int, str], held_out, truth) -> tuple[float, np.ndarray, np.ndarray]:
    """Held-out accuracy of label spreading over all digits; also its labels and confidences for every digit."""
    model = active.SpreadingModel(emb_all).fit(labels)
    predicted = model.predict()
    return float(np.mean(predicted[held_out] == truth[held_out])), predicted, model.proba_.max(axis=1)


def cnn_accuracy(images, pool, labels: dict[int, str], pseudo, held_out, truth, *, epochs: int, seed: int) -> float:
    """Held-out accuracy of the CNN trained on the pool: true labels where given, pseudo-labels elsewhere."""
    from mlaas_kernel.train import ImageClassifier

    y = pseudo[pool].copy()
    for item, label in labels.items():
        y[np.searchsorted(pool, item)] = label
    clf = ImageClassifier(epochs=epochs, random_state=seed, device="cpu").fit(images[pool], y)
    return float(np.mean(np.asarray(clf.predict(images[held_out])).astype(str) == truth[held_out]))


# ------------------------------------------------------------------ one strategy, one seed
def new_strategy(strategy, *, seed, pool, held_out, truth, features, emb_all, budgets, batch) -> dict[int, dict[int, str]]:
    """Labels at each budget under one of :data:`NEW`."""
    if strategy == "random":
        order = np.random.default_rng(seed).permutation(pool)
        return {b: {int(i): truth[i] for i in order[:b]} for b in budgets}
    cold = 10**9 if strategy == "typical" else 100
    learner = active.ActiveLearner(features[pool], items=pool, embedding=emb_all[pool], strategy="margin", batch=batch,
                                   retrain_every=batch, cold_start=cold, random_state=seed)
    try:
        return drive(learner, truth, budgets, batch=batch)
    finally:
        learner.close()


def reference_strategy(strategy, *, seed, pool, held_out, truth, features, budgets, batch) -> dict:
    """Held-out SVM accuracy at each budget, and the number of retrains, under one of :data:`REFERENCE`."""
    learner = active.ActiveLearner(features[pool], items=pool, model=SVMProba, strategy=strategy.split("+")[0], retrain_every=batch,
                                   holdout=(features[held_out], truth[held_out]), diversity=strategy.endswith("+diversity"),
                                   batch=batch, random_state=seed)
    try:
        start = np.random.default_rng(seed).choice(pool, size=10, replace=False)
        drive(learner, truth, budgets, batch=batch, start=start)
        curve = {h["labels"]: h["accuracy"] for h in learner.history}
        return {"curve": {b: curve[b] for b in budgets}, "retrains": learner.retrains}
    finally:
        learner.close()


# ------------------------------------------------------------------ the UI's view of a background embedding
def _probe(busy: threading.Event) -> dict[str, float]:
    """The main thread's wake-up delays for a 5 ms sleep while ``busy`` is set: median, p99, worst (seconds)."""
    lags = []
    while busy.is_set() or not lags:
        t = time.perf_counter()
        time.sleep(0.005)
        lags.append(time.perf_counter() - t - 0.005)
    return {"p50": float(np.median(lags)), "p99": float(np.percentile(lags, 99)), "max": max(lags)}


def gil_stall(x, params: UMAPParams) -> dict[str, dict[str, float]]:
    """The main thread's delays while UMAP runs in a thread, and in a child process (as the workbench runs it)."""
    import tempfile

    out = {}
    busy = threading.Event()
    busy.set()
    t = time.perf_counter()
    threading.Thread(target=lambda: (embed(x, params), busy.clear())).start()
    out["UMAP in a thread"] = {**_probe(busy), "seconds": time.perf_counter() - t}
    with tempfile.TemporaryDirectory() as tmp:
        emb = BackgroundEmbedding.for_array(x, cache_dir=tmp, params=params)
        busy.set()
        emb.subscribe(lambda _e: busy.clear())
        t = time.perf_counter()
        emb.start()
        out["UMAP in a child process"] = {**_probe(busy), "seconds": time.perf_counter() - t}
    return out


def retrain_stall(features, emb, truth, *, labels: int = 100, batch: int = 10) -> dict[str, float]:
    """The main thread's delays while the learner retrains (k-means, label spreading) in its worker thread."""
    learner = active.ActiveLearner(features, embedding=emb, retrain_every=batch, batch=batch)
    learner.wait()
    delays = []
    while len(learner.labels) < labels:
        for item in learner.next_items(batch):
            learner.teach(item, truth[item])
        busy = threading.Event()
        busy.set()
        threading.Thread(target=lambda: (learner.wait(), busy.clear())).start()
        delays.append(_probe(busy))
    learner.close()
    seconds = [h["seconds"] for h in learner.history]
    return {"p50": float(np.median([d["p50"] for d in delays])), "p99": float(np.median([d["p99"] for d in delays])),
            "max": max(d["max"] for d in delays), "seconds": float(np.median(seconds))}


# ------------------------------------------------------------------ printing
def cell(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return f"{'-':>14}"
    return f"{np.mean(values):>7.1%} ± {np.std(values) * 100:>3.1f}"


def table(title, rows: dict[str, dict[int, list[float]]], budgets) -> None:
    print(title)
    print(f"  {'':<28}" + "".join(f"{f'{b} labels':>15}" for b in budgets))
    for name, by_budget in rows.items():
        print(f"  {name:<28}" + "".join(f"{cell(by_budget.get(b, [])):>15}" for b in budgets))
    print(flush=True)


def load_mnist(workspace: str | None):
    from mlaas_kernel import data

    ds = data.ingest("mnist", workspace_dir=workspace or Path(__file__).resolve().parent / "results" / "workspace", progress=False)
    return ds, np.asarray(ds.images()), ds.labels().astype(str)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--batch", type=int, default=10, help="labels asked for between retrains")
    parser.add_argument("--strategies", default=",".join(NEW), help="from: " + ", ".join(NEW))
    parser.add_argument("--cnn", default="typical+margin", help="strategies whose labels also train the CNN ('' for none)")
    parser.add_argument("--cnn-budgets", default="100,300", help="label counts at which the CNN is trained (each fit takes about a minute)")
    parser.add_argument("--cnn-epochs", type=int, default=4)
    parser.add_argument("--no-reference", action="store_true", help="skip the SVM reference strategies")
    parser.add_argument("--gil", action="store_true", help="also measure what UMAP in a thread costs the main thread")
    parser.add_argument("--gil-only", action="store_true")
    args = parser.parse_args(argv)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    cnn_for = {s.strip() for s in args.cnn.split(",") if s.strip()}
    cnn_budgets = {int(b) for b in args.cnn_budgets.split(",") if b.strip()}

    ds, images, truth = load_mnist(os.environ.get("MLAAS_WORKSPACE"))
    print(f"MNIST ({ds.manifest.get('mnist_source', '?')}, {len(truth):,} digits): for each of {args.seeds} seeds, 2,000 held out and a pool of {len(truth) - 2000:,}")
    print(f"machine: {os.cpu_count()} cores, no GPU used by the models scored here; batches of {args.batch} labels, one retrain per batch\n")
    if args.gil or args.gil_only:
        sample = images[:3000]
        print(f"the main thread's wake-up delay for a 5 ms sleep (median / p99 / worst) while UMAP embeds {len(sample):,} digits:")
        for where, d in gil_stall(sample, UMAPParams.for_images(sample.shape)).items():
            print(f"  {where:<26} {d['p50'] * 1000:6.1f} / {d['p99'] * 1000:6.1f} / {d['max'] * 1000:7.1f} ms  ({d['seconds']:.0f} s)")
        print(flush=True)

    t = time.perf_counter()
    emb = BackgroundEmbedding.for_dataset(ds).start()
    cached = emb.pid is None
    if not emb.wait():
        raise SystemExit(f"embedding failed: {emb.error}")
    print(f"embedding: {emb.describe()}; {'read from the cache' if cached else 'computed now'} in {time.perf_counter() - t:.1f} s: {emb.path.name}")
    emb_all = emb.value
    cnn_images = deskew(images) if emb.params.deskew else images
    t = time.perf_counter()
    features = active.image_features(images, random_state=0)
    print(f"PCA-50 features (learner's fallback and the SVM's input) in {time.perf_counter() - t:.1f} s\n", flush=True)
    if args.gil or args.gil_only:
        d = retrain_stall(features[:8000], emb_all[:8000], truth)
        print(f"while the learner retrains on 8,000 digits (median {d['seconds']:.1f} s per retrain, k-means and label spreading in its thread):")
        print(f"  main thread's delay, median / p99 / worst: {d['p50'] * 1000:.1f} / {d['p99'] * 1000:.1f} / {d['max'] * 1000:.1f} ms\n", flush=True)
        if args.gil_only:
            return 0

    spread_rows = {s: {b: [] for b in budgets} for s in strategies}
    cnn_rows = {s: {b: [] for b in budgets} for s in strategies if s in cnn_for}
    svm_rows = {s: {b: [] for b in budgets} for s in ([] if args.no_reference else REFERENCE)}
    seconds: dict[str, float] = {}
    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(len(truth))
        held_out, pool = order[:2000], np.sort(order[2000:])
        for strategy in strategies:
            t = time.perf_counter()
            snapshots = new_strategy(strategy, seed=seed, pool=pool, held_out=held_out, truth=truth, features=features, emb_all=emb_all,
                                     budgets=budgets, batch=args.batch)
            seconds[f"choose labels: {strategy}"] = seconds.get(f"choose labels: {strategy}", 0.0) + time.perf_counter() - t
            for b in budgets:
                t = time.perf_counter()
                acc, pseudo, _conf = spread_accuracy(emb_all, snapshots[b], held_out, truth)
                spread_rows[strategy][b].append(acc)
                seconds["spread"] = seconds.get("spread", 0.0) + time.perf_counter() - t
                if strategy in cnn_rows and b in cnn_budgets:
                    t = time.perf_counter()
                    cnn_rows[strategy][b].append(cnn_accuracy(cnn_images, pool, snapshots[b], pseudo, held_out, truth, epochs=args.cnn_epochs, seed=seed))
                    seconds["cnn"] = seconds.get("cnn", 0.0) + time.perf_counter() - t
            print(f"  seed {seed} {strategy:<15} spread " + " ".join(f"{spread_rows[strategy][b][-1]:.1%}" for b in budgets)
                  + ("   cnn " + " ".join(f"{cnn_rows[strategy][b][-1]:.1%}" for b in budgets if cnn_rows[strategy][b]) if strategy in cnn_rows else ""), flush=True)
        for strategy in svm_rows:
            t = time.perf_counter()
            result = reference_strategy(strategy, seed=seed, pool=pool, held_out=held_out, truth=truth, features=features, budgets=budgets, batch=args.batch)
            seconds[f"reference: {strategy}"] = seconds.get(f"reference: {strategy}", 0.0) + time.perf_counter() - t
            for b in budgets:
                svm_rows[strategy][b].append(result["curve"][b])
            print(f"  seed {seed} svm {strategy:<18} " + " ".join(f"{result['curve'][b]:.1%}" for b in budgets) + f"  ({result['retrains']} retrains)", flush=True)
    print()
    table("held-out accuracy, label spreading over the UMAP embedding (transductive), mean ± sd over seeds:", {f"spread: {s}": r for s, r in spread_rows.items()}, budgets)
    if cnn_rows:
        table(f"held-out accuracy, CNN on {'deskewed ' if emb.params.deskew else ''}images, labels + spreading's pseudo-labels ({args.cnn_epochs} epochs; inductive: never sees the held-out digits):",
              {f"cnn: {s}": r for s, r in cnn_rows.items()}, budgets)
    if svm_rows:
        table("reference (before): RBF SVM on PCA-50 trained on the labels only, 10 random labels first:", {f"svm: {s}": r for s, r in svm_rows.items()}, budgets)
    for b, target in TARGETS.items():
        if b in budgets:
            best = max(((np.mean(r[b]), name) for rows, kind in ((spread_rows, "spread"), (cnn_rows, "cnn")) for name0, r in rows.items()
                        for name in [f"{kind}: {name0}"] if r[b]), default=(float("nan"), "-"))
            print(f"target {target:.0%} with {b} labels: best {best[0]:.1%} ({best[1]}): {'met' if best[0] >= target else 'NOT met'}")
    print("\nseconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
