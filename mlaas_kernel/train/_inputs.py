"""What image estimators accept: images in any usual layout, one label per image, and the errors that say why not."""

from __future__ import annotations

import math

import numpy as np


class TrainingInputError(ValueError):
    """Input that cannot be trained on; the message says which and why."""


class TrainingWarning(UserWarning):
    """Training will run, but probably not well (too little data, too short a schedule)."""


def as_images(X, name: str = "X") -> np.ndarray:
    """``X`` as (N, C, H, W): from (N, H, W), (N, H*W) of square images, (N, H, W, C) or (N, C, H, W)."""
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


def check_labels(y, n: int) -> np.ndarray:
    """``y`` as one label per image (``n``), with no missing label."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise TrainingInputError(f"y has shape {y.shape}; expected one label per image ({n})")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise TrainingInputError(f"y holds {int(np.isnan(y).sum())} NaN label(s)")
    if y.dtype == object and any(v is None for v in y):
        raise TrainingInputError("y holds missing labels (None)")
    return y


def _whole(name: str, value, *, least: int, optional: bool = False) -> None:
    import numbers

    if value is None and optional:
        return
    default = ", or None for the default" if optional else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TrainingInputError(f"{name} must be a whole number of at least {least}{default} (got {value!r})")
    if value < least:
        raise TrainingInputError(f"{name} must be at least {least}{default} (got {value})")


def _real(name: str, value, *, low: float, low_ok: bool, high: float = math.inf, optional: bool = False) -> None:
    import numbers

    if value is None and optional:
        return
    above = f"at least {low:g}" if low_ok else f"above {low:g}"
    bound = above + (f" and below {high:g}" if high < math.inf else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TrainingInputError(f"{name} must be a number {bound} (got {value!r})")
    if value < low or (value == low and not low_ok) or value >= high:
        raise TrainingInputError(f"{name} must be {bound} (got {value!r})")


#: what each training parameter accepts: checked before a run is created, so bad input never leaves a run behind
_RULES = {
    "epochs": lambda v: _whole("epochs", v, least=1, optional=True),
    "batch_size": lambda v: _whole("batch_size", v, least=1),
    "min_steps": lambda v: _whole("min_steps", v, least=1),
    "width": lambda v: _whole("width", v, least=1),
    "dim": lambda v: _whole("dim", v, least=1),
    "max_lr": lambda v: _real("max_lr", v, low=0.0, low_ok=False),
    "weight_decay": lambda v: _real("weight_decay", v, low=0.0, low_ok=True),
    "dropout": lambda v: _real("dropout", v, low=0.0, low_ok=True, high=1.0),
    "margin": lambda v: _real("margin", v, low=0.0, low_ok=False),
}


def check_given(**values) -> None:
    """:func:`check_params` on the values given (not None): ``train_dataset``'s None means "the estimator's default"."""
    check_params(**{k: v for k, v in values.items() if v is not None})


def check_params(**values) -> None:
    """Raise :class:`TrainingInputError` naming the first of ``values`` (epochs, batch_size, max_lr, weight_decay,
    width, dropout, min_steps, dim, margin, device) that training cannot use; names it does not know pass.
    An estimator's own parameters have no None default but epochs (its schedule's own length)."""
    for name, value in values.items():
        if name in _RULES:
            _RULES[name](value)
    if "device" in values:
        from ._session import torch_device

        torch_device(values["device"])  # a bad name, or CUDA asked for where there is none
