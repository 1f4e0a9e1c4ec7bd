"""The overview's models: each registered model, its versions (newest first) with aliases and key metric."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from . import _mlflow

MAX_VERSIONS = 10


def _version(v) -> dict:
    metric = v.key_metric
    return {"version": v.version, "aliases": list(v.aliases), "run_id": v.run_id, "created": v.created,
            "metric": {"name": metric[0], "value": metric[1]} if metric else None}


def models(ws: Path) -> list[dict]:
    """Every registered model of the workspace's store (``mlaas_kernel.registry.list_models``)."""
    uri = _mlflow.store_uri(ws)
    if uri is None:
        return []
    from ..registry import list_models

    return [{"name": m.name, "aliases": dict(m.aliases), "n_versions": len(m.versions),
             "versions": [_version(v) for v in m.versions[:MAX_VERSIONS]],
             "open": _mlflow.ui_link(uri, f"#/models/{quote(m.name, safe='')}")}
            for m in list_models(workspace_dir=ws)]
