"""The metric a run is read by, one order for every place that shows one (``mlaas run``'s summary, the
Workbench sidebar): accuracy-like first, then R², clustering quality, F1, then losses and errors."""

from __future__ import annotations

KEY_METRICS = ("val_accuracy", "accuracy", "r2", "silhouette", "val_silhouette", "knn_accuracy", "val_acc", "acc", "test_accuracy",
               "val_f1", "f1", "val_loss", "loss", "val_rmse", "rmse", "mae")


def key_metric(metrics: dict, first: tuple[str, ...] = ()) -> tuple[str, float] | None:
    """``(name, value)`` of the first of ``first`` then KEY_METRICS that ``metrics`` has (not None), else of
    the first metric by name; None when there is none."""
    for name in first + KEY_METRICS:
        if metrics.get(name) is not None:
            return name, float(metrics[name])
    named = sorted(k for k, v in metrics.items() if v is not None)
    return (named[0], float(metrics[named[0]])) if named else None
