"""TorchScript (``torch.jit.trace``) and ``torch.export`` programs of an image model's serving module
(the same 0..1 input, normalisation and softmax inside, as the ONNX graph).

TorchScript is what libtorch (C++) loads; torch 2.13 marks ``torch.jit`` deprecated in favour of
``torch.export``, whose ``.pt2`` program keeps a dynamic batch axis and loads with ``torch.export.load``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def _runner(module):
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.as_tensor(x)).numpy()

    return run


def torchscript(loaded, example: np.ndarray, path: Path):
    """The serving module traced to TorchScript at ``path``; returns ``(path, run)`` with ``run`` the reloaded file."""
    import torch

    from ._onnx import _wrapper

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's deprecation notice, said in the module docstring
        traced = torch.jit.trace(_wrapper(loaded), torch.as_tensor(example[:2]))
        path.parent.mkdir(parents=True, exist_ok=True)
        traced.save(str(path))
        reloaded = torch.jit.load(str(path))
    return path, _runner(reloaded)


def torch_export(loaded, example: np.ndarray, path: Path):
    """The serving module as a ``torch.export`` program (dynamic batch) at ``path`` (``.pt2``); ``(path, run)``."""
    import torch

    from ._onnx import _wrapper

    batch = torch.export.Dim("batch")
    with torch.no_grad():
        program = torch.export.export(_wrapper(loaded), (torch.as_tensor(example[:2]),), dynamic_shapes=({0: batch},))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(path))
    return path, _runner(torch.export.load(str(path)).module())
