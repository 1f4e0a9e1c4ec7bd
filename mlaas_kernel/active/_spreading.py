"""Semi-supervised suggestions: label spreading over the embedding's nearest-neighbour graph.

A handful of labels spread along the k-nearest-neighbour graph of all items (scikit-learn's
``LabelSpreading`` with a kNN kernel; Zhou et al., 2004), so every unlabeled item gets a class
distribution. Its top class pre-fills the labeler; its margin ranks items once the cold start
is over.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["SpreadingModel"]


class SpreadingModel:
    """Label spreading over a fixed embedding; ``fit`` takes ``{row position: label}``.

    Learned: ``classes_`` (sorted label strings), ``proba_`` (one distribution per row; rows the
    labels cannot reach get a uniform one) and ``model_`` (the fitted ``LabelSpreading``, whose
    ``predict`` also takes new points in the same embedding).

    Parameters
    ----------
    embedding:
        One row per item.
    n_neighbors:
        Neighbours in the graph.
    alpha:
        How far a label may change under its neighbours' pull (0: clamped to the given label).
    """

    def __init__(self, embedding, *, n_neighbors: int = 20, alpha: float = 0.2, max_iter: int = 100):
        self.embedding, self.n_neighbors, self.alpha, self.max_iter = embedding, n_neighbors, alpha, max_iter

    def fit(self, labels: Mapping[int, str]) -> "SpreadingModel":
        import numpy as np
        from sklearn.semi_supervised import LabelSpreading

        emb = np.asarray(self.embedding, dtype=np.float64)
        self.classes_ = sorted({str(v) for v in labels.values()})
        if len(self.classes_) < 2:
            raise ValueError(f"label spreading needs labels of at least 2 classes, got {self.classes_}")
        code = {c: i for i, c in enumerate(self.classes_)}
        y = np.full(len(emb), -1, dtype=np.int64)
        for pos, label in labels.items():
            y[int(pos)] = code[str(label)]
        self.model_ = LabelSpreading(kernel="knn", n_neighbors=min(self.n_neighbors, len(emb) - 1), alpha=self.alpha, max_iter=self.max_iter)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.model_.fit(emb, y)
        proba = np.nan_to_num(np.asarray(self.model_.label_distributions_, dtype=np.float64), nan=0.0)
        total = proba.sum(axis=1, keepdims=True)
        unreached = total[:, 0] <= 0
        proba[unreached] = 1.0 / len(self.classes_)
        proba[~unreached] /= total[~unreached]
        self.proba_ = proba
        return self

    def predict_proba(self, positions=None) -> Any:
        """Distributions of the rows at ``positions`` (all rows by default)."""
        import numpy as np

        return self.proba_ if positions is None else self.proba_[np.asarray(positions, dtype=np.int64)]

    def predict(self, positions=None) -> Any:
        import numpy as np

        return np.asarray(self.classes_)[self.predict_proba(positions).argmax(axis=1)]
