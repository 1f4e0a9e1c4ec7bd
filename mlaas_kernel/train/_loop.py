"""The in-memory fit loop: data on the device, one-cycle schedule, bf16 on GPUs, checkpoints.

Callbacks get a :class:`Progress` after each step and epoch; any of them may ask the loop to
stop after the current step (the monitor's Stop button does).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence


@dataclass
class Progress:
    """What the loop reports: where it is, how fast, and the metrics so far."""

    epoch: int  # 1-based, the epoch in progress or just finished
    epochs: int
    step: int  # steps done in this epoch
    steps_per_epoch: int
    samples_seen: int
    seconds: float  # training time so far (this process)
    device: str
    metrics: dict[str, float] = field(default_factory=dict)  # latest values: loss, val_loss, val_accuracy...
    history: list[dict] = field(default_factory=list)  # one dict per finished epoch
    stop_requested: bool = False
    stopped: bool = False

    @property
    def images_per_second(self) -> float:
        return self.samples_seen / self.seconds if self.seconds > 0 else 0.0

    @property
    def fraction(self) -> float:
        done = (self.epoch - 1) * self.steps_per_epoch + self.step
        return min(done / max(self.epochs * self.steps_per_epoch, 1), 1.0)

    @property
    def eta_seconds(self) -> float | None:
        f = self.fraction
        return self.seconds * (1 - f) / f if f > 0 else None


class Callback(Protocol):
    def on_train_begin(self, progress: Progress, estimator: Any) -> None: ...
    def on_step_end(self, progress: Progress) -> None: ...
    def on_epoch_end(self, progress: Progress) -> None: ...
    def on_train_end(self, progress: Progress) -> None: ...


def call(callbacks: Sequence[Any], hook: str, *args) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write a checkpoint atomically: a temporary file in the same folder, then a rename."""
    import torch

    from .._atomic import atomic_write

    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def set_threads() -> None:
    """Use every core for CPU training (torch defaults to fewer in some containers)."""
    import torch

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def now() -> float:
    return time.perf_counter()
