"""The calibrated conformal classifier: sets, set sizes and p-values per class for any score."""

from __future__ import annotations

import time

import numpy as np

from ._checks import ConformalInputError, check_matrix, check_significance, min_calibration
from ._pvalues import p_values, prediction_sets
from ._scores import APS, LAC, label_index

__all__ = ["ConformalClassifier"]


class ConformalClassifier:
    """Inductive (split) conformal classification over a nonconformity ``scorer``.

    ``calibrate(X, y)`` on held-out items (never the model's training items); then
    ``predict_set(X, significance)`` returns sets that miss the true class at most a fraction
    ``significance`` of the time, on average over calibration and test draws. ``mondrian=True``
    calibrates each class on its own items, so the guarantee holds for each class.
    ``smoothing`` uses smoothed p-values (exact coverage, ties broken at random).
    ``X`` is whatever the scorer takes: probabilities for :class:`LAC`/:class:`APS`, features for
    :class:`KNNScore`; the ``*_scores`` methods take a ready score matrix instead.
    """

    def __init__(self, scorer, *, mondrian: bool = False, smoothing: bool = True, random_state: int | None = 0):
        self.scorer = scorer
        self.mondrian = mondrian
        self.smoothing = smoothing
        self.random_state = random_state
        self._rng = np.random.RandomState(random_state)

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.scorer.classes_)

    def calibrate(self, X, y) -> "ConformalClassifier":
        """Calibrate on held-out items ``X`` with true labels ``y``."""
        return self.calibrate_scores(self.scorer.score(X), y)

    def calibrate_scores(self, scores, y) -> "ConformalClassifier":
        """Calibrate on a score matrix (items x classes) of held-out items with labels ``y``."""
        started = time.perf_counter()
        s = check_matrix(scores, name="calibration scores", n_classes=len(self.classes_), classes=self.classes_)
        idx = label_index(self.classes_, y)
        if len(idx) != len(s):
            raise ConformalInputError(f"{len(s)} calibration items but {len(idx)} labels")
        self.cal_scores_ = s[np.arange(len(s)), idx]
        self.cal_labels_ = idx
        self.calibration_seconds_ = time.perf_counter() - started
        return self

    def _check_ready(self, significance) -> float:
        if not hasattr(self, "cal_scores_"):
            raise ConformalInputError("the conformal classifier is not calibrated: call calibrate(X, y) on held-out items first")
        level = check_significance(significance)
        need = min_calibration(level)
        counts = np.bincount(self.cal_labels_, minlength=len(self.classes_)) if self.mondrian else np.array([len(self.cal_scores_)])
        if counts.min() < need:
            where = (f"class {self.classes_.tolist()[int(counts.argmin())]!r} has {counts.min()} calibration items" if self.mondrian
                     else f"{counts.min()} calibration items")
            raise ConformalInputError(f"{where}, fewer than the {need} needed at significance {level}: with fewer "
                                      f"every set would hold every class (n < 1/significance - 1); calibrate on more items "
                                      "or choose a larger significance")
        return level

    def p_values_scores(self, scores) -> np.ndarray:
        """P-values (items x classes) of a score matrix."""
        if not hasattr(self, "cal_scores_"):
            raise ConformalInputError("the conformal classifier is not calibrated: call calibrate(X, y) on held-out items first")
        s = check_matrix(scores, name="scores", n_classes=len(self.classes_), classes=self.classes_)
        return p_values(self.cal_scores_, s, cal_labels=self.cal_labels_ if self.mondrian else None,
                        smoothing=self.smoothing, random_state=self._rng)

    def p_values(self, X) -> np.ndarray:
        """P-values (items x classes): how typical each class is for each item, against calibration."""
        return self.p_values_scores(self.scorer.score(X))

    def predict_set(self, X, significance: float) -> np.ndarray:
        """Boolean (items x classes) mask of each item's prediction set at ``significance``."""
        level = self._check_ready(significance)
        return prediction_sets(self.p_values(X), level)

    def evaluate_scores(self, scores, y, significance: float) -> dict:
        """Coverage (share of items whose set holds the true class), mean set size and per-class coverage."""
        return self.evaluate_table(scores, y, significance)[0]

    def evaluate(self, X, y, significance: float) -> dict:
        return self.evaluate_scores(self.scorer.score(X), y, significance)

    def evaluate_table(self, scores, y, significance: float, *, ids=None):
        """``(summary, table)`` of :meth:`evaluate_scores` and :meth:`table` from one draw of p-values."""
        level = self._check_ready(significance)
        idx = label_index(self.classes_, y)
        p = self.p_values_scores(scores)
        return summarize(prediction_sets(p, level), idx, level, self.classes_), sets_table(p, level, self.classes_, y=y, ids=ids)

    def table(self, X, significance: float, *, y=None, ids=None):
        """One row per item: its set, the set's size, and the p-value of each class (``p_<class>``);
        with ``y`` also the label and whether the set covers it."""
        return sets_table(self.p_values(X), self._check_ready(significance), self.classes_, y=y, ids=ids)

    def to_dict(self) -> dict:
        """The calibration (settings and scores), as JSON-ready data; :meth:`from_dict` rebuilds it."""
        return {"version": 1, **self.scorer.settings(), "mondrian": self.mondrian, "smoothing": self.smoothing,
                "random_state": self.random_state, "classes": np.asarray(self.classes_).tolist(),
                "calibration_scores": self.cal_scores_.tolist(), "calibration_labels": self.cal_labels_.tolist()}

    @classmethod
    def from_dict(cls, data: dict, *, scorer=None) -> "ConformalClassifier":
        """A calibrated classifier from :meth:`to_dict`'s data; a kNN score needs its fitted ``scorer``."""
        if scorer is None:
            if data["score"] == "lac":
                scorer = LAC(data["classes"])
            elif data["score"] == "aps":
                scorer = APS(data["classes"], randomized=data.get("randomized", True), random_state=data.get("random_state"))
            else:
                raise ConformalInputError(f"a {data['score']!r} calibration needs its fitted scorer (scorer=...)")
        self = cls(scorer, mondrian=data["mondrian"], smoothing=data["smoothing"], random_state=data.get("random_state"))
        self.cal_scores_ = np.asarray(data["calibration_scores"], dtype=np.float64)
        self.cal_labels_ = np.asarray(data["calibration_labels"], dtype=np.int64)
        return self


def summarize(sets: np.ndarray, idx: np.ndarray, level: float, classes) -> dict:
    covered = sets[np.arange(len(idx)), idx]
    sizes = sets.sum(axis=1)
    per_class = {str(c): float(covered[idx == i].mean()) for i, c in enumerate(np.asarray(classes).tolist()) if (idx == i).any()}
    return {"significance": level, "coverage": float(covered.mean()), "mean_set_size": float(sizes.mean()),
            "empty": float((sizes == 0).mean()), "singletons": float((sizes == 1).mean()), "n": int(len(idx)),
            "class_coverage": per_class}


def sets_table(p: np.ndarray, level: float, classes, *, y=None, ids=None):
    import pandas as pd

    classes = np.asarray(classes)
    sets = prediction_sets(p, level)
    frame = pd.DataFrame({"set": [classes[row].tolist() for row in sets], "size": sets.sum(axis=1)},
                         index=pd.Index(ids if ids is not None else np.arange(len(p)), name="item"))
    if y is not None:
        frame["label"] = np.asarray(y)
        frame["covered"] = sets[np.arange(len(p)), label_index(classes, y)]
    for i, c in enumerate(classes.tolist()):
        frame[f"p_{c}"] = p[:, i]
    return frame
