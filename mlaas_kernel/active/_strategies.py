"""Query strategies: pure functions of predicted probabilities (rows: items, columns: classes).

:func:`select` turns their scores into the positions of the items to ask about, most useful first.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import compute
from .._registry import Registry

__all__ = [
    "STRATEGIES",
    "default_model",
    "entropy",
    "image_features",
    "least_confidence",
    "margin",
    "random_sampling",
    "select",
    "top_two",
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


def top_two(proba) -> Any:
    """Column positions of each row's two most probable classes, best first: shape (items, 2)."""
    import numpy as np

    return np.argsort(-_proba(proba), axis=1, kind="stable")[:, :2]


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
