"""Delivery of one run's metrics: batched, kept while the store is away, refused ones reported,
and every problem told to people (one warning, and the progress' messages the monitor lists)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from ._mlrun import TensorBoardLog
from ._pending import PendingMetrics, TrackingError, unreachable


class TrackingWarning(UserWarning):
    """Tracking could not do something now (metrics are kept and sent later)."""


class Delivery:
    """Where a run's metrics go: the tracking store (through :class:`PendingMetrics`) and TensorBoard."""

    def __init__(self, client, run_id: str, run_dir: Path, *, progress=None, tensorboard: TensorBoardLog | None = None):
        self.client, self.run_id, self.progress = client, run_id, progress
        self.pending = PendingMetrics(run_dir)
        self.tensorboard = tensorboard or TensorBoardLog()
        self.failures: list[str] = []
        self.last_flush = 0.0

    def add(self, key: str, value: float, step: int) -> None:
        self.pending.add(key, value, step)
        self.tensorboard.add(key, value, step)

    def flush(self) -> bool:
        """Send what is pending; when the store is away keep it (memory and the run folder) and
        return False. Other errors raise :class:`TrackingError`."""
        self.last_flush = time.perf_counter()
        self.tensorboard.flush()
        try:
            self.pending.send(self.client, self.run_id)
        except Exception as exc:
            if not unreachable(exc):
                dropped = self.pending.discard()  # the store refuses them: sending again would fail again
                raise TrackingError(f"tracking run {self.run_id} failed: {type(exc).__name__}: {exc} "
                                    f"({dropped} metric(s) not recorded)") from exc
            self.fail(f"tracking store away ({type(exc).__name__}: {str(exc)[:160]}); "
                      f"{len(self.pending)} metric(s) kept in {self.pending.path}")
            return False
        return True

    def backfill(self, history: list[dict]) -> None:
        """A resumed run's epochs that its checkpoint holds but the store never heard of (a kill
        between the checkpoint and the flush): queued now, so the run's curves have no holes."""
        logged = {m.step for m in self.client.get_metric_history(self.run_id, "loss")}
        logged |= {step for key, _, _, step in self.pending.rows if key == "loss"}
        for record in history:
            if record["epoch"] not in logged:
                for key, value in record.items():
                    if key != "epoch":
                        self.pending.add(key, value, record["epoch"])

    def fail(self, message: str) -> None:
        first = not self.failures
        self.failures.append(message)
        if first:  # one warning per run: the monitor lists the rest
            warnings.warn(message, TrackingWarning, stacklevel=4)
        self.note(message)

    def note(self, message: str) -> None:
        messages = getattr(self.progress, "messages", None)
        if messages is not None:
            messages.append(message)

    def close(self) -> None:
        self.tensorboard.close()
