"""ImageLabeler: one large image, class buttons, keyboard-driven, active learning optional."""

from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import traitlets

from ._labeling import Labeler


def png_data_url(image) -> str:
    """A uint8 image (H, W) or (H, W, C) as a PNG data URL."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class ImageLabeler(Labeler):
    """Label images one at a time, from the keyboard.

    Keys: a class's key labels (digits by default), Backspace or Ctrl+Z undoes, S skips,
    Enter accepts the model's suggestion, Left/Right move through what was labeled.
    Each label is committed to the store before the next image is shown.

    Parameters
    ----------
    images:
        Array (N, H, W[, C]) of uint8, indexed by item id.
    store, dataset, annotator:
        Where labels go, and under which dataset and name.
    classes:
        The class names.
    items:
        Which items to label (default: all).
    learner:
        An :class:`mlaas_kernel.active.ActiveLearner` that orders the queue and suggests labels.
    """

    display_size = traitlets.Int(280, help="the image's width and height in pixels on screen").tag(sync=True)

    def __init__(self, images, *, store, dataset: str, annotator: str, classes: Sequence[Any],
                 items: Sequence[int] | None = None, learner=None, **kwargs):
        self.images = images
        super().__init__(store=store, dataset=dataset, annotator=annotator, classes=classes,
                         items=range(len(images)) if items is None else items, learner=learner, kind="image", **kwargs)

    def _payload(self, item: int) -> dict:
        return {"src": png_data_url(self.images[item])}
