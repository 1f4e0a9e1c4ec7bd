"""mlaas_kernel: the helper library behind MLaaS Workbench's notebooks.

Sub-modules load on first use, so ``import mlaas_kernel`` stays fast and imports no heavy
library (pandas, torch, cuDF...):

- :mod:`mlaas_kernel.compute`: GPU or CPU, with every fallback recorded
- :mod:`mlaas_kernel.data`: the workspace and its datasets
- :mod:`mlaas_kernel.explore`: profiles, embeddings and plotly figures
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["active", "compute", "data", "embedding", "explore", "labels", "track", "train", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("active", "compute", "data", "embedding", "explore", "labels", "track", "train"):
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
