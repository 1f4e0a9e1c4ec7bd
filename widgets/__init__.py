"""mlaas_widgets: Jupyter widgets over mlaas_kernel (views only; the library does the work)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BackendBadge", "DigitCanvas", "GridLabeler", "ImageLabeler", "LabelApp", "LearningCurve", "PlotOutput", "PredictApp", "RunsDashboard", "TableLabeler", "TrainingMonitor", "chart_column"]
_WIDGETS = {
    "BackendBadge": "backend_badge",
    "DigitCanvas": "digit_canvas",
    "GridLabeler": "grid_labeler",
    "ImageLabeler": "image_labeler",
    "LabelApp": "label_app",
    "LearningCurve": "learning_curve",
    "PlotOutput": "_plot",
    "PredictApp": "predict_app",
    "RunsDashboard": "runs_dashboard",
    "TableLabeler": "table_labeler",
    "TrainingMonitor": "training_monitor",
    "chart_column": "_plot",
}


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        value = getattr(importlib.import_module(f"{__name__}.{_WIDGETS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
