"""``requires:``: what a step needs from the machine; a missing one makes the step ``unavailable``."""

from __future__ import annotations

import importlib.util


def missing_requirement(requires: tuple[str, ...]) -> str | None:
    """Why this machine cannot run a step that requires ``requires`` (importable modules, or ``gpu``), or None."""
    for name in requires:
        if name == "gpu":
            from .. import compute

            try:
                gpu = compute.detect().is_gpu
            except Exception as exc:  # noqa: BLE001 - MLAAS_DEVICE=gpu without one: the reason is the message
                return f"needs an NVIDIA GPU: {exc}"
            if not gpu:
                return "needs an NVIDIA GPU; this machine has none usable"
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"needs the Python module {name!r}, which is not installed here"
    return None
