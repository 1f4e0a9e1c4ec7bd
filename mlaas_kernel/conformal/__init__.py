"""Conformal prediction: sets of classes that hold the true one with a chosen probability.

>>> from mlaas_kernel import conformal
>>> cp = conformal.ConformalClassifier(conformal.LAC(model.classes_)).calibrate(model.predict_proba(X_cal), y_cal)
>>> cp.predict_set(model.predict_proba(X), significance=0.05)    # boolean items x classes
>>> cp.table(model.predict_proba(X), 0.05)                         # set, size, p-value per class

Scores: :class:`LAC`, :class:`APS` (softmax) and :class:`KNNScore` (any feature matrix, e.g. an
embedding); ``mondrian=True`` calibrates per class. :func:`calibrate_run` does it for a tracked
run and logs the sets, metrics and calibration onto it (``mlaas conformal RUN``);
:func:`load_calibration` loads that calibration back (for an endpoint).
"""

from ._checks import ConformalInputError, check_significance, min_calibration
from ._features import PixelPCA
from ._figures import coverage_figure, coverage_over_splits, evaluate_levels
from ._predictor import ConformalClassifier
from ._pvalues import p_values, prediction_sets
from ._run import RunCalibration, calibrate_run, load_calibration, log_calibration, metric_key, newest_run
from ._scores import APS, KNNScore, LAC, SCORES

__all__ = ["APS", "ConformalClassifier", "ConformalInputError", "KNNScore", "LAC", "PixelPCA", "RunCalibration", "SCORES",
           "calibrate_run", "check_significance", "coverage_figure", "coverage_over_splits", "evaluate_levels",
           "load_calibration", "log_calibration", "metric_key", "min_calibration", "newest_run", "p_values", "prediction_sets"]
