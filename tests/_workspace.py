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
        use_workspace(mp, root)
        for dataset in datasets:
            data.ingest(dataset, progress=False)
        yield root


def use_workspace(monkeypatch, root) -> None:
    """Point this process at workspace ``root``: offline, and its own MLflow store (no inherited tracking URI)."""
    monkeypatch.setenv("MLAAS_WORKSPACE", str(root))
    monkeypatch.setenv("MLAAS_OFFLINE", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
