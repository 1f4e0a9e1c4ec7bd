"""How well an embedding separates classes: the silhouette (Euclidean) and k-nearest-neighbour accuracy."""

from __future__ import annotations

import numpy as np

SILHOUETTE_SAMPLES = 2000  # the silhouette is O(n²): a fixed sample of this many items keeps it well under a second


def silhouette(embedding, labels, *, samples: int = SILHOUETTE_SAMPLES, random_state: int = 0) -> float:
    """The mean silhouette of ``embedding`` (rows) under ``labels``, Euclidean, on a fixed sample of
    at most ``samples`` rows (the same rows for the same data and seed); NaN with fewer than 2 classes."""
    from sklearn.metrics import silhouette_score

    emb = np.asarray(embedding, dtype=np.float32)
    labels = np.asarray(labels)
    n_classes = len(np.unique(labels))
    if n_classes < 2 or n_classes >= len(labels):
        return float("nan")
    size = min(int(samples), len(labels))
    if size < len(labels):
        pick = np.random.default_rng(random_state).choice(len(labels), size, replace=False)
        emb, labels = emb[pick], labels[pick]
        if len(np.unique(labels)) < 2:
            return float("nan")
    return float(silhouette_score(emb, labels, metric="euclidean"))


def knn_accuracy(train_embedding, train_labels, embedding, labels, *, k: int = 5) -> float:
    """Accuracy of a ``k``-nearest-neighbour vote among the training embedding's labels."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=min(k, len(train_labels))).fit(train_embedding, train_labels)
    return float(knn.score(embedding, labels))
