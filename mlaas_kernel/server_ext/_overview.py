"""The overview the Workbench sidebar polls: four sections, each guarded and cached on its own."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from . import _mlflow
from ._common import Cached, describe, lab_path, stat_key, workspace_root
from ._datasets import datasets
from ._models import models
from ._pipelines import pipelines
from ._runs import runs

SECTIONS = ("datasets", "runs", "models", "pipelines")


class Overview:
    """The workspace as the sidebar shows it, read for the server whose root is ``root_dir``.

    A section that raises puts its message in ``errors`` and an empty list: one broken store never
    hides the others. MLflow sections are recomputed only when the store's files change.
    """

    def __init__(self, root_dir: str | os.PathLike):
        self.root_dir = Path(root_dir).absolute()
        self._caches: dict[tuple[str, Path], Cached] = {}

    @property
    def notebooks(self) -> Path:
        return Path(os.environ.get("MLAAS_NOTEBOOKS") or self.root_dir / "notebooks").absolute()

    def _compute(self, name: str, ws: Path):
        if name == "datasets":
            return datasets(ws, root_dir=self.root_dir, notebooks=self.notebooks)
        if name == "pipelines":
            return pipelines(ws, root_dir=self.root_dir)
        return (runs if name == "runs" else models)(ws), None

    def _key(self, name: str, ws: Path):
        if name in ("runs", "models"):
            return lambda: stat_key(*_mlflow.store_files(ws))
        if name == "datasets":
            return lambda: stat_key(ws / "datasets", ws / "labels.db", ws / "labels.db-wal")
        return None  # pipelines: a dead pid changes a run's status without a write

    def _cached(self, name: str, ws: Path) -> Cached:
        if (name, ws) not in self._caches:
            self._caches[(name, ws)] = Cached(lambda: self._compute(name, ws), ttl=1.5, key=self._key(name, ws))
        return self._caches[(name, ws)]

    def section(self, name: str) -> dict:
        """``{name: [...], "errors": {name: message or None}}`` for one section."""
        if name not in SECTIONS:
            raise KeyError(f"no section {name!r}; sections: {', '.join(SECTIONS)}")
        try:
            rows, error = self._cached(name, workspace_root()).get()
        except Exception as exc:  # the sidebar shows the message; the other sections still answer
            rows, error = [], describe(exc)
        return {name: rows, "errors": {name: error}}

    def build(self, names=SECTIONS) -> dict:
        """The whole overview (or the sections ``names``), as ``GET /mlaas/api/overview`` answers it."""
        ws = workspace_root()
        t = time.perf_counter()
        out: dict = {"workspace": lab_path(ws, self.root_dir) or str(ws), "generated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        errors = {}
        for name in names:
            part = self.section(name)
            out[name] = part[name]
            errors[name] = part["errors"][name]
        out["errors"] = errors
        out["seconds"] = round(time.perf_counter() - t, 4)
        return out
