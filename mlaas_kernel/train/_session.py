"""One call to ``fit`` on its device: the process group, the data on the device, the model, AdamW and its one-cycle schedule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _loop


@dataclass
class Session:
    """What one call to ``fit`` trains with: the device, the data on it, the model, the schedule."""

    device: Any
    dist: Any  # torch.distributed when a process group is up, else None
    rank: int
    world: int
    plan: _loop.Plan
    model: Any  # the module (its state is what checkpoints hold)
    train_model: Any  # the same, wrapped in DDP and/or torch.compile
    xt: Any  # the training images on the device, normalised, channels_last
    y_idx: Any  # their labels as class indices, on the device
    optimizer: Any
    scheduler: Any
    generator: Any
    ckpt_dir: Path | None  # where last.pt (and an estimator's other checkpoints) go; None on other ranks
    validation: tuple | None  # (X_val, y_val) as given, checked
    callbacks: list
    started: float = 0.0  # when training began (perf_counter)


def torch_device(name: str):
    """The torch device ``name`` asks for: ``"auto"`` (the compute layer's choice), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    import torch

    from ._inputs import TrainingInputError

    if name == "auto":
        from .. import compute

        return compute.torch_device()
    if name not in ("cpu", "cuda") and not str(name).startswith("cuda:"):
        raise TrainingInputError(f"device {name!r} is not one of auto, cpu, cuda")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise TrainingInputError(f"device {name!r} asked for, but torch.cuda.is_available() is False")
    return torch.device(name)


def process_group():
    """``torch.distributed`` when a process group is up (torchrun), else None."""
    import torch

    return torch.distributed if torch.distributed.is_available() and torch.distributed.is_initialized() else None


def seeded_generator(random_state: int | None):
    """The generator that shuffles batches; seeds torch's own too when ``random_state`` is set (initialisation)."""
    import torch

    gen = torch.Generator().manual_seed(0 if random_state is None else int(random_state))
    if random_state is not None:
        torch.manual_seed(int(random_state))
    return gen


def wrap(model, device, dist, compile: bool):
    """The module the steps run: channels_last on ``device``, in DDP under a process group, optionally compiled."""
    import torch

    model = model.to(device).to(memory_format=torch.channels_last)
    train_model = model
    if dist is not None:
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        train_model = torch.compile(train_model)
    return model, train_model


def optimizer(model, plan: _loop.Plan, ckpt: dict | None, gen, *, max_lr: float, weight_decay: float):
    """AdamW and a one-cycle schedule; a checkpoint's states when its plan is the same, else a
    new schedule over the steps that are left."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=max_lr, weight_decay=weight_decay)
    total = plan.total_steps
    same = ckpt is not None and "optimizer" in ckpt and ckpt["epochs"] == plan.epochs \
        and ckpt.get("plan", {}).get("steps", plan.steps) == plan.steps
    if ckpt is not None and not same:
        total = max((plan.epochs - ckpt["epoch"]) * plan.steps, 1)
        plan.notes.append(f"the plan changed on resume: a new one-cycle schedule over the {total} steps left")
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total)
    if same:
        opt.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt is not None and "generator" in ckpt:
        gen.set_state(ckpt["generator"])
    return opt, scheduler


def to_device(x, device, mean: float, std: float):
    """Images (N, C, H, W) as a normalised float tensor on ``device``, channels_last (uint8 scaled to 0..1 first)."""
    import numpy as np
    import torch

    x = np.ascontiguousarray(x)
    if not x.flags.writeable:  # a read-only memory map: torch wants memory it may write
        x = x.copy()
    t = torch.as_tensor(x, device=device).float()
    if x.dtype == np.uint8:
        t = t / 255.0
    t = (t - mean) / std
    return t.contiguous(memory_format=torch.channels_last)  # faster convolutions on GPUs and CPUs alike


def infer(model, chunks, device):
    """``model``'s outputs for each tensor of ``chunks``, concatenated: eval mode (restored after), bf16 autocast on CUDA."""
    import torch

    was_training = model.training
    model.eval()
    outs = []
    with torch.inference_mode():
        for t in chunks:
            if device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    outs.append(model(t).float())
            else:
                outs.append(model(t))
    model.train(was_training)
    return torch.cat(outs)
