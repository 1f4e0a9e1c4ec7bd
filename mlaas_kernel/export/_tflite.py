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

PACKAGE_INSTALL = "pip install 'mlaas-workbench[edge]'"
CHECKOUT_INSTALL = "pip install -e '.[edge]'"
INSTALL = f"TFLite export needs the edge extra: {PACKAGE_INSTALL} (in a clone of the repository: {CHECKOUT_INSTALL} in its folder)"


def checkout() -> Path | None:
    """The repository folder when this package runs from a clone (pyproject.toml and .git beside the package), else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / ".git").exists() else None


def install_message() -> str:
    """What to install for TFLite: the clone's command first when this runs from one, the package's otherwise."""
    root = checkout()
    if root is None:
        return INSTALL
    return f"TFLite export needs the edge extra: {CHECKOUT_INSTALL} in {root} (this clone; an installed package: {PACKAGE_INSTALL})"


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
        raise ExportError(f"{install_message()} ({exc})") from None
    import torch

    from ._onnx import _wrapper

    with torch.no_grad():
        edge = litert_torch.convert(_wrapper(loaded), (torch.as_tensor(example[:1]),))
    path.parent.mkdir(parents=True, exist_ok=True)
    edge.export(str(path))

    def run(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(edge(torch.as_tensor(x[i : i + 1]))) for i in range(len(x))])

    return path, run
