"""Tracking: MLflow runs (the workspace's embedded store by default) and TensorBoard scalars.

:class:`Tracker` is a training callback. Metrics are batched (``log_batch``), so tracking costs
little; when the tracking server is away they stay in memory and in the run's folder
(``runs/<run id>/pending_metrics.jsonl``) and are delivered when it answers again, or later
with :func:`deliver_pending`.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

__all__ = ["Tracker", "deliver_pending", "log_estimator", "metric_history", "runs", "setup", "tracking_uri"]

_SETUP_DONE: set[str] = set()


def tracking_uri(workspace_dir: str | os.PathLike | None = None) -> str:
    """``$MLFLOW_TRACKING_URI``, else the workspace's ``sqlite:///.../mlflow.db``."""
    from .data import workspace

    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{workspace(workspace_dir) / 'mlflow.db'}"


def setup(experiment: str = "mlaas", *, workspace_dir: str | os.PathLike | None = None):
    """An MLflow client on :func:`tracking_uri` and the experiment's id (created with its
    artifacts in the workspace's ``mlartifacts/`` when the store is the embedded one)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    from .data import workspace

    uri = tracking_uri(workspace_dir)
    if uri.startswith("http"):
        # fail fast: the Tracker keeps metrics itself when the server is away
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        location = None if uri.startswith("http") else (workspace(workspace_dir) / "mlartifacts").as_uri()
        exp_id = client.create_experiment(experiment, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    return client, exp_id


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "scikit-learn", "mlflow", "mlaas-workbench"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


class Tracker:
    """Logs a training run to MLflow (and TensorBoard) as a callback of the fit loop.

    Parameters
    ----------
    experiment, run_name:
        Where the run goes and what it is called.
    params, tags:
        Extra parameters and tags (the estimator's own parameters are logged too).
    tensorboard:
        Also write scalars to ``workspace/tensorboard/<run name>``.
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
        self.pending: list[tuple[str, float, int, int]] = []  # (key, value, timestamp ms, step)
        self.failures: list[str] = []
        self.delivered = 0
        self._last_flush = 0.0
        self._writer = None
        self.client = None
        self.seconds = 0.0  # time spent in tracking calls
        self.timings = {"begin": 0.0, "steps": 0.0, "epochs": 0.0, "end": 0.0}  # the same, by hook

    # ------------------------------------------------------------ callback hooks
    def on_train_begin(self, progress, estimator) -> None:
        t = time.perf_counter()
        from .data import workspace

        self.client, exp_id = setup(self.experiment, workspace_dir=self.workspace_dir)
        state = getattr(estimator, "run_state_", {})
        if state.get("mlflow_run_id"):
            self.run_id = state["mlflow_run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            self.client.set_tag(self.run_id, "mlaas.resumed_at_epoch", str(progress.epoch))
        else:
            tags = {"mlaas.device": progress.device, **{f"mlaas.version.{k}": v for k, v in _versions().items()}, **self.tags}
            run = self.client.create_run(exp_id, run_name=self.run_name, tags={k: str(v) for k, v in tags.items()})
            self.run_id = run.info.run_id
            params = {k: v for k, v in estimator.get_params().items() if k not in ("callbacks", "checkpoint_dir", "resume")}
            params.update(self.params)
            from mlflow.entities import Param

            self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
            state["mlflow_run_id"] = self.run_id
        self.run_dir = workspace(self.workspace_dir) / "runs" / self.run_id
        self._load_pending_file()
        if self.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(workspace(self.workspace_dir) / "tensorboard" / (self.run_name or self.run_id)))
            except ImportError:
                self._writer = None
        self._spent("begin", t)

    def on_step_end(self, progress) -> None:
        t = time.perf_counter()
        step = (progress.epoch - 1) * progress.steps_per_epoch + progress.step
        self._add("train_loss_step", progress.metrics["loss"], step)
        if time.perf_counter() - self._last_flush > self.flush_seconds:
            self.flush()
        self._spent("steps", t)

    def on_epoch_end(self, progress) -> None:
        t = time.perf_counter()
        record = progress.history[-1]
        for key, value in record.items():
            if key != "epoch":
                self._add(key, value, record["epoch"])
        self.flush()
        self._spent("epochs", t)

    def on_train_end(self, progress) -> None:
        t = time.perf_counter()
        for _ in range(3):
            if self.flush():
                break
            time.sleep(1.0)
        status = "KILLED" if progress.stopped else "FINISHED"
        try:
            if progress.stopped:
                self.client.set_tag(self.run_id, "mlaas.stopped", "by user, after epoch %d" % progress.epoch)
            self.client.set_terminated(self.run_id, status=status)
        except Exception as exc:  # the server may still be away; the pending file keeps the metrics
            self.failures.append(f"set_terminated: {exc}")
        if self._writer is not None:
            self._writer.close()
        self._spent("end", t)

    def _spent(self, hook: str, since: float) -> None:
        took = time.perf_counter() - since
        self.seconds += took
        self.timings[hook] += took

    # ------------------------------------------------------------ delivery
    def _add(self, key: str, value: float, step: int) -> None:
        self.pending.append((key, float(value), int(time.time() * 1000), int(step)))
        if self._writer is not None:
            self._writer.add_scalar(key, float(value), int(step))

    def flush(self) -> bool:
        """Send what is pending; on failure keep it (memory and the run folder). True when all went."""
        from mlflow.entities import Metric

        self._last_flush = time.perf_counter()
        if self._writer is not None:
            self._writer.flush()
        while self.pending:
            chunk = self.pending[:1000]
            try:
                self.client.log_batch(self.run_id, metrics=[Metric(k, v, ts, s) for k, v, ts, s in chunk])
            except Exception as exc:  # connection refused, timeouts, 5xx: all mean "not now"
                self.failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                self._save_pending_file()
                return False
            del self.pending[: len(chunk)]
            self.delivered += len(chunk)
        self._pending_file().unlink(missing_ok=True)
        return True

    def _pending_file(self) -> Path:
        return self.run_dir / "pending_metrics.jsonl"

    def _save_pending_file(self) -> None:
        from ._atomic import atomic_write

        text = "".join(json.dumps({"key": k, "value": v, "timestamp": ts, "step": s}) + "\n" for k, v, ts, s in self.pending)
        atomic_write(self._pending_file(), lambda tmp: tmp.write_text(text))

    def _load_pending_file(self) -> None:
        path = self._pending_file()
        if path.exists():
            self.pending = [(r["key"], r["value"], r["timestamp"], r["step"]) for r in map(json.loads, path.read_text().splitlines())] + self.pending

    # ------------------------------------------------------------ after training
    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dict(self, data: Any, name: str) -> None:
        self.client.log_dict(self.run_id, data, name)

    def set_tags(self, tags: dict) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))


def deliver_pending(run_id: str, *, workspace_dir: str | os.PathLike | None = None) -> int:
    """Send a run's metrics that were kept in its folder while the server was away; returns how many."""
    from mlflow.entities import Metric

    from .data import workspace

    path = workspace(workspace_dir) / "runs" / run_id / "pending_metrics.jsonl"
    if not path.exists():
        return 0
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    client, _ = setup(workspace_dir=workspace_dir)
    for i in range(0, len(rows), 1000):
        client.log_batch(run_id, metrics=[Metric(r["key"], r["value"], r["timestamp"], r["step"]) for r in rows[i : i + 1000]])
    path.unlink()
    return len(rows)


def log_estimator(estimator, *, name: str, metrics: dict[str, float], params: dict | None = None, tags: dict | None = None,
                  experiment: str = "mlaas", workspace_dir: str | os.PathLike | None = None) -> str:
    """Record a fitted scikit-learn-style estimator as a finished MLflow run; returns its run id.

    Logs its parameters, ``metrics``, feature importances when it has them, and the pickled model.
    """
    import pickle
    import tempfile

    from mlflow.entities import Metric, Param

    client, exp_id = setup(experiment, workspace_dir=workspace_dir)
    run = client.create_run(exp_id, run_name=name, tags={"mlaas.estimator": type(estimator).__name__,
                                                         **{f"mlaas.version.{k}": v for k, v in _versions().items()},
                                                         **{k: str(v) for k, v in (tags or {}).items()}})
    run_id = run.info.run_id
    all_params = {**estimator.get_params(), **(params or {})}
    now = int(time.time() * 1000)
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in all_params.items()],
                     metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
    if hasattr(estimator, "importances"):
        client.log_dict(run_id, {k: float(v) for k, v in estimator.importances().items()}, "feature_importances.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(estimator))
        client.log_artifact(run_id, str(path), "model")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def runs(experiment: str = "mlaas", *, workspace_dir: str | os.PathLike | None = None, max_results: int = 200) -> list:
    """The experiment's runs, newest first (MLflow ``Run`` objects)."""
    client, exp_id = setup(experiment, workspace_dir=workspace_dir)
    return client.search_runs([exp_id], order_by=["attributes.start_time DESC"], max_results=max_results)


def metric_history(run_id: str, key: str, *, workspace_dir: str | os.PathLike | None = None) -> list[tuple[int, float]]:
    """(step, value) pairs of one metric of one run."""
    client, _ = setup(workspace_dir=workspace_dir)
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))]
