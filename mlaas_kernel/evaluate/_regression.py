"""Regression numbers (scikit-learn's metrics): overall, and per category of the items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RegressionMetrics:
    """What :func:`regression_metrics` measures; ``per_category`` is a pandas table, worst MAE first."""

    r2: float
    mae: float
    rmse: float
    n_items: int
    y_true: np.ndarray
    y_pred: np.ndarray
    categories: np.ndarray | None
    per_category: Any
    target: str = "target"
    notes: list[str] = field(default_factory=list)

    @property
    def residuals(self) -> np.ndarray:
        """True minus predicted: positive where the model predicts too little."""
        return self.y_true - self.y_pred

    @property
    def worst_category(self) -> str | None:
        return None if self.per_category is None or not len(self.per_category) else str(self.per_category.iloc[0]["category"])

    def as_dict(self) -> dict:
        return {"n_items": self.n_items, "target": self.target, "r2": self.r2, "mae": self.mae, "rmse": self.rmse,
                "per_category": None if self.per_category is None else self.per_category.to_dict("records"), "notes": self.notes}


def regression_metrics(y_true, y_pred, *, categories=None, target: str = "target") -> RegressionMetrics:
    """R², mean absolute error and root mean squared error, overall and for each value of
    ``categories`` (one per item; missing values count as ``"missing"``)."""
    import pandas as pd
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"{len(y_true)} true values and {len(y_pred)} predictions: expected one prediction per item")
    if len(y_true) < 2:
        raise ValueError(f"{len(y_true)} item(s): R² needs at least 2")
    if not np.isfinite(y_true).all() or not np.isfinite(y_pred).all():
        raise ValueError("true values or predictions hold NaN or infinity: drop those items first")
    cats, table = None, None
    if categories is not None:
        cats = pd.Series(categories).astype("object").where(pd.Series(categories).notna(), "missing").astype(str).to_numpy()
        if len(cats) != len(y_true):
            raise ValueError(f"{len(cats)} categories for {len(y_true)} items")
        rows = []
        for name in sorted(set(cats)):
            m = cats == name
            rows.append({"category": name, "n": int(m.sum()), "mae": float(mean_absolute_error(y_true[m], y_pred[m])),
                         "rmse": float(np.sqrt(mean_squared_error(y_true[m], y_pred[m]))),
                         "mean_residual": float(np.mean(y_true[m] - y_pred[m]))})
        table = pd.DataFrame(rows).sort_values("mae", ascending=False, kind="stable").reset_index(drop=True)
    return RegressionMetrics(r2=float(r2_score(y_true, y_pred)), mae=float(mean_absolute_error(y_true, y_pred)),
                             rmse=float(np.sqrt(mean_squared_error(y_true, y_pred))), n_items=len(y_true),
                             y_true=y_true, y_pred=y_pred, categories=cats, per_category=table, target=target)
