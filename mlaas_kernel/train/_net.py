"""NetEstimator: the fit loop every image network shares; a subclass adds its network, loss and validation metrics.

The loop keeps the data on the device, runs AdamW under a one-cycle schedule over all epochs
(bf16 autocast on CUDA, DDP under torchrun), calls the callbacks after steps and epochs, stops
after the current step when one asks, and writes ``last.pt`` atomically after each epoch, so
``resume`` continues where a stopped or killed run left off.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from . import _epoch, _loop, _session
from ._inputs import TrainingInputError, TrainingWarning, as_images, check_labels, check_params


class NetEstimator(BaseEstimator):
    """Base class: ``fit`` owns the bookkeeping; subclasses implement the hooks below
    (``_make_net``, ``_net_params``, ``_loss``, ``_validate``; optionally ``_check_training_data``,
    ``_check_resume``, ``_epoch_done``, ``_fit_done``). Parameters are the subclass's."""

    #: what the validation accuracy (``val_accuracy``) is called where people read it (the monitor's chart)
    metric_label = "validation accuracy"
    #: names the per-epoch lines of ``verbose`` print some metrics under (the tracked keys stay as they are)
    printed_names: dict[str, str] = {}

    def _keep(self, args: dict) -> None:
        """Store ``__init__``'s arguments as attributes of the same names (scikit-learn's convention), nothing else."""
        for name, value in args.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # ------------------------------------------------------------------ hooks
    def _make_net(self, c: int, h: int, w: int, n_classes: int, params: dict):
        raise NotImplementedError

    def _net_params(self) -> dict:
        """What rebuilding the network needs besides the input shape (stored in checkpoints' plan)."""
        raise NotImplementedError

    def _loss(self, outputs, targets):
        raise NotImplementedError

    def _validate(self, s: _session.Session) -> dict[str, float]:
        raise NotImplementedError

    def _check_training_data(self, X, y):
        x = as_images(X)
        y = check_labels(y, len(x))
        return x, y, np.unique(y)

    def _check_resume(self, ckpt: dict, classes, path: Path) -> None:
        """Raise :class:`TrainingInputError` when ``ckpt`` cannot continue on ``classes``."""

    def _epoch_done(self, s: _session.Session, progress: _loop.Progress, record: dict) -> None:
        """After validation, before the checkpoint is written."""

    def _fit_done(self, s: _session.Session, progress: _loop.Progress) -> None:
        """After the last epoch (or a stop), before ``on_train_end``."""

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, validation_data: tuple | None = None, run_state: dict | None = None):
        """Train on images ``X`` (uint8 or float) and labels ``y``; returns ``self``.

        ``validation_data=(X_val, y_val)`` is scored after each epoch. ``run_state`` is stored
        in checkpoints (e.g. an MLflow run id). Stopping (a callback's ``stop_requested``) ends
        training after the current step.
        """
        check_params(**self.get_params(deep=False))  # nothing has started: no callback hears of a fit that cannot run
        x, y, classes = self._check_training_data(X, y)
        ckpt = self._resume_checkpoint(classes)
        s = self._start(x, y, classes, ckpt, validation_data)
        progress = self._begin(s, ckpt, run_state)
        begun = []  # the callbacks whose on_train_begin returned: each hears on_train_end, however training ends
        try:
            for cb in s.callbacks:
                _loop.call([cb], "on_train_begin", progress, self)
                begun.append(cb)
            for epoch in range(progress.epoch, s.plan.epochs + 1):
                _epoch.train_epoch(s, progress, epoch, self._loss, self.callbacks)
                self._end_epoch(s, progress, epoch)
                if progress.stop_requested:
                    progress.stopped = True
                    break
            self._fit_done(s, progress)
        except KeyboardInterrupt:  # an interrupted kernel: the run was stopped, not broken
            progress.stopped = True
            raise
        except BaseException as exc:
            progress.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            s.model.eval()
            _loop.call(begun, "on_train_end", progress)
        self.history_ = progress.history
        return self

    def _resume_checkpoint(self, classes) -> dict | None:
        """The checkpoint to continue from (``resume`` and one exists), checked by ``_check_resume``."""
        path = Path(self.checkpoint_dir) / "last.pt" if self.checkpoint_dir else None
        if not (self.resume and path is not None and path.exists()):
            return None
        ckpt = _loop.load_checkpoint(path)
        self._check_resume(ckpt, classes, path)
        return ckpt

    def _build_model(self, x, classes, ckpt) -> None:
        if ckpt is not None:
            self.classes_, self.mean_, self.std_ = ckpt["classes"], ckpt["mean"], ckpt["std"]
            self.input_shape_ = tuple(ckpt["input_shape"])
            self.model_ = self._make_net(*self.input_shape_, len(self.classes_), {**self._net_params(), **ckpt.get("plan", {})})
            self.model_.load_state_dict(ckpt["model"])
        elif not (self.warm_start and hasattr(self, "model_")):
            self.classes_ = classes
            self.input_shape_ = tuple(int(v) for v in x.shape[1:])
            scale = 255.0 if x.dtype == np.uint8 else 1.0
            self.mean_ = float(x.mean() / scale)
            self.std_ = float(x.std() / scale) or 1.0
            self.model_ = self._make_net(*self.input_shape_, len(classes), self._net_params())

    def _start(self, x, y, classes, ckpt, validation_data) -> _session.Session:
        import torch

        device = self._torch_device()
        _loop.set_threads()
        gen = _session.seeded_generator(self.random_state)
        dist = _session.process_group()
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)
        epochs = self.epochs if self.epochs is not None or ckpt is None else int(ckpt["epochs"])
        plan = _loop.plan_schedule(len(x), world=world, batch_size=self.batch_size, epochs=epochs, min_steps=self.min_steps)
        self._build_model(x, classes, ckpt)
        y_idx = torch.as_tensor(self._class_index(y), device=device)
        model, train_model = _session.wrap(self.model_, device, dist, self.compile)
        opt, scheduler = _session.optimizer(model, plan, ckpt, gen, max_lr=self.max_lr, weight_decay=self.weight_decay)
        val = None
        if validation_data is not None:
            vx = as_images(validation_data[0], "X_val")
            val = (vx, check_labels(validation_data[1], len(vx)))
        ckpt_dir = Path(self.checkpoint_dir) if self.checkpoint_dir and rank == 0 else None
        return _session.Session(device, dist, rank, world, plan, model, train_model, self._to_tensor(x, device), y_idx, opt,
                                scheduler, gen, ckpt_dir, val, list(self.callbacks) if rank == 0 else [])

    def _class_index(self, y) -> np.ndarray:
        """Each label's position in ``classes_`` (int64)."""
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        return np.fromiter((index[v] for v in np.asarray(y).tolist()), dtype=np.int64, count=len(y))

    def _begin(self, s: _session.Session, ckpt, run_state) -> _loop.Progress:
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
        return progress

    def _end_epoch(self, s: _session.Session, progress: _loop.Progress, epoch: int) -> None:
        record = progress.history[-1]
        if s.validation is not None and s.rank == 0:
            record.update(self._validate(s))
        self._epoch_done(s, progress, record)
        progress.metrics.update({k: v for k, v in record.items() if k != "epoch"})
        progress.seconds = _loop.now() - s.started
        if s.ckpt_dir is not None:
            _loop.save_checkpoint(s.ckpt_dir / "last.pt", self._checkpoint(s, progress, epoch))
        _loop.call(s.callbacks, "on_epoch_end", progress)
        if self.verbose and s.rank == 0:
            print(f"epoch {epoch}/{s.plan.epochs}: " + ", ".join(f"{self.printed_names.get(k, k)} {v:.4g}" for k, v in record.items() if k != "epoch"),
                  flush=True)

    def _checkpoint(self, s: _session.Session, progress: _loop.Progress, epoch: int) -> dict:
        return {
            "epoch": epoch, "epochs": s.plan.epochs, "model": s.model.state_dict(), "optimizer": s.optimizer.state_dict(),
            "scheduler": s.scheduler.state_dict(), "generator": s.generator.get_state(), "classes": self.classes_,
            "mean": self.mean_, "std": self.std_, "input_shape": self.input_shape_, "history": progress.history,
            "run_state": self.run_state_, "stopped": progress.stop_requested,
            "plan": {"steps": s.plan.steps, "batch_size": s.plan.batch * s.world, "max_lr": self.max_lr,
                     "weight_decay": self.weight_decay, "random_state": self.random_state, **self._net_params()},
        }

    # ------------------------------------------------------------------ device and inference
    def _torch_device(self):
        return _session.torch_device(self.device)

    def _to_tensor(self, x: np.ndarray, device):
        return _session.to_device(x, device, self.mean_, self.std_)

    def _outputs(self, X, *, batch: int = 4096, tensor: bool = False):
        """The network's outputs for images ``X`` (or, with ``tensor``, for a prepared tensor on the device), in eval mode."""
        if not tensor:
            X = as_images(X)
            if X.shape[1:] != tuple(self.input_shape_):
                raise TrainingInputError(f"X images are {X.shape[1:]}, the model was trained on {tuple(self.input_shape_)}")
        device = next(self.model_.parameters()).device
        chunks = (X[i : i + batch] if tensor else self._to_tensor(X[i : i + batch], device) for i in range(0, len(X), batch))
        return _session.infer(self.model_, chunks, device)
