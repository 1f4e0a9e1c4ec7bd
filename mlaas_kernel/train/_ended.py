"""A tracked run never outlives its training as RUNNING: when training raises before the fit loop's callbacks could end
the run (the data or device failed its checks, a callback's ``on_train_begin`` raised), it ends here, FAILED with the
error in its ``mlaas.error`` tag as the tracker ends runs that fail mid-training (KILLED when interrupted)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def ends_on_error(tracker, workspace_dir=None):
    """Run the block; if it raises and ``tracker``'s MLflow run is still RUNNING, end that run, then re-raise."""
    try:
        yield
    except BaseException as exc:
        if tracker is not None and getattr(tracker, "run_id", None):
            end_if_running(tracker, exc, workspace_dir)
        raise


def end_if_running(tracker, exc: BaseException, workspace_dir=None) -> str | None:
    """End ``tracker``'s run as ``exc`` calls for when it is still RUNNING; returns the status set (None: it had ended).

    With the store away the status is kept in the run's folder, as the tracker keeps it, for the next tracked command.
    """
    from ..track._mlrun import record_end
    from ..track._pending import PENDING_STATUS, save_status, send_status, unreachable

    status, tags = _status_for(exc)
    run_dir = _run_dir(tracker.run_id, workspace_dir)
    try:
        client = tracker.client or _client(tracker)
        if client.get_run(tracker.run_id).info.status != "RUNNING":
            return None
        send_status(client, tracker.run_id, status, tags)
    except Exception as err:
        if not unreachable(err):  # a real refusal: said, while the training error stays the one raised
            import warnings

            from ..track import TrackingWarning

            warnings.warn(f"run {tracker.run_id} could not be ended {status}: {type(err).__name__}: {err}", TrackingWarning, stacklevel=4)
            return None
        if (run_dir / PENDING_STATUS).exists():  # the tracker already kept the run's end
            return None
        save_status(run_dir, status, tags)
    record_end(tracker.run_id, status, {}, tracker.experiment)
    return status


def _status_for(exc: BaseException) -> tuple[str, dict[str, str]]:
    if isinstance(exc, KeyboardInterrupt):
        return "KILLED", {"mlaas.stopped": "interrupted before training began"}
    return "FAILED", {"mlaas.error": f"{type(exc).__name__}: {exc}"[:5000]}


def _client(tracker):
    from ..track import setup

    client, _ = setup(tracker.experiment, workspace_dir=tracker.workspace_dir)
    return client


def _run_dir(run_id: str, workspace_dir) -> Path:
    from ..data import workspace

    return workspace(workspace_dir) / "runs" / run_id
