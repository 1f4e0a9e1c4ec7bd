"""Active learning on MNIST with a simulated annotator: accuracy against labels, per strategy.

The annotator answers with the true labels of the MNIST test set (the bundled 10,000 digits,
or the full set when it was downloaded). A fixed, seeded 2,000 are held out for scoring; the
rest is the pool. Every strategy starts from the same 10 random labels, then asks for batches
of ``--batch`` items, retraining after each. Printed: held-out accuracy at several label
counts and the labels needed to reach 90 %, 95 % and 97 %; the curves go to an HTML plot.

    python bench/label_active.py                   # both models, up to 1,000 labels
    python bench/label_active.py --model lr --max-labels 500
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlaas_kernel import active  # noqa: E402

STRATEGIES = ["random", "least_confidence", "margin", "entropy", "margin+diversity"]
TARGETS = (0.90, 0.95, 0.97)
CHECKPOINTS = (100, 200, 300, 500, 1000)


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


MODELS = {
    "lr": ("logistic regression on PCA-50 (the workbench default)", active.default_model),
    "svm": ("RBF SVM on PCA-50", SVMProba),
}


def load_mnist():
    from mlaas_kernel import data

    ds = data.ingest("mnist", workspace_dir=os.environ.get("MLAAS_WORKSPACE") or Path(__file__).resolve().parent / "results" / "workspace", progress=False)
    return np.asarray(ds.images()), ds.labels().astype(str), ds.manifest.get("mnist_source", "?")


def run(strategy: str, model, features, truth, pool, held_out, *, max_labels: int, batch: int, seed: int):
    diversity = strategy.endswith("+diversity")
    learner = active.ActiveLearner(
        features[pool], items=pool, model=model, strategy=strategy.split("+")[0], retrain_every=batch,
        holdout=(features[held_out], truth[held_out]), diversity=diversity, batch=batch, random_state=seed,
    )
    start = np.random.default_rng(seed).choice(pool, size=10, replace=False)
    for item in start:
        learner.teach(int(item), truth[item])
    learner.retrain()
    while len(learner.labels) < max_labels:
        for item in learner.next_items(min(batch, max_labels - len(learner.labels))):
            learner.teach(item, truth[item])  # the simulated annotator is always right
        learner.wait()
        learner.retrain()
    learner.close()
    curve = {}
    for h in learner.history:
        curve[h["labels"]] = h["accuracy"]
    return curve


def first_reaching(curve: dict[int, float], target: float) -> int | None:
    for n in sorted(curve):
        if curve[n] >= target:
            return n
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=[*MODELS, "both"], default="both")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, from: " + ", ".join(STRATEGIES))
    parser.add_argument("--max-labels", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10, help="labels asked for between retrains")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--html", default=str(Path(__file__).resolve().parent / "results" / "label_active.html"))
    args = parser.parse_args(argv)

    images, truth, source = load_mnist()
    order = np.random.default_rng(args.seed).permutation(len(truth))
    held_out, pool = order[:2000], np.sort(order[2000:])
    t = time.perf_counter()
    features = active.image_features(images, random_state=args.seed)
    print(f"MNIST ({source}, {len(truth):,} digits): pool {len(pool):,}, held out {len(held_out):,}; PCA-50 features in {time.perf_counter() - t:.1f} s")
    print(f"machine: {os.cpu_count()} cores; start: 10 random labels, then batches of {args.batch}\n")

    models = list(MODELS) if args.model == "both" else [args.model]
    curves: dict[tuple[str, str], dict[int, float]] = {}
    for model_name in models:
        description, factory = MODELS[model_name]
        print(f"model: {description}")
        header = f"  {'strategy':<18}" + "".join(f"{f'@{c}':>8}" for c in CHECKPOINTS if c <= args.max_labels)
        header += "".join(f"{f'to {int(t * 100)}%':>9}" for t in TARGETS) + f"{'seconds':>9}"
        print(header)
        for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
            t = time.perf_counter()
            curve = run(strategy, factory, features, truth, pool, held_out, max_labels=args.max_labels, batch=args.batch, seed=args.seed)
            seconds = time.perf_counter() - t
            curves[(model_name, strategy)] = curve
            row = f"  {strategy:<18}"
            for c in CHECKPOINTS:
                if c <= args.max_labels:
                    row += f"{curve.get(c, float('nan')):>8.1%}"
            for target in TARGETS:
                n = first_reaching(curve, target)
                row += f"{(str(n) if n else '-'):>9}"
            print(row + f"{seconds:>9.1f}", flush=True)
        print()
    print("columns: held-out accuracy after N labels; labels needed to first reach 90/95/97 % ('-': not within --max-labels)")

    import plotly.graph_objects as go

    fig = go.Figure()
    for (model_name, strategy), curve in curves.items():
        xs = sorted(curve)
        fig.add_scatter(x=xs, y=[curve[x] for x in xs], mode="lines", name=f"{model_name}: {strategy}")
    fig.update_layout(title=f"Active learning on MNIST ({source}), held-out accuracy", xaxis_title="labels", yaxis_title="accuracy", yaxis_tickformat=".0%")
    Path(args.html).parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(args.html, include_plotlyjs="cdn")
    print(f"curves: {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
