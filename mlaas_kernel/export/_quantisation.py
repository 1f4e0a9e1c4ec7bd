"""int8 ONNX models through ONNX Runtime's quantisation tools.

``dynamic``: weights to int8 ahead of time, activations scaled per batch at run time
(``quantize_dynamic``). ``static``: activations scaled by ranges measured on training images
(``quantize_static`` in QDQ format, with a ``CalibrationDataReader`` over them). Both start from
the float model after ``quant_pre_process`` (shape inference and graph clean-up, which ONNX
Runtime asks for before quantising).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ._errors import ExportError

MODES = ("dynamic", "static")
CALIBRATION_N = 256  # training images static quantisation measures activation ranges on
CALIBRATION_BATCH = 32


def training_images(loaded, n: int, workspace_dir) -> np.ndarray:
    """The first ``n`` images of the run's training split, as float32 0..1 (what static calibration reads)."""
    from ..data import load
    from ..train import split_dataset
    from ._onnx import unit_images

    seed = loaded.run.data.params.get("random_state", "0")
    ds = load(loaded.dataset, workspace_dir=workspace_dir)
    train, _ = split_dataset(ds, random_state=int(seed) if seed.lstrip("-").isdigit() else 0)
    return unit_images(ds.images()[np.sort(train[:n])])


def _reader(images: np.ndarray, input_name: str):
    from onnxruntime.quantization import CalibrationDataReader

    class Batches(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{input_name: images[i : i + CALIBRATION_BATCH]} for i in range(0, len(images), CALIBRATION_BATCH)])

        def get_next(self):
            return next(self._batches, None)

    return Batches()


def quantise(src: Path, dest: Path, mode: str, *, calibration: np.ndarray | None = None, input_name: str = "input") -> Path:
    """``src`` quantised to int8 at ``dest`` (``mode`` "dynamic" or "static"; static needs ``calibration`` inputs)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in MODES:
        raise ExportError(f"int8 mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "static" and (calibration is None or not len(calibration)):
        raise ExportError("static int8 quantisation needs calibration images (the run's training split)")
    prepared = dest.with_name(dest.stem + ".pre.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ONNX Runtime's quantiser logs its advice through the root logger
    try:
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        if mode == "dynamic":
            quantize_dynamic(str(prepared), str(dest), weight_type=QuantType.QInt8)
        else:
            quantize_static(str(prepared), str(dest), _reader(calibration, input_name), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
        prepared.unlink(missing_ok=True)
        for extra in dest.parent.glob("augmented_model*.onnx"):  # calibration's scratch model, when it is left behind
            os.unlink(extra)
    return dest
