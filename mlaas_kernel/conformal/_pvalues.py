"""Conformal p-values from calibration scores, vectorised (searchsorted on the sorted scores).

The formulas are crepes' (``crepes.base.p_values_batch``), so the p-values equal crepes' on the
same scores (a test shows it); crepes loops in Python per item and class, which is too slow for
100 calibration splits of 1,000 items.

For a test score ``s`` and ``n`` calibration scores: ``(#{> s} + u * (#{= s} + 1)) / (n + 1)``
when smoothed (``u`` uniform), ``(#{>= s} + 1) / (n + 1)`` when not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["p_values", "prediction_sets"]


def _against(sorted_cal: np.ndarray, scores: np.ndarray, thetas: np.ndarray | None) -> np.ndarray:
    n = len(sorted_cal)
    below_or_equal = np.searchsorted(sorted_cal, scores, side="right")
    greater = n - below_or_equal
    equal = below_or_equal - np.searchsorted(sorted_cal, scores, side="left")
    if thetas is None:
        return (greater + equal + 1) / (n + 1)
    return (greater + thetas * (equal + 1)) / (n + 1)


def p_values(cal_scores, test_scores, *, cal_labels=None, smoothing: bool = True, random_state=None) -> np.ndarray:
    """P-values (items x classes) of ``test_scores`` against the calibration scores ``cal_scores``.

    ``cal_labels`` (class column of each calibration item) makes it Mondrian: column ``c`` is
    compared with the calibration items of class ``c`` only. ``random_state`` (a seed or a
    ``np.random.RandomState``) draws the smoothing's uniforms, ``rand(items, classes)`` as crepes does.
    """
    cal = np.asarray(cal_scores, dtype=np.float64).ravel()
    test = np.asarray(test_scores, dtype=np.float64)
    thetas = None
    if smoothing:
        rng = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState(random_state)
        thetas = rng.rand(*test.shape)
    if cal_labels is None:
        return _against(np.sort(cal), test, thetas)
    labels = np.asarray(cal_labels)
    out = np.empty(test.shape, dtype=np.float64)
    for c in range(test.shape[1]):
        out[:, c] = _against(np.sort(cal[labels == c]), test[:, c], None if thetas is None else thetas[:, c])
    return out


def prediction_sets(p: np.ndarray, significance: float) -> np.ndarray:
    """The classes whose p-value exceeds the significance (Vovk et al., *Algorithmic Learning in a
    Random World*): a boolean (items x classes) mask. For LAC and non-smoothed p-values this is
    MAPIE's split-conformal set (the ceil((n+1)(1-significance))-th smallest score as threshold)."""
    return p > significance
