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
