"""DigitCanvas: draw a digit with mouse, touch or pen; Python gets it as a 28x28 MNIST-style image."""

from __future__ import annotations

from pathlib import Path

import anywidget
import numpy as np
import traitlets

__all__ = ["DigitCanvas"]

SIDE = 28


class DigitCanvas(anywidget.AnyWidget):
    """A black square canvas to draw white strokes on, with a Clear button (Escape clears too).

    After each stroke the browser downsamples the drawing the way MNIST's digits were made: the
    strokes' bounding box scaled so its longer side is 20 pixels (area averaging), placed in a
    28x28 image so that its centre of mass sits at the centre. ``pixels`` holds that image
    row by row (784 intensities in 0..1), or is empty while nothing is drawn; :attr:`image` gives
    it as an array. :meth:`draw` (an array) and :meth:`clear` are the Python triggers of the
    browser's stroke and Clear.
    """

    _esm = Path(__file__).with_name("digit_canvas.js")

    pixels = traitlets.List(traitlets.Float(), help="the drawing as 28x28 intensities in 0..1, row by row; empty: blank").tag(sync=True)
    strokes = traitlets.Int(0, help="strokes drawn since the last clear").tag(sync=True)
    size = traitlets.Int(280, help="the canvas's side in CSS pixels").tag(sync=True)
    line_width = traitlets.Float(22.0, help="the pen's width in canvas pixels (MNIST's strokes are 2-3 of 28 pixels wide)").tag(sync=True)
    disabled = traitlets.Bool(False, help="whether drawing is switched off").tag(sync=True)

    @traitlets.validate("pixels")
    def _check_pixels(self, proposal):
        value = proposal["value"]
        if value and len(value) != SIDE * SIDE:
            raise traitlets.TraitError(f"pixels holds {len(value)} values; expected {SIDE * SIDE} (28x28) or none")
        return value

    @property
    def image(self) -> np.ndarray | None:
        """The drawing as a float32 array [28, 28] in 0..1, or None while the canvas is blank."""
        if not self.pixels:
            return None
        return np.asarray(self.pixels, dtype=np.float32).reshape(SIDE, SIDE)

    def draw(self, image) -> None:
        """Set the drawing from a [28, 28] array (what a stroke in the browser does); values are clipped to 0..1."""
        arr = np.asarray(image, dtype=np.float32)
        if arr.shape != (SIDE, SIDE):
            raise ValueError(f"image has shape {arr.shape}; expected (28, 28)")
        if not np.isfinite(arr).all():
            raise ValueError("image holds NaN or infinite values")
        self.pixels = [float(v) for v in np.clip(arr, 0, 1).ravel()]
        self.strokes += 1

    def clear(self) -> None:
        """Blank the canvas (the Clear button, or Escape)."""
        self.strokes = 0
        self.pixels = []

