"""TFLite (LiteRT) through litert-torch, in the optional ``edge`` extra.

Written against litert-torch's documented converter API (its README and
``litert_torch/_convert/interface.py``: ``litert_torch.convert(module.eval(), sample_args)`` returns a
model that runs on numpy inputs when called and writes a ``.tflite`` flatbuffer with ``.export(path)``).
The model is converted for a batch of 1 (what an edge device runs); parity runs item by item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._errors import ExportError

INSTALL = "TFLite export needs the edge extra: pip install 'mlaas-workbench[edge]'"


def available() -> bool:
    try:
        import litert_torch  # noqa: F401
    except ImportError:
        return False
    return True


def tflite(loaded, example: np.ndarray, path: Path):
    """The serving module as a LiteRT flatbuffer at ``path``; ``(path, run)`` with ``run`` the converted model."""
    try:
        import litert_torch
    except ImportError as exc:
        raise ExportError(f"{INSTALL} ({exc})") from None
    import torch

    from ._onnx import _wrapper

    with torch.no_grad():
        edge = litert_torch.convert(_wrapper(loaded), (torch.as_tensor(example[:1]),))
    path.parent.mkdir(parents=True, exist_ok=True)
    edge.export(str(path))

    def run(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(edge(torch.as_tensor(x[i : i + 1]))) for i in range(len(x))])

    return path, run
