"""Cold start by typical points (TypiClust: Hacohen, Dekel and Weinshall, ICML 2022).

With few labels, the most useful items are not the uncertain ones (the model knows too little
to be usefully uncertain) but the most typical point of each dense region not yet covered.
Cluster an unsupervised embedding into ``labeled + batch`` groups with k-means, so the number
of clusters grows with the budget; in each cluster holding no labeled item, take the point
whose ``k`` nearest neighbours within the cluster are closest on average.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .. import compute

__all__ = ["TypicalPick", "cluster_count", "typical_points", "typicality"]


@dataclass(frozen=True)
class TypicalPick:
    """One chosen item: its row ``position``, its cluster's rank by size (1 = largest) of ``clusters``, and its size."""

    position: int
    rank: int
    clusters: int
    size: int

    def reason(self) -> str:
        return f"typical point of cluster {self.rank} of {self.clusters} ({self.size} items)"


def cluster_count(labeled: int, batch: int, items: int, *, max_clusters: int = 500) -> int:
    """How many clusters for ``labeled`` labels so far and ``batch`` more to come: ``labeled + batch``, capped."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    return max(1, min(int(labeled) + int(batch), int(max_clusters), int(items)))


def typicality(points, *, k: int = 20) -> Any:
    """Inverse mean distance of each point to its ``k`` nearest neighbours among ``points`` (itself excluded)."""
    import numpy as np

    points = np.asarray(points, dtype=np.float64)
    if len(points) < 2:
        return np.ones(len(points))
    k = min(k, len(points) - 1)
    nn = compute.estimator("NearestNeighbors", n_neighbors=k + 1).fit(points)
    dist, _ = nn.kneighbors(points)
    return 1.0 / (np.asarray(dist)[:, 1:].mean(axis=1) + 1e-12)


def typical_points(embedding, n: int, *, labeled: Sequence[int] = (), n_clusters: int | None = None, batch: int | None = None,
                   k: int = 20, max_clusters: int = 500, random_state: int | None = 0) -> list[TypicalPick]:
    """Up to ``n`` picks, one per uncovered cluster, largest clusters first.

    Parameters
    ----------
    embedding:
        One row per item.
    labeled:
        Row positions already labeled: their clusters count as covered.
    n_clusters:
        Clusters to form; by default :func:`cluster_count` of ``len(labeled)`` and ``batch`` (default ``n``).
    k:
        Neighbours in the typicality measure.
    """
    import numpy as np

    emb = np.asarray(embedding, dtype=np.float32)
    if emb.ndim != 2 or len(emb) == 0:
        raise ValueError(f"embedding must be (items, dims) with at least one item, got shape {emb.shape}")
    labeled = np.asarray(sorted(set(int(p) for p in labeled)), dtype=np.int64)
    if n_clusters is None:
        n_clusters = cluster_count(len(labeled), batch or max(int(n), 1), len(emb), max_clusters=max_clusters)
    km = compute.estimator("KMeans", n_clusters=int(n_clusters), n_init=1, random_state=random_state)
    groups = np.asarray(km.fit_predict(emb)).astype(np.int64)
    sizes = np.bincount(groups, minlength=n_clusters)
    covered = set(groups[labeled].tolist())
    by_size = np.argsort(-sizes, kind="stable")
    rank = {int(c): r + 1 for r, c in enumerate(by_size)}
    picks: list[TypicalPick] = []
    for c in by_size:
        if len(picks) >= n or sizes[c] == 0:
            break
        if int(c) in covered:
            continue
        members = np.flatnonzero(groups == c)
        best = members[int(np.argmax(typicality(emb[members], k=k)))]
        picks.append(TypicalPick(int(best), rank[int(c)], int(n_clusters), int(sizes[c])))
    return picks
