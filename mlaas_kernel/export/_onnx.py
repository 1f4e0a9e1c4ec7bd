"""``to_onnx``: a run's model as an ONNX file that serving feeds, checked against the model itself.

Images: input ``"input"`` float32 ``[N, C, H, W]`` in 0..1, the training normalisation and the
softmax inside the graph, output ``"probabilities"`` ``[N, n_classes]`` (an embedding outputs
``"embedding"`` ``[N, D]``); the batch axis is dynamic. The graph comes from torch's
``torch.export``-based exporter (``dynamo=True``, the default since torch 2.9; the TorchScript one
is deprecated) with a ``Dim`` on the batch axis. Tabular models go through skl2onnx (``_tabular``).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _parity
from ._errors import ExportError

IMAGE_KINDS = ("cnn", "embedding")


@dataclass
class OnnxExport:
    """An ONNX file and how it compared with its model (``parity``'s figures, flattened for callers)."""

    path: Path
    max_abs_diff: float
    same_class: bool
    n_checked: int
    input_name: str
    output_name: str
    tolerance: float = _parity.PROBA_TOL
    batch_sizes: tuple[int, ...] = ()
    data: str = ""  # what the parity ran on
    notes: list[str] = field(default_factory=list)

    def parity(self) -> dict:
        """The figures serving.json records."""
        return {"max_abs_diff": self.max_abs_diff, "same_class": self.same_class, "n_checked": self.n_checked,
                "tolerance": self.tolerance, "batch_sizes": list(self.batch_sizes), "data": self.data, "notes": list(self.notes)}


def _wrapper(loaded):
    """The network with 0..1 input: normalisation first, then softmax (classifier) or the embedding as is."""
    import copy

    import torch

    est = loaded.model
    # a copy in the default memory format: torch.export fails on channels_last weights (a symbolic-shape guard)
    net = copy.deepcopy(est.model_).cpu().to(memory_format=torch.contiguous_format)

    class Serving(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(float(est.mean_)))
            self.register_buffer("std", torch.tensor(float(est.std_)))

        def forward(self, x):
            out = self.net((x - self.mean) / self.std)
            return out if loaded.kind == "embedding" else torch.softmax(out, dim=1)

    return Serving().float().eval().cpu()


def export_module(module, example, path: Path, *, output_name: str) -> Path:
    """``module`` traced by torch.export and written as one ONNX file with a dynamic batch axis."""
    import torch

    batch = torch.export.Dim("batch")
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)  # "torchvision is not installed" x4
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(module, (example,), dynamo=True, input_names=["input"], output_names=[output_name],
                                    dynamic_shapes=({0: batch},), optimize=True, verbose=False)
    program.save(str(path), external_data=False)
    return path


def session(path):
    """An ONNX Runtime CPU session for ``path``."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def unit_images(images) -> np.ndarray:
    """Images as float32 ``[N, C, H, W]`` in 0..1 (uint8 divided by 255; floats as they are: the model takes them as 0..1)."""
    from ..train._inputs import as_images

    x = as_images(images)
    return (x.astype(np.float32) / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)


def _held_out(loaded, check_n: int, workspace_dir):
    from ..evaluate import held_out_items

    images, _, _, _, data, _ = held_out_items(loaded, workspace_dir)
    return unit_images(images[:check_n]), f"{min(check_n, len(images)):,} held-out items: {data}"


def _image_onnx(loaded, path: Path, check_n: int, workspace_dir) -> OnnxExport:
    est = loaded.model
    module = _wrapper(loaded)
    import torch

    x, data = _held_out(loaded, check_n, workspace_dir)
    export_module(module, torch.as_tensor(x[:2]), path, output_name=_output_name(loaded))
    sess = session(path)
    if loaded.kind == "embedding":
        reference = est.transform(x)
        parity = _parity.check(lambda c: sess.run(None, {"input": c})[0], x, reference, classes=est.knn_.predict)
    else:
        reference = est.predict_proba(x)
        parity = _parity.check(lambda c: sess.run(None, {"input": c})[0], x, reference)
    what = "embedding" if loaded.kind == "embedding" else "probabilities"
    _parity.require(parity, tol=_parity.PROBA_TOL, what=f"ONNX export of run {loaded.run_id}")
    return OnnxExport(path, parity.max_abs_diff, parity.same_class, parity.n_checked, "input", _output_name(loaded),
                      batch_sizes=parity.batch_sizes, data=data, notes=[f"ONNX Runtime against torch on {parity.text(what)}"])


def _output_name(loaded) -> str:
    return "embedding" if loaded.kind == "embedding" else "probabilities"


def to_onnx(loaded, path: str | os.PathLike, *, check_n: int = 1000, workspace_dir: str | os.PathLike | None = None) -> OnnxExport:
    """Export ``loaded`` (a :class:`~mlaas_kernel.models.LoadedModel`) to ONNX at ``path`` and check it.

    Images: ONNX Runtime against torch on ``check_n`` of the run's held-out images (batches of 256
    and one at a time): the largest absolute difference of the probabilities must stay under 1e-4
    and every predicted class must agree, else :class:`ExportError` (the file is removed). Tabular
    models: the task's test rows (see ``_tabular``). Returns an :class:`OnnxExport`.
    """
    if int(check_n) < 1:
        raise ExportError(f"check_n is {check_n}: parity needs at least 1 item")
    path = Path(path)
    try:
        if loaded.kind in IMAGE_KINDS:
            return _image_onnx(loaded, path, int(check_n), workspace_dir)
        if loaded.kind == "estimator":
            from ._tabular import tabular_onnx

            return tabular_onnx(loaded, path, int(check_n), workspace_dir)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    raise ExportError(f"run {loaded.run_id} holds a {loaded.kind!r} model; ONNX export takes {', '.join(IMAGE_KINDS)} or estimator runs")
