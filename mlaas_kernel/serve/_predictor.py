"""OnnxPredictor: a serving bundle (model.onnx + serving.json + version.json) run by ONNX Runtime."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from ._errors import ServeInputError
from ._image import prepare_image

__all__ = ["OnnxPredictor", "check_batch"]


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # The endpoint runs one batch at a time; its threads are the cores (the HTTP loop mostly waits).
    options.intra_op_num_threads = threads or max(1, min(4, (os.cpu_count() or 1) // 2))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's pool threads spin after each run by default: on a few cores they take the CPU
    # the event loop needs to parse the next requests (measured: 928 -> see PLATFORM notes).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_batch(x, shape: tuple[int, ...], *, field: str = "instances") -> np.ndarray:
    """``x`` as float32 ``[N, *shape]``; raises :class:`ServeInputError` naming ``field`` and what is wrong.

    Images may also come as ``[N, H, W]`` (one channel) or flat ``[N, C*H*W]`` rows.
    """
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nesting
        raise ServeInputError(f"{field}: not a rectangular array ({exc}); expected shape [N, {', '.join(map(str, shape))}]") from None
    if a.dtype.kind not in "biuf":
        what = "text" if a.dtype.kind in "US" else "values of mixed or non-numeric types" if a.dtype == object else f"dtype {a.dtype}"
        raise ServeInputError(f"{field}: holds {what}; expected numbers (float32), shape [N, {', '.join(map(str, shape))}]")
    expected = f"[N, {', '.join(map(str, shape))}]"
    if a.ndim == 0 or len(a) == 0:
        raise ServeInputError(f"{field}: empty or not a list; expected a batch of shape {expected}")
    size = int(np.prod(shape))
    if a.shape[1:] != tuple(shape):
        if len(shape) == 3 and shape[0] == 1 and a.shape[1:] == tuple(shape[1:]):
            a = a[:, None]
        elif len(shape) > 1 and a.ndim == 2 and a.shape[1] == size:
            a = a.reshape(len(a), *shape)
        else:
            raise ServeInputError(f"{field}: shape [{', '.join(map(str, a.shape))}] does not fit the model; expected {expected}")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).reshape(len(a), -1).any(axis=1).sum())
        raise ServeInputError(f"{field}: {bad} of {len(a)} item(s) hold NaN or infinite values")
    return np.ascontiguousarray(a)


#: how far outside 0..1 an image's pixel may lie (rounding, resampling) before the batch is refused
PIXEL_TOLERANCE = 0.01


def check_pixels(a: np.ndarray, *, field: str = "instances") -> np.ndarray:
    """``a`` when its pixel intensities lie in 0..1 (give or take :data:`PIXEL_TOLERANCE`); else 422 naming the range and the fix."""
    low, high = float(a.min()), float(a.max())
    if low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
        fix = "divide raw 0..255 pixels by 255" if high > 1 + PIXEL_TOLERANCE and low >= -PIXEL_TOLERANCE else \
            "send intensities, not normalised values (the model normalises inside)"
        raise ServeInputError(f"{field}: pixel values range {low:g}..{high:g}; the model takes intensities in 0..1: {fix}")
    return a


class OnnxPredictor:
    """A serving bundle folder, loaded: ``predict(x)`` on float32 ``[N, ...]`` arrays, ``prepare_image(bytes)``.

    ``metadata`` is serving.json with version.json's fields (name, version, run_id, aliases) merged in.
    The conformal calibration in serving.json (LAC on the probabilities) gives sets at
    ``conformal_significance`` unless a call names another level. ``threads``: ONNX Runtime's
    intra-op threads (default: half the cores, at most 4: the rest parse requests).
    """

    def __init__(self, bundle_dir, *, threads: int | None = None):
        self.bundle_dir = Path(bundle_dir)
        model, serving = self.bundle_dir / "model.onnx", self.bundle_dir / "serving.json"
        for path in (model, serving):
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: a serving bundle holds model.onnx and serving.json (export.bundle makes one)")
        meta = json.loads(serving.read_text())
        version_file = self.bundle_dir / "version.json"
        if version_file.is_file():
            meta = {**meta, **json.loads(version_file.read_text())}
        self.metadata = meta
        self.kind = meta.get("kind", "image")
        self.task = meta.get("task", "classification")
        self.input_shape = tuple(int(v) for v in meta["input_shape"])
        self.classes = list(meta.get("classes") or [])
        self.features = list(meta.get("features") or [])
        self.significance = float(meta.get("conformal_significance") or 0.1)
        self.session = _session(model, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        width = self.session.get_outputs()[0].shape[-1]
        self.labels = self.classes or (list(range(width)) if isinstance(width, int) else [])
        self.label_keys = [str(c) for c in self.labels]  # JSON object keys for the probabilities
        self._conformal = _conformal(meta.get("conformal"))
        self._lock = threading.Lock()  # the conformal p-values draw from one random state

    @property
    def name(self) -> str | None:
        return self.metadata.get("name")

    @property
    def version(self):
        return self.metadata.get("version")

    @property
    def has_sets(self) -> bool:
        return self._conformal is not None

    def check(self, x, *, field: str = "instances") -> np.ndarray:
        """``x`` validated as this model's float32 input batch (:func:`check_batch`)."""
        a = check_batch(x, self.input_shape, field=field)
        return check_pixels(a, field=field) if self.kind == "image" else a

    def run(self, x: np.ndarray) -> np.ndarray:
        """The raw output (first graph output) for a checked float32 batch."""
        return self.session.run(self.output_names[:1], {self.input_name: x})[0]

    def run_batch(self, x: np.ndarray) -> tuple[np.ndarray, list | None]:
        """The raw output and the sets at the bundle's level, for a whole batch at once (what the batcher calls)."""
        from ..conformal._checks import ConformalInputError

        out = self.run(x)
        try:
            return out, (self.sets(out) if self.task == "classification" else None)
        except ConformalInputError:  # too few calibration items for the bundle's level: each request says so (422)
            return out, None

    def sets(self, probabilities: np.ndarray, significance: float | None = None) -> list[list] | None:
        """Conformal prediction sets (labels) per row at ``significance`` (default the bundle's), or None without a calibration."""
        if self._conformal is None:
            return None
        level = self.significance if significance is None else significance
        n = len(self._conformal.cal_scores_)
        if level * (n + 1) < 1:  # no p-value can fall below it: every set would hold every class
            raise ServeInputError(f"significance: {level} is below 1/(n+1) = {1 / (n + 1):.4g} for the {n} calibration items; "
                                  "every set would hold every class: choose a larger level")
        with self._lock:
            mask = self._conformal.predict_set(probabilities, level)
        labels = self.labels or list(range(probabilities.shape[1]))
        return [[labels[j] for j in np.flatnonzero(row)] for row in mask]

    def predict(self, x, *, significance: float | None = None) -> dict:
        """``{"probabilities" [N, K], "classes", "sets"}`` for a classifier, ``{"prediction"}`` for a regressor,
        ``{"embedding"}`` for an embedding; ``x`` is checked first (ServeInputError names what is wrong)."""
        out = self.run(self.check(x))
        return self.outputs(out, significance=significance)

    def outputs(self, out: np.ndarray, *, significance: float | None = None) -> dict:
        """What :meth:`predict` returns, from the raw output of :meth:`run`."""
        if self.task == "regression":
            return {"prediction": out.reshape(len(out), -1)[:, 0]}
        if self.task == "embedding":
            return {"embedding": out}
        labels = np.asarray(self.classes) if self.classes else np.arange(out.shape[1])
        return {"probabilities": out, "classes": labels[out.argmax(axis=1)].tolist(), "sets": self.sets(out, significance)}

    def prepare_image(self, data: bytes, *, name: str = "image") -> np.ndarray:
        """PNG/JPEG bytes as this model's ``[C, H, W]`` input in 0..1 (rules in :mod:`mlaas_kernel.serve._image`)."""
        if self.kind != "image":
            raise ServeInputError(f"{name}: this model takes tabular rows, not images")
        return prepare_image(data, self.input_shape, name=name)

    def __repr__(self) -> str:
        return f"OnnxPredictor({self.name}/{self.version}, {self.kind} {self.task}, input {list(self.input_shape)})"


def _conformal(data):
    if not data:
        return None
    from ..conformal import ConformalClassifier

    return ConformalClassifier.from_dict(data)
