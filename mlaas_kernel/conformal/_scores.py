"""Nonconformity scores: how strange each candidate class is for an item (higher = stranger).

Every scorer has ``classes_`` and ``score(X)``, returning an (items x classes) matrix; the
predictor calibrates on the true class's column and never needs to know which score it has.

- :class:`LAC` (least ambiguous set-valued classifier): ``1 - p(y)`` from a model's probabilities.
- :class:`APS` (adaptive prediction sets, Romano et al. 2020): the probability mass of the classes
  ranked at least as high as ``y``, randomised by default (``- u * p(y)``, ``u`` uniform, the form
  MAPIE uses) so sets are not needlessly large.
- :class:`KNNScore` (Papadopoulos et al.; the seed paper, arXiv 2003.05107, applies it to a siamese
  embedding): the sum of distances to the ``k`` nearest reference items of class ``y`` over the
  sum of distances to the ``k`` nearest reference items of the other classes, on ANY feature
  matrix (an embedding, PCA components, raw pixels). The reference items must be the model's
  training items, never the calibration items.
"""

from __future__ import annotations

import numpy as np

from ._checks import ConformalInputError, check_matrix

__all__ = ["APS", "KNNScore", "LAC", "SCORES", "label_index"]


def label_index(classes, y) -> np.ndarray:
    """The column of each label of ``y`` among ``classes``; a label that is not a class is an error."""
    classes = np.asarray(classes)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    y = np.asarray(y)
    try:
        return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=len(y))
    except KeyError as err:
        raise ConformalInputError(f"label {err.args[0]!r} is not one of the classes ({', '.join(map(str, classes))})") from None


class _SoftmaxScore:
    """A score from a model's class probabilities (``predict_proba``), one column per class."""

    name = "softmax"

    def __init__(self, classes):
        self.classes_ = np.asarray(classes)
        if len(self.classes_) < 2:
            raise ConformalInputError(f"{len(self.classes_)} class(es) given: conformal classification needs at least 2")

    def _proba(self, proba) -> np.ndarray:
        p = check_matrix(proba, name="probabilities", n_classes=len(self.classes_), classes=self.classes_)
        if (p < -1e-6).any() or (p > 1 + 1e-6).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
            raise ConformalInputError("probabilities must lie in [0, 1] and sum to 1 in each row (pass predict_proba's output, not logits)")
        return p

    def settings(self) -> dict:
        return {"score": self.name}


class LAC(_SoftmaxScore):
    """``1 - p(y)``: the smallest sets on average (Sadinle et al. 2019)."""

    name = "lac"

    def score(self, proba) -> np.ndarray:
        return 1.0 - self._proba(proba)


class APS(_SoftmaxScore):
    """Cumulative probability of the classes ranked at least as high as ``y``.

    ``randomized`` subtracts ``u * p(y)`` with ``u`` drawn per item from ``random_state``
    (``np.random.RandomState(random_state).uniform``, as MAPIE draws it).
    """

    name = "aps"

    def __init__(self, classes, *, randomized: bool = True, random_state: int | None = 0):
        super().__init__(classes)
        self.randomized = randomized
        self.random_state = random_state
        self._rng = np.random.RandomState(random_state)

    def score(self, proba) -> np.ndarray:
        p = self._proba(proba)
        order = np.argsort(-p, axis=1, kind="stable")
        cumulative = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)
        scores = np.empty_like(p)
        np.put_along_axis(scores, order, cumulative, axis=1)
        if self.randomized:
            scores -= self._rng.uniform(size=len(p))[:, None] * p
        return scores

    def settings(self) -> dict:
        return {"score": self.name, "randomized": self.randomized, "random_state": self.random_state}


class KNNScore:
    """kNN nonconformity on a feature matrix: (distances to the k nearest of class y) / (to the k nearest of the others).

    ``fit(features, labels)`` takes the reference items (the model's training items);
    ``score(features)`` any items' features, in the same space.
    """

    name = "knn"

    def __init__(self, *, k: int = 10):
        if int(k) < 1:
            raise ConformalInputError(f"k={k!r}: the kNN score needs at least 1 neighbour")
        self.k = int(k)

    def fit(self, features, labels) -> "KNNScore":
        from sklearn.neighbors import NearestNeighbors

        x = check_matrix(features, name="reference features")
        labels = np.asarray(labels)
        if len(labels) != len(x):
            raise ConformalInputError(f"{len(x)} reference feature rows but {len(labels)} labels")
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ConformalInputError("the kNN reference items hold a single class: it needs at least 2")
        counts = {c: int((labels == c).sum()) for c in self.classes_.tolist()}
        small = {c: n for c, n in counts.items() if n < self.k}
        if small:
            raise ConformalInputError(f"k={self.k} but class(es) {small} have fewer reference items: lower k")
        self.n_features_in_ = x.shape[1]
        self.neighbours_ = [NearestNeighbors(n_neighbors=self.k).fit(x[labels == c]) for c in self.classes_]
        return self

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        """(items, classes, k) sorted distances to each class's k nearest reference items."""
        return np.stack([nn.kneighbors(x, return_distance=True)[0] for nn in self.neighbours_], axis=1)

    def score(self, features) -> np.ndarray:
        if not hasattr(self, "neighbours_"):
            raise ConformalInputError("the kNN score has no reference items yet: call fit(training features, training labels) first")
        x = check_matrix(features, name="features", n_classes=None)
        if x.shape[1] != self.n_features_in_:
            raise ConformalInputError(f"features have {x.shape[1]} columns; the reference items had {self.n_features_in_}")
        near = self._nearest(x)
        own = near.sum(axis=2)
        n_classes = near.shape[1]
        # The k nearest of "all other classes" lie among the per-class k nearest of those classes.
        others = np.empty_like(own)
        for c in range(n_classes):
            pool = np.delete(near, c, axis=1).reshape(len(x), -1)
            others[:, c] = np.partition(pool, self.k - 1, axis=1)[:, : self.k].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = own / others
        ratio[(own == 0) & (others == 0)] = 1.0  # duplicates of items of several classes: as strange as any
        return ratio

    def settings(self) -> dict:
        return {"score": self.name, "k": self.k}


SCORES = {"lac": LAC, "aps": APS, "knn": KNNScore}
