"""The pieces of a tracked run the Tracker composes: the MLflow run's life (create, params, reopen,
final status), its TensorBoard log, and what the tracker's calls cost."""

from __future__ import annotations

import re
import time
from pathlib import Path


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


def pipeline_tags() -> dict[str, str]:
    """Tags that tie a run made inside a pipeline step to it: ``mlaas.pipeline.run``,
    ``mlaas.pipeline.step`` and ``mlflow.parentRunId`` (the pipeline's MLflow run), from the
    ``MLAAS_PIPELINE_*`` variables the pipeline engine sets; empty outside a pipeline."""
    import os

    tags = {}
    for var, tag in (("MLAAS_PIPELINE_RUN", "mlaas.pipeline.run"), ("MLAAS_PIPELINE_STEP", "mlaas.pipeline.step"),
                     ("MLAAS_PIPELINE_MLFLOW_RUN", "mlflow.parentRunId")):
        if os.environ.get(var):
            tags[tag] = os.environ[var]
    return tags


def create_run(client, exp_id: str, run_name: str | None, tags: dict) -> str:
    """A new MLflow run with the versions, the pipeline step's tags (when inside one) and ``tags``
    (which win: a tuning trial keeps its study's run as its parent); returns its id."""
    all_tags = {**{f"mlaas.version.{k}": v for k, v in versions().items()}, **pipeline_tags(), **tags}
    return client.create_run(exp_id, run_name=run_name, tags={k: str(v) for k, v in all_tags.items()}).info.run_id


def log_params(client, run_id: str, params: dict, device: str) -> None:
    from mlflow.entities import Param, RunTag

    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()], tags=[RunTag("mlaas.device", device)])


def reopen_run(client, run_id: str, epoch: int) -> str:
    """Mark a resumed run RUNNING again, noting where it resumed; returns its name."""
    client.update_run(run_id, status="RUNNING")
    client.set_tag(run_id, "mlaas.resumed_at_epoch", str(epoch))
    return client.get_run(run_id).info.run_name


def final_status(progress, error: str | None) -> tuple[str, dict[str, str]]:
    """FAILED (an error), KILLED (stopped by the user) or FINISHED, and the tags that say why."""
    if error:
        return "FAILED", {"mlaas.error": error[:5000]}
    if progress.stopped:
        return "KILLED", {"mlaas.stopped": "by user, after epoch %d" % progress.epoch}
    return "FINISHED", {}


def record_end(run_id: str, status: str, metrics: dict, experiment: str) -> None:
    """Tell ``mlaas run`` how the run ended, for its summary (when that module is there)."""
    try:
        from .._runrecord import record
    except ImportError:
        return
    record(run_id, status=status, metrics=dict(metrics), experiment=experiment)


def tensorboard_dir(root: Path, group: str, run_name: str | None, run_id: str) -> Path:
    """``root/<group>/<run name>-<short id>``: one folder per run, so each draws its own line."""
    safe = lambda text: re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"  # noqa: E731
    return Path(root) / safe(group) / f"{safe(run_name or 'run')}-{run_id[:8]}"


class TensorBoardLog:
    """Scalars into one run's TensorBoard folder (a no-op when TensorBoard's writer is not installed)."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self._writer = None
        if folder is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.folder = None
                return
            self._writer = SummaryWriter(str(folder))

    def add(self, key: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(key, float(value), int(step))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class Timings:
    """Seconds spent in tracking calls, in total and by hook."""

    def __init__(self):
        self.total = 0.0
        self.by_hook = {"begin": 0.0, "steps": 0.0, "epochs": 0.0, "end": 0.0}

    def spent(self, hook: str, since: float) -> None:
        took = time.perf_counter() - since
        self.total += took
        self.by_hook[hook] += took
