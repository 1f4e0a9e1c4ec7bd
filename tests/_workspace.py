"""A workspace for a whole test module: created once, exported as MLAAS_WORKSPACE while the module runs."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def module_workspace(tmp_path_factory, name: str, datasets: tuple[str, ...] = ()):
    """A fresh workspace under ``tmp_path_factory`` (offline, its own MLflow store) with ``datasets`` ingested; yields its root."""
    from mlaas_kernel import data

    root = tmp_path_factory.mktemp(name) / "workspace"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLAAS_WORKSPACE", str(root))
        mp.setenv("MLAAS_OFFLINE", "1")
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        for dataset in datasets:
            data.ingest(dataset, progress=False)
        yield root
