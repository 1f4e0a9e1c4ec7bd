"""Uploaded images (PNG/JPEG bytes) as the model's input: greyscale, MNIST-style framing, pixel intensities 0..1.

The rules, so a drawing or a photo of a digit reaches the model the way training images did:

- An image with a partly transparent alpha channel (a canvas drawing) is read from its alpha:
  ink where it is opaque, whatever the stroke colour.
- Otherwise it is converted to greyscale; when its border is light (mean above half), it is a
  dark digit on a light background and is inverted, so the digit is white on black like MNIST.
- An image already of the model's size is used as it is. Any other size is framed like MNIST:
  the ink's bounding box is scaled to fit 20/28 of the frame (aspect kept) and centred by its
  centre of mass.
"""

from __future__ import annotations

import io
import re

import numpy as np

from ._errors import ServeInputError

__all__ = ["prepare_image", "MAX_PIXELS"]

#: larger uploads are refused before they are decoded (a small PNG can unpack to gigabytes)
MAX_PIXELS = 25_000_000


def _decode(data: bytes, name: str):
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ServeInputError(f"{name}: the file is empty; expected a PNG or JPEG image")
    try:
        img = Image.open(io.BytesIO(data))
        if img.format not in ("PNG", "JPEG"):
            raise ServeInputError(f"{name}: a {img.format or 'unknown'} image; expected PNG or JPEG")
        if img.width * img.height > MAX_PIXELS:
            raise ServeInputError(f"{name}: {img.width}x{img.height} pixels is over the {MAX_PIXELS:,}-pixel limit")
        img.load()
    except ServeInputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        said = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc)).strip() or type(exc).__name__
        raise ServeInputError(f"{name}: cannot be decoded as a PNG or JPEG image ({said})") from None
    return img


def _ink(img, channels: int) -> np.ndarray:
    """(H, W, channels) float 0..1, white ink on black."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            a = alpha.astype(np.float32) / 255.0
            return np.repeat(a[..., None], channels, axis=2)
        img = rgba.convert("RGB")
    x = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
    if x.ndim == 2:
        x = x[..., None]
    grey = x.mean(axis=2)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - x if border.mean() > 0.5 else x


def _frame(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """MNIST's framing: the ink's box scaled into 20/28 of the frame, centred by centre of mass."""
    from PIL import Image

    grey = x.mean(axis=2)
    ys, xs = np.nonzero(grey > 0.1)
    if len(ys) == 0:  # a blank image: nothing to frame
        ys, xs = np.array([0, grey.shape[0] - 1]), np.array([0, grey.shape[1] - 1])
    crop = x[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    box_h, box_w = round(height * 20 / 28), round(width * 20 / 28)
    scale = min(box_h / crop.shape[0], box_w / crop.shape[1])
    new_h, new_w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    planes = [np.asarray(Image.fromarray(crop[..., c]).resize((new_w, new_h), Image.BILINEAR)) for c in range(crop.shape[2])]
    small = np.clip(np.stack(planes, axis=2), 0.0, 1.0)
    mass = small.mean(axis=2)
    total = float(mass.sum()) or 1.0
    cy = float((mass.sum(axis=1) * np.arange(new_h)).sum()) / total
    cx = float((mass.sum(axis=0) * np.arange(new_w)).sum()) / total
    top = int(np.clip(round(height / 2 - cy), 0, height - new_h))
    left = int(np.clip(round(width / 2 - cx), 0, width - new_w))
    out = np.zeros((height, width, x.shape[2]), dtype=np.float32)
    out[top:top + new_h, left:left + new_w] = small
    return out


def prepare_image(data: bytes, input_shape, *, name: str = "image") -> np.ndarray:
    """PNG/JPEG ``data`` as a float32 array ``input_shape`` (C, H, W) with intensities in 0..1 (rules above).

    Raises :class:`ServeInputError` naming ``name`` when the bytes are not a PNG or JPEG image.
    """
    channels, height, width = (int(v) for v in input_shape)
    x = _ink(_decode(data, name), channels)
    if x.shape[:2] != (height, width):
        x = _frame(x, height, width)
    return np.ascontiguousarray(np.moveaxis(x, 2, 0), dtype=np.float32)
