"""Evaluation: a run's model measured on its held-out data, the numbers and figures logged back onto the run.

>>> from mlaas_kernel import evaluate
>>> ev = evaluate.evaluate_run("1a2b3c4d")   # a run id or a unique prefix of one
>>> print(ev.summary()); ev.table; ev.figures["reliability"]

Classification: confusion matrix, per-class precision/recall/F1, one-vs-rest ROC and PR curves,
calibration (ECE over equal-width bins, a reliability diagram), the most confidently wrong items.
Regression: R², MAE, RMSE, error by category, residuals, predicted against true. The numbers come
from scikit-learn's metrics; figures are plotly.
"""

from ._classification import Calibration, ClassificationMetrics, bin_index, calibration, classification_metrics, confidently_wrong
from ._figures import classification_figures, regression_figures, wrong_images_figure, wrong_rows_figure
from ._log import ARTIFACT_DIR, log_to_run, metric_key, write_evaluation
from ._regression import RegressionMetrics, regression_metrics
from ._result import Evaluation
from ._run import TOP_WRONG, EvaluationError, evaluate_run, held_out_items, latest_run
from ._tabular_task import PREPARE, TASK_TAG, TabularTask, TaskError, gpu_features

__all__ = ["ARTIFACT_DIR", "Calibration", "ClassificationMetrics", "Evaluation", "EvaluationError", "PREPARE", "RegressionMetrics",
           "TASK_TAG", "TOP_WRONG", "TabularTask", "TaskError", "bin_index", "calibration", "classification_figures",
           "classification_metrics", "confidently_wrong", "evaluate_run", "gpu_features", "held_out_items", "latest_run", "log_to_run", "metric_key",
           "regression_figures", "regression_metrics", "write_evaluation", "wrong_images_figure", "wrong_rows_figure"]
