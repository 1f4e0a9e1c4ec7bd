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
    error: str | None = None  # set when training raised: the run ends FAILED
    messages: list[str] = field(default_factory=list)  # notes for people: small data, tracking trouble...

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


@dataclass
class Plan:
    """How many epochs of how many steps of which batch size, and why when it differs from what was asked."""

    epochs: int
    batch: int  # per process
    steps: int  # per epoch
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps


def check_epochs(epochs) -> None:
    """``epochs`` is None (the default schedule) or a whole number of at least 1; else a TrainingInputError naming it.

    ``epochs or default`` would quietly train the default for 0, and a float would fail deep in range().
    """
    from ._inputs import check_params

    check_params(epochs=epochs)


def plan_schedule(n: int, *, world: int = 1, batch_size: int = 128, epochs: int | None = None, min_steps: int = 200,
                  default_epochs: int = 5) -> Plan:
    """Fit the schedule to the data: batches of at most a quarter of each process's share (so an
    epoch has several steps), and, when ``epochs`` is None, enough epochs for ``min_steps``
    optimizer steps (at least ``default_epochs``). A one-cycle schedule of a handful of steps
    never warms up or anneals: that is what trained chance-level models on small label sets.
    """
    check_epochs(epochs)
    per_rank = max(n // world, 1)
    asked = max(batch_size // world, 1)
    batch = max(min(asked, per_rank // 4 if per_rank >= 4 else per_rank), 1)
    steps = max(per_rank // batch, 1)
    plan = Plan(default_epochs if epochs is None else int(epochs), batch, steps)
    if batch < asked:
        plan.notes.append(f"batch {batch * world} instead of {asked * world}: {n} items make {steps} steps per epoch")
    if epochs is None:
        plan.epochs = max(default_epochs, -(-min_steps // steps))
        if plan.epochs != default_epochs:
            plan.notes.append(f"{plan.epochs} epochs (instead of {default_epochs}) for {plan.total_steps} steps on {n} items")
    elif plan.total_steps < min_steps // 2:
        plan.warnings.append(f"{epochs} epoch(s) of {steps} step(s) give the learning-rate schedule only {plan.total_steps} "
                             f"steps on {n} items: expect a poor model; leave epochs unset (at least {min_steps} steps) or use more")
    return plan


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
