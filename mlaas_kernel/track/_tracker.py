"""Tracker: the fit loop's callback that records a run in MLflow (and TensorBoard)."""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path

from ._pending import PendingMetrics, TrackingError, deliver_all_pending, save_status, send_status, unreachable


class TrackingWarning(UserWarning):
    """Tracking could not do something now (metrics are kept and sent later)."""


def versions() -> dict[str, str]:
    """The versions that matter to reproduce a run: Python, torch, NumPy, scikit-learn, MLflow, this package."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "scikit-learn", "mlflow", "mlaas-workbench"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def tensorboard_dir(root: Path, group: str, run_name: str | None, run_id: str) -> Path:
    """``root/<group>/<run name>-<short id>``: one folder per run, so each draws its own line."""
    safe = lambda text: re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"  # noqa: E731
    return Path(root) / safe(group) / f"{safe(run_name or 'run')}-{run_id[:8]}"


def _record(run_id: str, status: str, metrics: dict, experiment: str) -> None:
    """Tell ``mlaas run`` how the run ended, for its summary (when that module is there)."""
    try:
        from .._runrecord import record
    except ImportError:
        return
    record(run_id, status=status, metrics=dict(metrics), experiment=experiment)


class _Timings:
    """Seconds spent in tracking calls, in total and by hook."""

    def __init__(self):
        self.total = 0.0
        self.by_hook = {"begin": 0.0, "steps": 0.0, "epochs": 0.0, "end": 0.0}

    def spent(self, hook: str, since: float) -> None:
        took = time.perf_counter() - since
        self.total += took
        self.by_hook[hook] += took


class Tracker:
    """Logs a training run to MLflow (and TensorBoard) as a callback of the fit loop.

    Metrics are batched (``log_batch``). When the tracking store is away they are kept (in memory
    and in ``runs/<run id>/``), training goes on, a warning says so, and they are sent when it
    answers again, or by the next tracked command. The run ends FINISHED, KILLED (stopped) or
    FAILED (an error in training); other tracking errors raise :class:`TrackingError`.

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
        self.failures: list[str] = []  # what went wrong, for people (also warned and shown in the monitor)
        self.tensorboard_dir: Path | None = None
        self.client = None
        self._pending: PendingMetrics | None = None
        self._progress = None
        self._last_flush = 0.0
        self._writer = None
        self._timings = _Timings()

    @property
    def pending(self) -> list:
        return self._pending.rows if self._pending is not None else []

    @property
    def delivered(self) -> int:
        return self._pending.delivered if self._pending is not None else 0

    @property
    def seconds(self) -> float:
        """Time spent in tracking calls."""
        return self._timings.total

    @property
    def timings(self) -> dict[str, float]:
        """The same, by hook: begin, steps, epochs, end."""
        return self._timings.by_hook

    # ------------------------------------------------------------ callback hooks
    def on_train_begin(self, progress, estimator) -> None:
        t = time.perf_counter()
        from ..data import workspace
        from ._store import setup

        self._progress = progress
        self.client, _ = setup(self.experiment, workspace_dir=self.workspace_dir)
        state = getattr(estimator, "run_state_", {})
        if state.get("mlflow_run_id"):
            self._resume_run(state["mlflow_run_id"], progress)
        else:
            self.start()
            self._log_params(progress, estimator)
            state["mlflow_run_id"] = self.run_id
        ws = workspace(self.workspace_dir)
        self._pending = PendingMetrics(ws / "runs" / self.run_id)
        for line in deliver_all_pending(self.client, workspace_dir=self.workspace_dir, skip=self.run_id):
            self._note(line)
        self._open_tensorboard(ws)
        self._timings.spent("begin", t)

    def on_step_end(self, progress) -> None:
        t = time.perf_counter()
        step = (progress.epoch - 1) * progress.steps_per_epoch + progress.step
        self._add("train_loss_step", progress.metrics["loss"], step)
        if time.perf_counter() - self._last_flush > self.flush_seconds:
            self.flush()
        self._timings.spent("steps", t)

    def on_epoch_end(self, progress) -> None:
        t = time.perf_counter()
        record = progress.history[-1]
        for key, value in record.items():
            if key != "epoch":
                self._add(key, value, record["epoch"])
        self.flush()
        self._timings.spent("epochs", t)

    def on_train_end(self, progress) -> None:
        t = time.perf_counter()
        error = getattr(progress, "error", None)
        try:
            try:
                for attempt in range(3):
                    if self.flush():
                        break
                    time.sleep(1.0)
            except TrackingError as exc:  # still end the run, and truthfully
                self._note(str(exc))
                error = error or str(exc)
            self._end_run(progress, error)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._timings.spent("end", t)

    # ------------------------------------------------------------ the run
    def start(self) -> str:
        """Create the MLflow run now (before training, e.g. to name its checkpoint folder); returns its id."""
        if self.run_id is None:
            from ._store import setup

            self.client, exp_id = setup(self.experiment, workspace_dir=self.workspace_dir)
            tags = {**{f"mlaas.version.{k}": v for k, v in versions().items()}, **self.tags}
            run = self.client.create_run(exp_id, run_name=self.run_name, tags={k: str(v) for k, v in tags.items()})
            self.run_id = run.info.run_id
        return self.run_id

    def _log_params(self, progress, estimator) -> None:
        from mlflow.entities import Param, RunTag

        params = {k: v for k, v in estimator.get_params().items() if k not in ("callbacks", "checkpoint_dir", "resume")}
        params.update(self.params)
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                              tags=[RunTag("mlaas.device", progress.device)])

    def _resume_run(self, run_id: str, progress) -> None:
        self.run_id = run_id
        self.client.update_run(run_id, status="RUNNING")
        self.client.set_tag(run_id, "mlaas.resumed_at_epoch", str(progress.epoch))
        if not self.run_name:
            self.run_name = self.client.get_run(run_id).info.run_name

    def _end_run(self, progress, error: str | None) -> None:
        if error:
            status, tags = "FAILED", {"mlaas.error": error[:5000]}
        elif progress.stopped:
            status, tags = "KILLED", {"mlaas.stopped": "by user, after epoch %d" % progress.epoch}
        else:
            status, tags = "FINISHED", {}
        _record(self.run_id, status, progress.metrics, self.experiment)
        try:
            send_status(self.client, self.run_id, status, tags)
        except Exception as exc:
            if not unreachable(exc):
                raise TrackingError(f"could not end run {self.run_id} as {status}: {type(exc).__name__}: {exc}") from exc
            save_status(self._pending.run_dir, status, tags)
            self._fail(f"run {self.run_id} could not be marked {status} now ({type(exc).__name__}); "
                       "the next tracked command (or track.deliver_pending) will")

    # ------------------------------------------------------------ delivery
    def _add(self, key: str, value: float, step: int) -> None:
        self._pending.add(key, value, step)
        if self._writer is not None:
            self._writer.add_scalar(key, float(value), int(step))

    def flush(self) -> bool:
        """Send what is pending; when the store is away keep it (memory and the run folder) and
        return False. Other errors raise :class:`TrackingError`."""
        self._last_flush = time.perf_counter()
        if self._writer is not None:
            self._writer.flush()
        try:
            self._pending.send(self.client, self.run_id)
        except Exception as exc:
            if not unreachable(exc):
                dropped = self._pending.discard()  # the store refuses them: sending again would fail again
                raise TrackingError(f"tracking run {self.run_id} failed: {type(exc).__name__}: {exc} "
                                    f"({dropped} metric(s) not recorded)") from exc
            self._fail(f"tracking store away ({type(exc).__name__}: {str(exc)[:160]}); "
                       f"{len(self._pending)} metric(s) kept in {self._pending.path}")
            return False
        return True

    def _fail(self, message: str) -> None:
        first = not self.failures
        self.failures.append(message)
        if first:  # one warning per run: the monitor shows the rest
            warnings.warn(message, TrackingWarning, stacklevel=3)
        self._note(message)

    def _note(self, message: str) -> None:
        messages = getattr(self._progress, "messages", None)
        if messages is not None:
            messages.append(message)

    def _open_tensorboard(self, ws: Path) -> None:
        if not self.tensorboard:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return
        group = self.tags.get("mlaas.dataset") or self.experiment
        self.tensorboard_dir = tensorboard_dir(ws / "tensorboard", str(group), self.run_name, self.run_id)
        self._writer = SummaryWriter(str(self.tensorboard_dir))

    # ------------------------------------------------------------ after training
    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dict(self, data, name: str) -> None:
        self.client.log_dict(self.run_id, data, name)

    def set_tags(self, tags: dict) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))
