"""Tracking: MLflow runs (the workspace's embedded store by default) and TensorBoard scalars.

:class:`Tracker` is a training callback. Metrics are batched (``log_batch``), so tracking costs
little; when the tracking store is away they stay in memory and in the run's folder
(``runs/<run id>/pending_metrics.jsonl``) and are delivered when it answers again, by the next
tracked command, or with :func:`deliver_pending`. :func:`prepare` creates the workspace's store
ahead of the first run, in the background. Every experiment :func:`setup` makes or opens is tagged as model training
(``mlflow.experimentKind``, see ``_kind``), MLflow's "Machine learning" kind rather than GenAI.

A team's tracking server (``mlaas tracking-server``), for step notebooks run alone: :func:`server_for_step`
finds or starts it (:func:`use_step_server` also points this process's MLflow at it), :func:`stop_server` stops it, :data:`NO_SERVER_RUNS` says what to do when none has runs
(loaded on first use: the server module imports ``urllib.request``).
"""

from ._pending import TrackingError, deliver_pending
from ._runs import log_estimator, metric_history, runs
from ._store import prepare, prepare_store, setup, tracking_uri
from ._mlrun import tensorboard_dir
from ._delivery import TrackingWarning
from ._tracker import Tracker

__all__ = ["NO_SERVER_RUNS", "Tracker", "TrackingError", "TrackingWarning", "deliver_pending", "log_estimator", "metric_history", "prepare",
           "prepare_store", "runs", "server_for_step", "setup", "stop_server", "tensorboard_dir", "tracking_uri",
           "use_step_server"]

# public name -> its name in ._server, imported on first use
_SERVER_NAMES = {"server_for_step": "for_step", "stop_server": "stop", "use_step_server": "use_for_step", "NO_SERVER_RUNS": "NO_SERVER_RUNS"}


def __getattr__(name: str):
    if name in _SERVER_NAMES:
        from . import _server
        return getattr(_server, _SERVER_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
