"""What every data source shares: the :class:`Payload` it returns and the :class:`Source` base."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ._download import file_digest


@dataclass
class Payload:
    """What a source loaded: one table row per item, optional image array, input files."""

    kind: str  # "images" or "table"
    table: Any  # pandas.DataFrame
    images: Any = None  # numpy uint8 array (N, H, W) or (N, H, W, C)
    files: list[dict] = field(default_factory=list)  # {"name", "sha256", "bytes"}
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # goes into the manifest as is


class Source:
    """A kind of input. Subclasses set ``default_name`` and implement :meth:`load`."""

    default_name = "dataset"
    description = ""

    def fingerprint(self) -> str | None:
        """A string that changes when the input changes, if knowable before :meth:`load`."""
        return None

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        """Read the input; ``workdir`` is a scratch folder inside the workspace."""
        raise NotImplementedError

    def same_data(self, old: dict, payload: Payload | None) -> str | None:
        """How this input relates to the dataset already stored under the name (its manifest ``old``).

        ``"same"``: the stored dataset already holds this data (keep it); ``"upgrade"``: this
        input is a superset of it (replace it, no ``overwrite`` needed); ``None``: another input.
        Called before :meth:`load` with ``payload=None`` and again after it.
        """
        return None

    def describe(self) -> str:
        return self.description or type(self).__name__


def _bundled(*parts: str) -> Path:
    return Path(str(resources.files("mlaas_kernel.data").joinpath("_bundled", *parts)))


def _file_entry(path: Path, name: str | None = None) -> dict:
    return {"name": name or path.name, "sha256": file_digest(path), "bytes": path.stat().st_size}


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "dataset"
    return slug[:64]
