"""Active learning: which item to label next, and a learner that retrains off the UI thread.

The query strategies are pure functions of predicted probabilities (rows: items, columns:
classes) that return the positions of the items to ask about, most useful first.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Sequence

from . import compute
from ._registry import Registry

__all__ = [
    "ActiveLearner",
    "STRATEGIES",
    "default_model",
    "entropy",
    "image_features",
    "least_confidence",
    "margin",
    "random_sampling",
    "select",
]


def _proba(p):
    import numpy as np

    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be (items, classes) with 2+ classes, got shape {p.shape}")
    return p


def least_confidence(proba) -> Any:
    """1 - the top probability: high where the model's best guess is weak."""
    p = _proba(proba)
    return 1.0 - p.max(axis=1)


def margin(proba) -> Any:
    """Minus the gap between the two top probabilities: high where two classes are close."""
    import numpy as np

    p = np.sort(_proba(proba), axis=1)
    return -(p[:, -1] - p[:, -2])


def entropy(proba) -> Any:
    """Shannon entropy of the predicted distribution."""
    import numpy as np

    p = _proba(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)


def random_sampling(proba) -> Any:
    """No preference: every item scores 0 (ties are broken at random by :func:`select`)."""
    import numpy as np

    return np.zeros(len(_proba(proba)))


STRATEGIES: Registry[Callable] = Registry("query strategy", entry_point_group="mlaas.strategies")
for _name, _fn in [("random", random_sampling), ("least_confidence", least_confidence), ("margin", margin), ("entropy", entropy)]:
    STRATEGIES.register(_name, _fn)


def select(proba, n: int, *, strategy: str = "margin", random_state: int | None = None, embeddings=None, candidates: int = 5) -> Any:
    """Positions of the ``n`` most useful items under ``strategy``, best first.

    Ties are broken at random (``random_state``). With ``embeddings`` (one row per item), a
    diversity step takes the ``n * candidates`` best, clusters them into ``n`` groups with
    k-means and keeps the best of each group, so a batch holds no near-duplicates.
    """
    import numpy as np

    scores = np.asarray(STRATEGIES.get(strategy)(proba), dtype=np.float64)
    rng = np.random.default_rng(random_state)
    n = min(int(n), len(scores))
    order = np.lexsort((rng.random(len(scores)), -scores))  # by score, then random
    if embeddings is None or n <= 1 or strategy == "random":
        return order[:n]
    pool = order[: min(len(order), n * candidates)]
    km = compute.estimator("KMeans", n_clusters=n, n_init=1, random_state=random_state)
    groups = np.asarray(km.fit_predict(np.asarray(embeddings)[pool]))
    best = [pool[groups == g][0] for g in np.unique(groups)]  # pool is sorted best first
    best = sorted(best, key=lambda i: -scores[i])
    chosen = set(best)
    best += [i for i in pool if i not in chosen][: n - len(best)]
    return np.asarray(best[:n])


def image_features(images, *, n_components: int = 50, random_state: int = 0):
    """Flattened images scaled to [0, 1] and reduced by PCA (cuML on a GPU): the default features."""
    import numpy as np

    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1) / 255.0
    k = min(n_components, x.shape[1], len(x))
    return np.asarray(compute.estimator("PCA", n_components=k, random_state=random_state).fit_transform(x), dtype=np.float32)


def default_model():
    """Logistic regression through the compute layer (cuML on a GPU): fast to refit."""
    return compute.estimator("LogisticRegression", max_iter=500, C=1.0)


class ActiveLearner:
    """Ranks unlabeled items and retrains a model in the background every ``retrain_every`` labels.

    ``teach()`` only records a label and may start a retrain in a worker thread; it never
    waits for one. When a retrain ends, the ranking, the suggestions and ``history`` are
    swapped in at once and ``on_update`` callbacks run.

    Parameters
    ----------
    features:
        One row of features per item; item ids are the row positions unless ``items`` is given.
    model:
        A zero-argument factory of an estimator with ``fit`` and ``predict_proba``.
    strategy:
        A name in :data:`STRATEGIES`.
    retrain_every:
        Labels between retrains.
    holdout:
        Optional ``(features, labels)`` on which each retrained model is scored (the learning curve).
    diversity:
        Use the k-means diversity step when ranking a batch.
    """

    def __init__(self, features, *, items: Sequence[int] | None = None, model: Callable[[], Any] = default_model,
                 strategy: str = "margin", retrain_every: int = 10, batch: int = 50, holdout=None,
                 diversity: bool = False, random_state: int = 0):
        import numpy as np

        STRATEGIES.get(strategy)  # a bad name fails here, listing the valid ones
        self.features = np.asarray(features)
        self.items = np.asarray(items if items is not None else np.arange(len(self.features)))
        if len(self.items) != len(self.features):
            raise ValueError(f"{len(self.items)} item ids for {len(self.features)} feature rows")
        self._pos = {int(i): p for p, i in enumerate(self.items)}
        self.model_factory, self.strategy, self.retrain_every, self.batch = model, strategy, retrain_every, batch
        self.holdout, self.diversity, self.random_state = holdout, diversity, random_state
        self.labels: dict[int, str] = {}
        self.history: list[dict] = []
        self.on_update: list[Callable[["ActiveLearner"], None]] = []
        self._lock = threading.Lock()
        self._since_retrain = 0
        self._ranking = list(np.random.default_rng(random_state).permutation(self.items).tolist())
        self._suggestions: dict[int, tuple[str, float]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlaas-retrain")
        self._future: Future | None = None
        self.model_ = None
        self.classes_: list[str] = []
        self.retrains = 0

    # ---------------------------------------------------------- the UI side: never blocks
    def teach(self, item: int, label: str) -> None:
        """Record a label; start a background retrain when ``retrain_every`` have come in."""
        with self._lock:
            self.labels[int(item)] = str(label)
            self._since_retrain += 1
            due = self._since_retrain >= self.retrain_every
        if due:
            self.retrain_async()

    def forget(self, item: int) -> None:
        """Drop a label (after an undo)."""
        with self._lock:
            self.labels.pop(int(item), None)

    def next_items(self, k: int = 1, *, exclude: set[int] | frozenset = frozenset()) -> list[int]:
        """The ``k`` items to label next, best first, leaving out labeled ones and ``exclude``."""
        with self._lock:
            ranking, labeled = self._ranking, set(self.labels)
        out = []
        for item in ranking:
            if item not in labeled and item not in exclude:
                out.append(item)
                if len(out) == k:
                    break
        return out

    def suggestion(self, item: int) -> tuple[str, float] | None:
        """The last model's (label, probability) for ``item``, or None before the first model."""
        with self._lock:
            return self._suggestions.get(int(item))

    @property
    def busy(self) -> bool:
        """True while a retrain runs."""
        return self._future is not None and not self._future.done()

    # ---------------------------------------------------------- the worker side
    def retrain_async(self) -> Future | None:
        """Start a retrain in the worker thread unless one is running; returns its future."""
        with self._lock:
            if self._future is not None and not self._future.done():
                return self._future
            if len(set(self.labels.values())) < 2:
                return None
            self._since_retrain = 0
            snapshot = dict(self.labels)
            self._future = self._executor.submit(self._retrain, snapshot)
            return self._future

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running retrain (if any) ends; for scripts and tests, not the UI."""
        future = self._future
        if future is not None:
            future.result(timeout=timeout)

    def retrain(self) -> None:
        """Retrain now, in this thread (batch jobs)."""
        future = self.retrain_async()
        if future is not None:
            future.result()

    def _retrain(self, labels: dict[int, str]) -> None:
        import numpy as np

        started = time.perf_counter()
        items = np.fromiter(labels.keys(), dtype=np.int64)
        y = np.asarray([labels[int(i)] for i in items])
        x = self.features[[self._pos[int(i)] for i in items]]
        model = self.model_factory()
        model.fit(x, y)
        proba = np.asarray(model.predict_proba(self.features))
        classes = [str(c) for c in np.asarray(getattr(model, "classes_", sorted(set(y))))]
        unlabeled = np.fromiter((int(i) not in labels for i in self.items), dtype=bool, count=len(self.items))
        pos = np.flatnonzero(unlabeled)
        order = pos[select(proba[pos], len(pos), strategy=self.strategy, random_state=self.random_state)] if len(pos) else pos
        if self.diversity and len(pos) > self.batch:
            head = select(proba[pos], self.batch, strategy=self.strategy, random_state=self.random_state, embeddings=self.features[pos])
            first = pos[head]
            taken = set(first.tolist())
            rest = [p for p in order if p not in taken]
            order = np.concatenate([first, np.asarray(rest, dtype=np.int64)])
        top = proba.argmax(axis=1)
        suggestions = {int(self.items[p]): (classes[top[p]], float(proba[p, top[p]])) for p in range(len(self.items))}
        record = {"labels": len(labels), "seconds": time.perf_counter() - started, "time": time.time()}
        if self.holdout is not None:
            hx, hy = self.holdout
            record["accuracy"] = float(np.mean(np.asarray(model.predict(hx)).astype(str) == np.asarray(hy).astype(str)))
        with self._lock:
            self._ranking = [int(self.items[p]) for p in order]
            self._suggestions = suggestions
            self.model_, self.classes_ = model, classes
            self.history.append(record)
            self.retrains += 1
        for callback in list(self.on_update):
            callback(self)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
