"""Tracker: the fit loop's callback that records a run in MLflow (and TensorBoard)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ._delivery import Delivery, TrackingWarning
from ._mlrun import TensorBoardLog, Timings, create_run, final_status, log_params, record_end, reopen_run, tensorboard_dir
from ._pending import TrackingError, deliver_all_pending, save_status, send_status, unreachable

__all__ = ["Tracker", "TrackingWarning"]


class Tracker:
    """Logs a training run to MLflow (and TensorBoard) as a callback of the fit loop.

    Metrics are batched (``log_batch``). When the tracking store is away they are kept (in memory
    and in ``runs/<run id>/``), training goes on, a warning says so (and the monitor lists it),
    and they are sent when it answers again or by the next tracked command. The run ends
    FINISHED, KILLED (stopped) or FAILED (an error in training); tracking errors other than "the
    store is away" raise :class:`TrackingError`.

    Parameters
    ----------
    experiment, run_name:
        Where the run goes and what it is called.
    params, tags:
        Extra parameters and tags (the estimator's own parameters are logged too).
    tensorboard:
        Also write scalars to ``workspace/tensorboard/<dataset>/<run name>-<short run id>``.
    flush_seconds:
        Step metrics are sent at most this often; epoch metrics at each epoch's end.
    """

    def __init__(self, *, experiment: str = "mlaas", run_name: str | None = None, params: dict | None = None,
                 tags: dict | None = None, tensorboard: bool = True, flush_seconds: float = 10.0,
                 workspace_dir: str | os.PathLike | None = None):
        self.experiment, self.run_name = experiment, run_name
        self.params, self.tags = dict(params or {}), dict(tags or {})
        self.tensorboard, self.flush_seconds, self.workspace_dir = tensorboard, flush_seconds, workspace_dir
        self.run_id: str | None = None
        self.client = None
        self._delivery: Delivery | None = None
        self._timings = Timings()

    @property
    def failures(self) -> list[str]:
        """What went wrong, for people (also warned once, and listed by the monitor)."""
        return self._delivery.failures if self._delivery is not None else []

    @property
    def tensorboard_dir(self) -> Path | None:
        return self._delivery.tensorboard.folder if self._delivery is not None else None

    @property
    def seconds(self) -> float:
        """Time spent in tracking calls."""
        return self._timings.total

    @property
    def timings(self) -> dict[str, float]:
        """The same, by hook: begin, steps, epochs, end."""
        return self._timings.by_hook

    def start(self) -> str:
        """Create the MLflow run now (before training, e.g. to name its checkpoint folder); returns its id."""
        if self.run_id is None:
            t = time.perf_counter()
            from ._store import setup

            self.client, exp_id = setup(self.experiment, workspace_dir=self.workspace_dir)
            self.run_id = create_run(self.client, exp_id, self.run_name, self.tags)
            self._timings.spent("begin", t)  # counted as the run's start, whenever it is called
        return self.run_id

    # ------------------------------------------------------------ callback hooks
    def on_train_begin(self, progress, estimator) -> None:
        t = time.perf_counter()
        from ..data import workspace

        self._open_run(progress, estimator)
        ws = workspace(self.workspace_dir)
        tb = None
        if self.tensorboard:
            group = self.tags.get("mlaas.dataset") or self.experiment
            tb = TensorBoardLog(tensorboard_dir(ws / "tensorboard", str(group), self.run_name, self.run_id))
        self._delivery = Delivery(self.client, self.run_id, ws / "runs" / self.run_id, progress=progress, tensorboard=tb)
        if progress.history:
            self._delivery.backfill(progress.history)
        for line in deliver_all_pending(self.client, workspace_dir=self.workspace_dir, skip=self.run_id):
            print(line, flush=True)  # earlier runs' leftovers, sent now that the store answers
            self._delivery.note(line)
        self._timings.spent("begin", t)

    def _open_run(self, progress, estimator) -> None:
        """A new run (with the estimator's parameters), or the resumed one the estimator's state names."""
        from ._store import setup

        self.client, _ = setup(self.experiment, workspace_dir=self.workspace_dir)
        state = getattr(estimator, "run_state_", {})
        if state.get("mlflow_run_id"):
            self.run_id = state["mlflow_run_id"]
            self.run_name = reopen_run(self.client, self.run_id, progress.epoch) or self.run_name
            return
        self.start()
        params = {k: v for k, v in estimator.get_params().items() if k not in ("callbacks", "checkpoint_dir", "resume")}
        log_params(self.client, self.run_id, {**params, **self.params}, progress.device)
        state["mlflow_run_id"] = self.run_id

    def on_step_end(self, progress) -> None:
        t = time.perf_counter()
        step = (progress.epoch - 1) * progress.steps_per_epoch + progress.step
        self._delivery.add("train_loss_step", progress.metrics["loss"], step)
        if time.perf_counter() - self._delivery.last_flush > self.flush_seconds:
            self.flush()
        self._timings.spent("steps", t)

    def on_epoch_end(self, progress) -> None:
        t = time.perf_counter()
        record = progress.history[-1]
        for key, value in record.items():
            if key != "epoch":
                self._delivery.add(key, value, record["epoch"])
        self.flush()
        self._timings.spent("epochs", t)

    def on_train_end(self, progress) -> None:
        t = time.perf_counter()
        error = getattr(progress, "error", None)
        try:
            try:
                for _ in range(3):
                    if self.flush():
                        break
                    time.sleep(1.0)
            except TrackingError as exc:  # still end the run, and truthfully
                self._delivery.note(str(exc))
                error = error or str(exc)
            self._end_run(progress, error)
        finally:
            self._delivery.close()
            self._timings.spent("end", t)

    def flush(self) -> bool:
        """Send what is pending now; False when the store is away (it is kept), :class:`TrackingError` on a real error."""
        return self._delivery.flush()

    def _end_run(self, progress, error: str | None) -> None:
        status, tags = final_status(progress, error)
        record_end(self.run_id, status, progress.metrics, self.experiment)
        try:
            send_status(self.client, self.run_id, status, tags)
        except Exception as exc:
            if not unreachable(exc):
                raise TrackingError(f"could not end run {self.run_id} as {status}: {type(exc).__name__}: {exc}") from exc
            save_status(self._delivery.pending.run_dir, status, tags)
            self._delivery.fail(f"run {self.run_id} could not be marked {status} now ({type(exc).__name__}); "
                                "the next tracked command (or track.deliver_pending) will")

    # ------------------------------------------------------------ after training
    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dict(self, data, name: str) -> None:
        self.client.log_dict(self.run_id, data, name)
