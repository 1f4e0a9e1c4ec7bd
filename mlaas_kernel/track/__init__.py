"""Tracking: MLflow runs (the workspace's embedded store by default) and TensorBoard scalars.

:class:`Tracker` is a training callback. Metrics are batched (``log_batch``), so tracking costs
little; when the tracking store is away they stay in memory and in the run's folder
(``runs/<run id>/pending_metrics.jsonl``) and are delivered when it answers again, by the next
tracked command, or with :func:`deliver_pending`. :func:`prepare` creates the workspace's store
ahead of the first run, in the background.
"""

from ._pending import TrackingError, deliver_pending
from ._runs import log_estimator, metric_history, runs
from ._store import prepare, prepare_store, setup, tracking_uri
from ._mlrun import tensorboard_dir
from ._delivery import TrackingWarning
from ._tracker import Tracker

__all__ = ["Tracker", "TrackingError", "TrackingWarning", "deliver_pending", "log_estimator", "metric_history", "prepare", "prepare_store",
           "runs", "setup", "tensorboard_dir", "tracking_uri"]
