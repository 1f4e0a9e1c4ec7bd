"""ImageClassifier: a small CNN with the scikit-learn estimator interface."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from . import _loop


class TrainingInputError(ValueError):
    """Input that cannot be trained on; the message says which and why."""


class TrainingWarning(UserWarning):
    """Training will run, but probably not well (too little data, too short a schedule)."""


def build_cnn(in_channels: int, n_classes: int, height: int, width: int, *, base: int = 16, dropout: float = 0.0):
    """Three conv blocks (two of them pooled) and a linear head: ~55k parameters for 28x28.

    No batch norm: it slowed CPU training down for the same accuracy; ``bench/train_mnist.py``
    prints this model's throughput. ``dropout`` (0 by default) drops features before the head.
    """
    import torch.nn as nn

    h, w = height // 4, width // 4
    layers = [
        nn.Conv2d(in_channels, base, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(base, 2 * base, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(2 * base, 4 * base, 3, padding=1), nn.ReLU(inplace=True),
        nn.Flatten(),
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(4 * base * h * w, n_classes))


def _as_images(X, name: str = "X") -> np.ndarray:
    x = np.asarray(X)
    if x.ndim == 2:
        side = int(math.isqrt(x.shape[1]))
        if side * side != x.shape[1]:
            raise TrainingInputError(f"{name} has shape {x.shape}: flat rows must be square images (e.g. 784 = 28x28)")
        x = x.reshape(len(x), 1, side, side)
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 4:
        raise TrainingInputError(f"{name} has shape {x.shape}; expected (N, H, W), (N, C, H, W) or (N, H*W)")
    if x.shape[-1] <= 4 and x.shape[1] > 4:  # channels last (N, H, W, C)
        x = np.moveaxis(x, -1, 1)
    if len(x) == 0:
        raise TrainingInputError(f"{name} is empty")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
        raise TrainingInputError(f"{name} holds NaN or infinite values in {bad} image(s)")
    return x


@dataclass
class _Session:
    """What one call to ``fit`` trains with: the device, the data on it, the model, the schedule."""

    device: Any
    dist: Any  # torch.distributed when a process group is up, else None
    rank: int
    world: int
    plan: _loop.Plan
    model: Any  # the module (its state is what checkpoints hold)
    train_model: Any  # the same, wrapped in DDP and/or torch.compile
    xt: Any
    y_idx: Any
    optimizer: Any
    scheduler: Any
    generator: Any
    ckpt_path: Path | None
    validation: tuple | None
    callbacks: list
    started: float = 0.0  # when training began (perf_counter)


class ImageClassifier(ClassifierMixin, BaseEstimator):
    """A CNN for small images (28x28 digits and other sizes), trained in memory.

    On a GPU the whole training set lives on the device, batches are slices of it, the model is
    channels_last under bf16 autocast, optionally ``torch.compile``d. On the CPU the same loop
    uses every core. A one-cycle learning-rate schedule runs over all epochs.

    Parameters
    ----------
    epochs:
        Passes over the data. ``None`` (the default): enough for ``min_steps`` optimizer steps,
        at least 5; when resuming, the checkpoint's own number.
    batch_size, max_lr, weight_decay:
        AdamW with a one-cycle schedule peaking at ``max_lr``. ``batch_size`` is the global batch
        (shared by DDP processes), at most a quarter of the data so an epoch has several steps.
    min_steps:
        The fewest optimizer steps a schedule of unset ``epochs`` gets (small data sets).
    width:
        Channels of the first conv block (doubled in each of the next two).
    dropout:
        Dropout before the linear head (0: none).
    device:
        ``"auto"`` (the compute layer's choice), ``"cpu"`` or ``"cuda"``.
    compile:
        Wrap the model in ``torch.compile`` (worth it on GPUs, slower on small CPU runs).
    warm_start:
        Keep the learned weights between calls to ``fit`` (cheap refits for active learning).
    checkpoint_dir:
        Where to write ``last.pt`` after each epoch (atomically); ``resume`` picks it up.
    callbacks:
        Objects with ``on_train_begin / on_step_end / on_epoch_end / on_train_end``.
    random_state:
        Seed for initialisation and shuffling.
    """

    def __init__(self, *, epochs: int | None = None, batch_size: int = 128, max_lr: float = 3e-3, weight_decay: float = 1e-4,
                 min_steps: int = 200, width: int = 16, dropout: float = 0.0, device: str = "auto", compile: bool = False, warm_start: bool = False,
                 checkpoint_dir: str | None = None, resume: bool = False, callbacks: Sequence[Any] = (),
                 random_state: int | None = None, verbose: int = 0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_lr = max_lr
        self.weight_decay = weight_decay
        self.min_steps = min_steps
        self.width = width
        self.dropout = dropout
        self.device = device
        self.compile = compile
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _torch_device(self):
        import torch

        if self.device == "auto":
            from .. import compute

            return compute.torch_device()
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise TrainingInputError(f"device {self.device!r} is not one of auto, cpu, cuda")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise TrainingInputError(f"device {self.device!r} asked for, but torch.cuda.is_available() is False")
        return torch.device(self.device)

    def _to_tensor(self, x: np.ndarray, device):
        import torch

        x = np.ascontiguousarray(x)
        if not x.flags.writeable:  # a read-only memory map: torch wants memory it may write
            x = x.copy()
        t = torch.as_tensor(x, device=device).float()
        if x.dtype == np.uint8:
            t = t / 255.0
        t = (t - self.mean_) / self.std_
        return t.contiguous(memory_format=torch.channels_last)  # faster convolutions on GPUs and CPUs alike

    def _check_y(self, y, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n:
            raise TrainingInputError(f"y has shape {y.shape}; expected one label per image ({n})")
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise TrainingInputError(f"y holds {int(np.isnan(y).sum())} NaN label(s)")
        if y.dtype == object and any(v is None for v in y):
            raise TrainingInputError("y holds missing labels (None)")
        return y

    # ------------------------------------------------------------------ API
    def fit(self, X, y, *, validation_data: tuple | None = None, run_state: dict | None = None):
        """Train on images ``X`` (uint8 or float) and labels ``y``; returns ``self``.

        ``validation_data=(X_val, y_val)`` is scored after each epoch (``val_loss``,
        ``val_accuracy``). ``run_state`` is stored in checkpoints (e.g. an MLflow run id).
        Stopping (a callback's ``stop_requested``) ends training after the current step.
        """
        x, y, classes = self._check_training_data(X, y)
        ckpt = self._resume_checkpoint(classes)
        s = self._start(x, y, classes, ckpt, validation_data)
        progress = self._begin(s, ckpt, run_state)
        try:
            for epoch in range(progress.epoch, s.plan.epochs + 1):
                self._train_epoch(s, progress, epoch)
                self._end_epoch(s, progress, epoch)
                if progress.stop_requested:
                    progress.stopped = True
                    break
        except KeyboardInterrupt:  # an interrupted kernel: the run was stopped, not broken
            progress.stopped = True
            raise
        except BaseException as exc:
            progress.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            s.model.eval()
            _loop.call(s.callbacks, "on_train_end", progress)
        self.history_ = progress.history
        return self

    # ------------------------------------------------------------------ fit, piece by piece
    def _check_training_data(self, X, y):
        x = _as_images(X)
        y = self._check_y(y, len(x))
        classes = np.unique(y)
        if len(classes) < 2:
            raise TrainingInputError(f"y holds a single class ({classes[0]!r}): a classifier needs at least 2")
        if self.warm_start and hasattr(self, "model_"):
            unknown = np.setdiff1d(classes, self.classes_)
            if len(unknown):
                raise TrainingInputError(
                    f"y holds {len(unknown)} class(es) the model has no output for ({list(unknown[:5])}); "
                    f"it was built for {len(self.classes_)}: refit without warm_start"
                )
            if x.shape[1:] != tuple(self.input_shape_):
                raise TrainingInputError(f"X images are {x.shape[1:]}, the model was built for {tuple(self.input_shape_)}")
        return x, y, classes

    def _resume_checkpoint(self, classes) -> dict | None:
        """The checkpoint to continue from (``resume`` and one exists), checked against ``classes``."""
        path = Path(self.checkpoint_dir) / "last.pt" if self.checkpoint_dir else None
        if not (self.resume and path is not None and path.exists()):
            return None
        ckpt = _loop.load_checkpoint(path)
        unknown = np.setdiff1d(classes, ckpt["classes"])
        if len(unknown):
            run = ckpt.get("run_state", {}).get("mlflow_run_id") or path
            raise TrainingInputError(
                f"cannot resume {run}: y holds {len(unknown)} class(es) its model has no output for "
                f"({[str(c) for c in unknown[:5]]}; it was trained on {[str(c) for c in ckpt['classes']]}): "
                "train a new run instead"
            )
        return ckpt

    def _build_model(self, x, classes, ckpt) -> None:
        if ckpt is not None:
            self.classes_, self.mean_, self.std_ = ckpt["classes"], ckpt["mean"], ckpt["std"]
            self.input_shape_ = tuple(ckpt["input_shape"])
            c, h, w = self.input_shape_
            plan = ckpt.get("plan", {})
            self.model_ = build_cnn(c, len(self.classes_), h, w, base=plan.get("width", self.width), dropout=plan.get("dropout", 0.0))
            self.model_.load_state_dict(ckpt["model"])
        elif not (self.warm_start and hasattr(self, "model_")):
            self.classes_ = classes
            self.input_shape_ = tuple(int(s) for s in x.shape[1:])
            scale = 255.0 if x.dtype == np.uint8 else 1.0
            self.mean_ = float(x.mean() / scale)
            self.std_ = float(x.std() / scale) or 1.0
            self.model_ = build_cnn(x.shape[1], len(classes), x.shape[2], x.shape[3], base=self.width, dropout=self.dropout)

    def _start(self, x, y, classes, ckpt, validation_data) -> _Session:
        import torch

        device = self._torch_device()
        _loop.set_threads()
        gen = torch.Generator().manual_seed(0 if self.random_state is None else int(self.random_state))
        if self.random_state is not None:
            torch.manual_seed(int(self.random_state))
        dist = torch.distributed if torch.distributed.is_available() and torch.distributed.is_initialized() else None
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)
        epochs = self.epochs if self.epochs is not None or ckpt is None else int(ckpt["epochs"])
        plan = _loop.plan_schedule(len(x), world=world, batch_size=self.batch_size, epochs=epochs, min_steps=self.min_steps)
        self._build_model(x, classes, ckpt)
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        y_idx = torch.as_tensor(np.fromiter((index[v] for v in y.tolist()), dtype=np.int64, count=len(y)), device=device)
        model = self.model_.to(device).to(memory_format=torch.channels_last)
        train_model = model
        if dist is not None:
            train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if self.compile:
            train_model = torch.compile(train_model)
        optimizer, scheduler = self._optimizer(model, plan, ckpt, gen)
        val = None
        if validation_data is not None:
            vx = _as_images(validation_data[0], "X_val")
            val = (vx, self._check_y(validation_data[1], len(vx)))
        ckpt_path = Path(self.checkpoint_dir) / "last.pt" if self.checkpoint_dir and rank == 0 else None
        return _Session(device, dist, rank, world, plan, model, train_model, self._to_tensor(x, device), y_idx, optimizer,
                        scheduler, gen, ckpt_path, val, list(self.callbacks) if rank == 0 else [])

    def _optimizer(self, model, plan: _loop.Plan, ckpt, gen):
        """AdamW and a one-cycle schedule; a checkpoint's states when its plan is the same, else a
        new schedule over the steps that are left."""
        import torch

        optimizer = torch.optim.AdamW(model.parameters(), lr=self.max_lr, weight_decay=self.weight_decay)
        total = plan.total_steps
        same = ckpt is not None and "optimizer" in ckpt and ckpt["epochs"] == plan.epochs \
            and ckpt.get("plan", {}).get("steps", plan.steps) == plan.steps
        if ckpt is not None and not same:
            total = max((plan.epochs - ckpt["epoch"]) * plan.steps, 1)
            plan.notes.append(f"the plan changed on resume: a new one-cycle schedule over the {total} steps left")
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.max_lr, total_steps=total)
        if same:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt is not None and "generator" in ckpt:
            gen.set_state(ckpt["generator"])
        return optimizer, scheduler

    def _begin(self, s: _Session, ckpt, run_state) -> _loop.Progress:
        start_epoch = 1 if ckpt is None else min(int(ckpt["epoch"]), int(ckpt["epochs"])) + 1
        progress = _loop.Progress(epoch=start_epoch, epochs=s.plan.epochs, step=0, steps_per_epoch=s.plan.steps,
                                  samples_seen=0, seconds=0.0, device=str(s.device),
                                  history=list(ckpt.get("history", [])) if ckpt else [])
        progress.messages.extend(s.plan.notes)
        if s.rank == 0:
            for text in s.plan.warnings:
                warnings.warn(text, TrainingWarning, stacklevel=3)
                progress.messages.append(text)
        self.progress_ = progress
        self.run_state_ = dict(ckpt.get("run_state", {})) if ckpt else {}
        if run_state:
            self.run_state_.update(run_state)
        s.started = _loop.now()
        _loop.call(s.callbacks, "on_train_begin", progress, self)
        return progress

    def _train_epoch(self, s: _Session, progress: _loop.Progress, epoch: int) -> None:
        import torch
        import torch.nn.functional as F

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
                    loss = F.cross_entropy(s.train_model(s.xt[idx]), s.y_idx[idx])
            else:
                loss = F.cross_entropy(s.train_model(s.xt[idx]), s.y_idx[idx])
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
            if self._stop_requested(progress, s):
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

    def _end_epoch(self, s: _Session, progress: _loop.Progress, epoch: int) -> None:
        record = progress.history[-1]
        if s.validation is not None and s.rank == 0:
            record.update(self._evaluate(*s.validation))
        progress.metrics.update({k: v for k, v in record.items() if k != "epoch"})
        progress.seconds = _loop.now() - s.started
        if s.ckpt_path is not None:
            _loop.save_checkpoint(s.ckpt_path, {
                "epoch": epoch, "epochs": s.plan.epochs, "model": s.model.state_dict(), "optimizer": s.optimizer.state_dict(),
                "scheduler": s.scheduler.state_dict(), "generator": s.generator.get_state(), "classes": self.classes_,
                "mean": self.mean_, "std": self.std_, "input_shape": self.input_shape_, "history": progress.history,
                "run_state": self.run_state_, "stopped": progress.stop_requested,
                "plan": {"steps": s.plan.steps, "batch_size": s.plan.batch * s.world, "max_lr": self.max_lr,
                         "weight_decay": self.weight_decay, "width": self.width, "dropout": self.dropout, "random_state": self.random_state},
            })
        _loop.call(s.callbacks, "on_epoch_end", progress)
        if self.verbose and s.rank == 0:
            print(f"epoch {epoch}/{s.plan.epochs}: " + ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"), flush=True)

    def _stop_requested(self, progress, s: _Session) -> bool:
        import torch

        wants = any(getattr(cb, "stop_requested", False) for cb in self.callbacks)
        if s.dist is not None:  # every rank stops at the same step; the flag lives on the rank's device (NCCL has no CPU tensors)
            flag = torch.tensor([1.0 if wants else 0.0], device=s.device)
            s.dist.all_reduce(flag)
            wants = bool(flag.item() > 0)
        progress.stop_requested = progress.stop_requested or wants
        return progress.stop_requested

    def _logits(self, X, *, batch: int = 4096):
        import torch

        x = _as_images(X)
        if x.shape[1:] != tuple(self.input_shape_):
            raise TrainingInputError(f"X images are {x.shape[1:]}, the model was trained on {tuple(self.input_shape_)}")
        device = next(self.model_.parameters()).device
        self.model_.eval()
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                t = self._to_tensor(x[i : i + batch], device)
                if device.type == "cuda":
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        outs.append(self.model_(t).float())
                else:
                    outs.append(self.model_(t))
        return torch.cat(outs)

    def _evaluate(self, X, y) -> dict[str, float]:
        import torch.nn.functional as F
        import torch

        logits = self._logits(X)
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        known = np.fromiter((v in index for v in np.asarray(y).tolist()), dtype=bool, count=len(y))
        target = torch.as_tensor([index.get(v, 0) for v in np.asarray(y).tolist()], device=logits.device)
        loss = float(F.cross_entropy(logits[known], target[known])) if known.any() else float("nan")
        pred = logits.argmax(1).cpu().numpy()
        acc = float(np.mean(self.classes_[pred] == np.asarray(y)))
        self.model_.train()
        return {"val_loss": loss, "val_accuracy": acc}

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        import torch

        return torch.softmax(self._logits(X).float(), dim=1).cpu().numpy()

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags
