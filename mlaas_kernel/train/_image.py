"""ImageClassifier: a small CNN with the scikit-learn estimator interface, trained by the shared fit loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import ClassifierMixin

from ._inputs import TrainingInputError, TrainingWarning
from ._net import NetEstimator

__all__ = ["ImageClassifier", "TrainingInputError", "TrainingWarning", "build_cnn"]


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


class ImageClassifier(ClassifierMixin, NetEstimator):
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
        self._keep(locals())

    # ------------------------------------------------------------------ the loop's hooks
    def _check_training_data(self, X, y):
        x, y, classes = super()._check_training_data(X, y)
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

    def _check_resume(self, ckpt: dict, classes, path: Path) -> None:
        unknown = np.setdiff1d(classes, ckpt["classes"])
        if len(unknown):
            run = ckpt.get("run_state", {}).get("mlflow_run_id") or path
            raise TrainingInputError(
                f"cannot resume {run}: y holds {len(unknown)} class(es) its model has no output for "
                f"({[str(c) for c in unknown[:5]]}; it was trained on {[str(c) for c in ckpt['classes']]}): "
                "train a new run instead"
            )

    def _make_net(self, c: int, h: int, w: int, n_classes: int, params: dict):
        return build_cnn(c, n_classes, h, w, base=params["width"], dropout=params.get("dropout", 0.0))

    def _net_params(self) -> dict:
        return {"width": self.width, "dropout": self.dropout}

    def _loss(self, outputs, targets):
        import torch.nn.functional as F

        return F.cross_entropy(outputs, targets)

    def _validate(self, s) -> dict[str, float]:
        return self._evaluate(*s.validation)

    # ------------------------------------------------------------------ scores and predictions
    def _logits(self, X, *, batch: int = 4096):
        return self._outputs(X, batch=batch)

    def _evaluate(self, X, y) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        logits = self._logits(X)
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        known = np.fromiter((v in index for v in np.asarray(y).tolist()), dtype=bool, count=len(y))
        target = torch.as_tensor([index.get(v, 0) for v in np.asarray(y).tolist()], device=logits.device)
        loss = float(F.cross_entropy(logits[known], target[known])) if known.any() else float("nan")
        pred = logits.argmax(1).cpu().numpy()
        acc = float(np.mean(self.classes_[pred] == np.asarray(y)))
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
