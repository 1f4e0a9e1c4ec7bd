"""A step's outputs: what its notebook publishes for later steps (stdlib only: notebooks import it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

OUTPUTS_ENV = "MLAAS_PIPELINE_OUTPUTS"


def publish(**values) -> dict:
    """Publish ``values`` (JSON-serialisable) as this pipeline step's outputs; returns them.

    Under a pipeline step (``$MLAAS_PIPELINE_OUTPUTS`` names a JSON file) they are merged into that
    file atomically, so later steps can use them as ``${steps.STEP.outputs.NAME}``. Outside a
    pipeline it does nothing else, so the notebook runs on its own too.
    """
    try:
        json.dumps(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"publish: the values must be JSON-serialisable ({exc})") from None
    path = os.environ.get(OUTPUTS_ENV)
    if not path:
        return dict(values)
    from .._atomic import atomic_write

    text = json.dumps({**read_outputs(path), **values}, indent=1, sort_keys=True)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return dict(values)


def read_outputs(path: str | os.PathLike) -> dict:
    """The outputs in ``path`` (an empty dict when the file is missing)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path}: not a JSON file of outputs ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: outputs must be a JSON object, not {type(data).__name__}")
    return data
