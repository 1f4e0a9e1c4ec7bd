"""Label files: reading CSV / Parquet / JSON lines into events, and checking them against a dataset."""

from __future__ import annotations

import math
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..data._workspace import DataError

FORMATS = ("csv", "parquet", "jsonl")
_SUFFIXES = {"csv": "csv", "parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}
_LISTED = 20  # bad rows named in one message


class LabelImportError(DataError):
    """A label file with bad rows: the message names the file and each bad row; nothing was imported."""


@dataclass
class Domain:
    """What a dataset's labels may be: item ids ``0 .. items - 1`` (row positions) and, when known, the classes.

    ``classes_from`` says where the classes came from, for messages (e.g. "the dataset's manifest").
    """

    dataset: str
    items: int
    classes: tuple[str, ...] | None = None
    classes_from: str = ""

    def problem(self, item: int, label: str) -> str | None:
        """Why ``(item, label)`` does not belong to the dataset, or None."""
        if not 0 <= item < self.items:
            return f"item {item} is not an item of {self.dataset!r} (its items are the row positions 0..{self.items - 1})"
        if self.classes is not None and label not in self.classes:
            shown = ", ".join(self.classes[:12]) + (", ..." if len(self.classes) > 12 else "")
            return f"label {label!r} is not a class of {self.dataset!r} ({shown}; from {self.classes_from})"
        return None


@dataclass
class ImportReport:
    """What an import did: the file, how many labels went in, each row left out with why, and what was checked."""

    path: Path
    imported: int
    skipped: list[str] = field(default_factory=list)
    domain: Domain | None = None


def format_of(path: Path) -> str:
    """The label file format its suffix names; a :class:`DataError` for any other suffix."""
    fmt = _SUFFIXES.get(path.suffix.lower().lstrip("."))
    if fmt is None:
        raise DataError(f"{path}: unknown label file type {path.suffix!r}; use .csv, .parquet or .jsonl")
    return fmt


def export_format(path: Path, format: str | None) -> str:
    """The format to write ``path`` in: ``format`` if given (it must agree with a known suffix), else the suffix's."""
    if format is None:
        return format_of(path)
    if format not in FORMATS:
        raise DataError(f"label format {format!r} is not one of {', '.join(FORMATS)}")
    named = _SUFFIXES.get(path.suffix.lower().lstrip("."))
    if named is not None and named != format:
        raise DataError(f"{path}: the suffix {path.suffix!r} says {named} but the format asked for is {format}; make them agree")
    return format


def text(value: Any, what: str) -> str:
    """``value`` as stripped text; a ValueError naming ``what`` when it is missing or empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"{what} is missing")
    out = str(value).strip()
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def read_frame(path: Path):
    """The file as a pandas table with the columns item, label, annotator (and optionally time)."""
    import pandas as pd

    fmt = format_of(path)
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=True, dtype=False)
    except (ValueError, OSError) as exc:
        raise LabelImportError(f"{path}: not a readable {fmt} file ({exc})") from exc
    missing = [c for c in ("item", "label", "annotator") if c not in frame.columns]
    if missing:
        raise LabelImportError(f"{path}: missing column(s) {', '.join(missing)}; expected item, label, annotator[, time]")
    return frame


def _item(value: Any) -> int:
    if value is None or (isinstance(value, float) and (math.isnan(value) or value != int(value))):
        raise ValueError(f"item {value!r} is not an integer")
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"item {value!r} is not an integer") from None


def _stamp(value: Any, now: float) -> float:
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return now
    try:
        return float(value)
    except (TypeError, ValueError):
        parsed = pd.Timestamp(value)
        if pd.isna(parsed):
            raise ValueError(f"time {value!r} is not a time") from None
        return parsed.timestamp()


def parse_rows(path: Path, dataset: str, domain: Domain | None) -> tuple[list[dict], list[str]]:
    """Every row of the file as an event, and a ``"line N: why"`` for each row that is not one."""
    frame = read_frame(path)
    fmt = format_of(path)
    first = 2 if fmt == "csv" else 1  # CSV line 1 is the header
    where = "row" if fmt == "parquet" else "line"
    now = _time.time()
    rows, problems = [], []
    for n, rec in enumerate(frame.to_dict("records")):
        try:
            item, label = _item(rec["item"]), text(rec["label"], "label")
            row = {"dataset": dataset, "item": item, "kind": "label", "label": label, "annotator": text(rec["annotator"], "annotator"),
                   "time": _stamp(rec.get("time"), now), "seconds": None, "source": "import", "undoes": None}
            bad = domain.problem(item, label) if domain is not None else None
            if bad:
                raise ValueError(bad)
            rows.append(row)
        except (ValueError, TypeError) as exc:
            problems.append(f"{where} {n + first}: {exc}")
    return rows, problems


def refusal(path: Path, problems: list[str]) -> LabelImportError:
    """One error naming the file and its bad rows (the first ``_LISTED`` of them)."""
    if len(problems) == 1:
        return LabelImportError(f"{path}: {problems[0]}; nothing was imported")
    listed = "\n  ".join(problems[:_LISTED])
    more = f"\n  ... and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
    return LabelImportError(f"{path}: {len(problems)} bad rows; nothing was imported "
                            f"(--skip-invalid imports the others):\n  {listed}{more}")


def dataset_domain(dataset: str, *, workspace_dir: str | os.PathLike, classes: Iterable[Any] | None = None,
                   used: Iterable[str] = ()) -> Domain:
    """The items and classes of an ingested dataset; a :class:`DataError` when it is not ingested.

    The classes are ``classes`` when given, else the dataset's (its manifest, or its table's
    ``label`` column), else those already used in the label store (``used``), else unchecked.
    """
    from .. import data

    ds = data.load(dataset, workspace_dir=workspace_dir)
    if classes is not None:
        return Domain(ds.name, len(ds), tuple(str(c) for c in classes), "--classes")
    if ds.manifest.get("classes"):
        return Domain(ds.name, len(ds), tuple(str(c) for c in ds.manifest["classes"]), "the dataset's manifest")
    if "label" in ds.manifest.get("schema", {}):
        values = ds.table()["label"].dropna().astype(str).unique()
        if len(values):
            return Domain(ds.name, len(ds), tuple(sorted(values)), "the dataset's label column")
    used = tuple(sorted(set(used)))
    if used:
        return Domain(ds.name, len(ds), used, "the labels already in the store")
    return Domain(ds.name, len(ds), None, "")
