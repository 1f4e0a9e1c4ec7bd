"""Classification numbers, all from scikit-learn's metrics except the expected calibration error.

Inputs are the true class of each item as an index into ``classes`` and the model's class
probabilities (``predict_proba``), one column per class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

N_BINS = 10


@dataclass
class Calibration:
    """Top-label calibration over equal-width confidence bins: the reliability diagram's numbers."""

    edges: np.ndarray  # n_bins + 1 edges over [0, 1]
    counts: np.ndarray  # items per bin
    accuracy: np.ndarray  # fraction right per bin (nan where empty)
    confidence: np.ndarray  # mean top-label probability per bin (nan where empty)
    ece: float


@dataclass
class ClassificationMetrics:
    """Every number of a classification evaluation (see :func:`classification_metrics`)."""

    classes: list[str]
    accuracy: float
    macro_f1: float
    per_class: Any  # pandas table: class, precision, recall, f1, support, roc_auc, average_precision
    confusion: np.ndarray  # counts, rows = true class, columns = predicted class
    roc: dict[str, tuple[np.ndarray, np.ndarray]]  # class -> (false positive rate, true positive rate)
    pr: dict[str, tuple[np.ndarray, np.ndarray]]  # class -> (recall, precision)
    roc_auc_macro: float
    pr_auc_macro: float
    calibration: Calibration
    n_items: int
    notes: list[str] = field(default_factory=list)

    @property
    def confusion_normalised(self) -> np.ndarray:
        """Each row divided by its total: the fraction of a true class predicted as each class."""
        totals = self.confusion.sum(axis=1, keepdims=True)
        return np.divide(self.confusion, totals, out=np.zeros(self.confusion.shape), where=totals > 0)

    def as_dict(self) -> dict:
        """The numbers as plain JSON-ready values (curves left out)."""
        c = self.calibration
        return {"n_items": self.n_items, "accuracy": self.accuracy, "macro_f1": self.macro_f1, "ece": c.ece,
                "roc_auc_macro": _nan_none(self.roc_auc_macro), "pr_auc_macro": _nan_none(self.pr_auc_macro),
                "classes": self.classes, "confusion_matrix": self.confusion.tolist(),
                "per_class": [{k: _nan_none(v) for k, v in row.items()} for row in self.per_class.to_dict("records")],
                "calibration": {"edges": c.edges.tolist(), "counts": c.counts.tolist(),
                                "accuracy": [_nan_none(v) for v in c.accuracy], "confidence": [_nan_none(v) for v in c.confidence]},
                "notes": self.notes}


def _nan_none(value):
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def bin_index(confidence: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """The equal-width bin of each confidence in [0, 1], numbered as scikit-learn's
    ``calibration_curve(strategy="uniform")`` numbers them (a value on an inner edge goes to the upper bin)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], np.asarray(confidence, dtype=float), side="right")


def calibration(correct: np.ndarray, confidence: np.ndarray, *, n_bins: int = N_BINS) -> Calibration:
    """Reliability bins and the expected calibration error of top-label confidences.

    ECE = sum over bins of (items in bin / all items) * |accuracy in bin - mean confidence in bin|,
    with ``n_bins`` equal-width bins over [0, 1] (Guo et al., 2017, "On Calibration of Modern
    Neural Networks", eq. 3). Empty bins add nothing.
    """
    correct = np.asarray(correct, dtype=float)
    confidence = np.asarray(confidence, dtype=float)
    if len(correct) == 0:
        raise ValueError("no items to calibrate")
    idx = bin_index(confidence, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / counts
        conf = np.bincount(idx, weights=confidence, minlength=n_bins) / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] / len(correct) * np.abs(acc[filled] - conf[filled])))
    return Calibration(np.linspace(0.0, 1.0, n_bins + 1), counts, acc, conf, ece)


def classification_metrics(y_true, proba, classes, *, n_bins: int = N_BINS) -> ClassificationMetrics:
    """Confusion matrix, per-class precision/recall/F1, one-vs-rest ROC and PR curves with their
    AUCs, and calibration, for items ``y_true`` (class indices) scored ``proba`` (n_items x n_classes).

    A class with no item (or with every item) in ``y_true`` has no ROC/PR curve: its AUCs are NaN
    and the macro averages leave it out, with a note.
    """
    import pandas as pd
    from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix, precision_recall_curve,
                                 precision_recall_fscore_support, roc_auc_score, roc_curve)

    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    names = [str(c) for c in classes]
    if proba.ndim != 2 or proba.shape != (len(y_true), len(names)):
        raise ValueError(f"probabilities have shape {proba.shape}; expected ({len(y_true)}, {len(names)}): one row per item, one column per class")
    if len(y_true) == 0:
        raise ValueError("no items to evaluate")
    labels = np.arange(len(names))
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    roc, pr, roc_auc, ap, notes = {}, {}, np.full(len(names), np.nan), np.full(len(names), np.nan), []
    for k, name in enumerate(names):
        positive = y_true == k
        if positive.all() or not positive.any():
            notes.append(f"class {name}: {'every' if positive.any() else 'no'} item is of this class, so it has no ROC or PR curve")
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, k])
        prec, rec, _ = precision_recall_curve(positive, proba[:, k])
        roc[name], pr[name] = (fpr, tpr), (rec, prec)
        roc_auc[k] = roc_auc_score(positive, proba[:, k])
        ap[k] = average_precision_score(positive, proba[:, k])
    table = pd.DataFrame({"class": names, "precision": precision, "recall": recall, "f1": f1, "support": support.astype(int),
                          "roc_auc": roc_auc, "average_precision": ap})
    return ClassificationMetrics(
        classes=names, accuracy=float(accuracy_score(y_true, y_pred)), macro_f1=float(np.mean(f1)), per_class=table,
        confusion=confusion_matrix(y_true, y_pred, labels=labels), roc=roc, pr=pr,
        roc_auc_macro=_mean_defined(roc_auc), pr_auc_macro=_mean_defined(ap),
        calibration=calibration(y_pred == y_true, proba.max(axis=1), n_bins=n_bins), n_items=len(y_true), notes=notes)


def _mean_defined(values: np.ndarray) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else float("nan")


def confidently_wrong(y_true, proba, n: int) -> np.ndarray:
    """Positions of the ``n`` wrong predictions made with the highest confidence, most confident first."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    wrong = np.flatnonzero(proba.argmax(axis=1) != y_true)
    order = np.argsort(-proba[wrong].max(axis=1), kind="stable")
    return wrong[order][: max(int(n), 0)]
