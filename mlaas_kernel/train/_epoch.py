"""One epoch of optimizer steps over the data on the device: bf16 autocast on CUDA, callbacks, Stop, DDP."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from . import _loop
from ._session import Session


def train_epoch(s: Session, progress: _loop.Progress, epoch: int, loss_fn: Callable[[Any, Any], Any],
                stoppers: Sequence[Any]) -> None:
    """Run epoch ``epoch``: ``loss_fn(outputs, targets)`` per batch; a history record at its end.

    ``stoppers`` are the objects whose ``stop_requested`` ends the epoch after the current step
    (every DDP rank stops at the same step).
    """
    import torch

    progress.epoch, progress.step = epoch, 0
    s.train_model.train()
    perm = torch.randperm(len(s.xt), generator=s.generator).to(s.device)
    mine = perm[s.rank :: s.world][: s.plan.steps * s.plan.batch]
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if s.device.type == "cuda" else None
    loss_sum = torch.zeros((), device=s.device)
    epoch_start, epoch_samples = _loop.now(), progress.samples_seen
    for step in range(s.plan.steps):
        idx = mine[step * s.plan.batch : (step + 1) * s.plan.batch]
        if amp is not None:
            with amp:
                loss = loss_fn(s.train_model(s.xt[idx]), s.y_idx[idx])
        else:
            loss = loss_fn(s.train_model(s.xt[idx]), s.y_idx[idx])
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        s.optimizer.step()
        s.scheduler.step()
        loss_sum += loss.detach()
        progress.step = step + 1
        progress.samples_seen += len(idx) * s.world
        progress.seconds = _loop.now() - s.started
        if s.callbacks and (step % 10 == 0 or step == s.plan.steps - 1):
            progress.metrics["loss"] = float(loss.detach())
            _loop.call(s.callbacks, "on_step_end", progress)
        if stop_requested(s, progress, stoppers):
            break
    train_loss = loss_sum / max(progress.step, 1)
    if s.device.type == "cuda":
        torch.cuda.synchronize()
    if s.dist is not None:
        s.dist.all_reduce(train_loss)
        train_loss /= s.world
    rate = (progress.samples_seen - epoch_samples) / max(_loop.now() - epoch_start, 1e-9)
    progress.history.append({"epoch": epoch, "loss": float(train_loss), "images_per_second": rate,
                             "lr": float(s.scheduler.get_last_lr()[0])})


def stop_requested(s: Session, progress: _loop.Progress, stoppers: Sequence[Any]) -> bool:
    """Whether any stopper asked to stop (on any rank); remembered on ``progress``."""
    import torch

    wants = any(getattr(cb, "stop_requested", False) for cb in stoppers)
    if s.dist is not None:  # every rank stops at the same step; the flag lives on the rank's device (NCCL has no CPU tensors)
        flag = torch.tensor([1.0 if wants else 0.0], device=s.device)
        s.dist.all_reduce(flag)
        wants = bool(flag.item() > 0)
    progress.stop_requested = progress.stop_requested or wants
    return progress.stop_requested
