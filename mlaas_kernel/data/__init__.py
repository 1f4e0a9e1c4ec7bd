"""Datasets in the workspace: ingest any source, list them, load them back.

>>> from mlaas_kernel import data
>>> ds = data.ingest("mnist")          # or a table file or URL, an image folder, IDX files
>>> ds.images().shape, ds.table().head()
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ._download import DownloadError, download, file_digest
from ._gpu_table import CleaningStep, clean_gpu_table
from ._idx import IDXError, IDXFiles, read_idx
from ._sources import SOURCES, MNIST, GPUBenchmarks, ImageFolder, Payload, Source, TableFile, TableURL, ingest, resolve
from ._tables import CSVOptions, read_table
from ._workspace import DataError, check_name, workspace

__all__ = [
    "CSVOptions",
    "CleaningStep",
    "DataError",
    "Dataset",
    "DownloadError",
    "GPUBenchmarks",
    "IDXError",
    "IDXFiles",
    "ImageFolder",
    "MNIST",
    "Payload",
    "SOURCES",
    "Source",
    "TableFile",
    "TableURL",
    "check_name",
    "clean_gpu_table",
    "download",
    "file_digest",
    "ingest",
    "list_datasets",
    "load",
    "read_idx",
    "read_table",
    "resolve",
    "workspace",
]


class Dataset:
    """A dataset stored in the workspace: a manifest, a table and, for images, an array."""

    def __init__(self, path: str | os.PathLike, *, reused: bool = False):
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.is_file():
            raise DataError(f"{self.path}: not a dataset (no manifest.json)")
        self.manifest: dict[str, Any] = json.loads(manifest.read_text())
        self.reused = reused

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def __len__(self) -> int:
        return int(self.manifest["rows"])

    def table(self):
        """The dataset's table (pandas): one row per item."""
        import pandas as pd

        return pd.read_parquet(self.path / "table.parquet")

    def images(self, *, mmap: bool = True):
        """The images as a uint8 array (N, H, W[, C]), memory-mapped by default."""
        import numpy as np

        if self.kind != "images":
            raise DataError(f"dataset {self.name!r} is a {self.kind} dataset: it has no images")
        return np.load(self.path / "images.npy", mmap_mode="r" if mmap else None)

    def labels(self):
        """The label column of the table as a NumPy array."""
        return self.table()["label"].to_numpy()

    def summary(self) -> str:
        """A few lines for people: name, kind, rows, source, notes."""
        m = self.manifest
        lines = [f"dataset {m['name']!r}: {m['kind']}, {m['rows']:,} rows" + (" (already ingested: nothing to do)" if self.reused else "")]
        if m.get("image_shape"):
            lines.append(f"  images: {' x '.join(map(str, m['image_shape']))} uint8")
        lines.append(f"  source: {m['source']}")
        lines.append(f"  columns: {', '.join(f'{k} ({v})' for k, v in m['schema'].items())}")
        if self.kind == "images" or "label" in m["schema"]:
            counts = self.table()["label"].value_counts().sort_index()
            lines.append("  classes: " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()))
        for note in m.get("notes", []):
            lines.append(f"  note: {note}")
        lines.append(f"  path: {self.path}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, kind={self.kind!r}, rows={len(self)})"


def load(name: str, *, workspace_dir: str | os.PathLike | None = None) -> Dataset:
    """The ingested dataset called ``name``; the error lists the datasets there are."""
    path = workspace(workspace_dir) / "datasets" / check_name(name)
    if not (path / "manifest.json").is_file():
        have = [d.name for d in list_datasets(workspace_dir=workspace_dir)]
        raise DataError(f"no dataset {name!r} in the workspace; ingested: {', '.join(have) or '(none)'} (ingest it first: mlaas ingest SOURCE)")
    return Dataset(path)


def list_datasets(*, workspace_dir: str | os.PathLike | None = None) -> list[Dataset]:
    """Every dataset in the workspace, by name."""
    root = workspace(workspace_dir) / "datasets"
    return [Dataset(p) for p in sorted(root.iterdir()) if (p / "manifest.json").is_file() and not p.name.startswith(".")]
