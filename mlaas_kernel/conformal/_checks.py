"""Input checks shared by the scores and the predictor: one error type, messages that name the input."""

from __future__ import annotations

import math
import sys

import numpy as np

__all__ = ["ConformalInputError", "check_significance", "check_matrix", "min_calibration"]


class ConformalInputError(ValueError):
    """Bad input to conformal prediction (a significance, probabilities, scores, a calibration set).

    ``cli`` is the message in the command line's words (``--embedding RUN`` where the library says
    ``embedding=RUN``); it is the message itself when both say the same.
    """

    def __init__(self, message: str, *, cli: str | None = None):
        super().__init__(message)
        self.cli = cli or message


def check_significance(significance) -> float:
    """``significance`` as a float strictly between 0 and 1, or a clear error."""
    try:
        value = float(significance)
    except (TypeError, ValueError):
        raise ConformalInputError(f"significance {significance!r} is not a number: give a level in (0, 1), e.g. 0.05") from None
    if not 0.0 < value < 1.0 or math.isnan(value):
        raise ConformalInputError(f"significance {significance!r} is outside (0, 1): it is the error rate you accept, e.g. 0.05 for 95 % coverage")
    return value


def min_calibration(significance: float) -> int:
    """The fewest calibration scores for which a set can leave a class out at ``significance``.

    A p-value is at least 1/(n+1); with n < 1/significance - 1 every p-value exceeds the
    significance and every set holds every class.
    """
    need = 1.0 / significance - 1.0 - 1e-9
    # a significance so small that 1/significance overflows (5e-324) needs more scores than any store holds
    return max(1, math.ceil(need)) if math.isfinite(need) else sys.maxsize


def check_matrix(values, *, name: str, n_classes: int | None = None, classes=None) -> np.ndarray:
    """A 2-D float matrix without NaN, with one column per class when ``n_classes`` is given."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ConformalInputError(f"{name} must be a 2-D matrix (items x classes), got shape {arr.shape}")
    if n_classes is not None and arr.shape[1] != n_classes:
        named = f" ({', '.join(map(str, classes))})" if classes is not None else ""
        raise ConformalInputError(f"{name} has {arr.shape[1]} columns but there are {n_classes} classes{named}: "
                                  "give one column per class, in the classes' order")
    if np.isnan(arr).any():
        rows = np.flatnonzero(np.isnan(arr).any(axis=1))
        raise ConformalInputError(f"{name} holds NaN in {len(rows)} row(s) (first: row {rows[0]}): a model or score "
                                  "that gives NaN cannot be calibrated")
    return arr
