"""LabelStore: the durable, append-only record of who labeled what, when, and how long it took."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write
from ..data._workspace import DataError, check_name, workspace
from ._agreement import cohen_kappa, consensus, disagreements, fleiss_kappa
from ._sqlite import SQLiteEvents

SOURCES = ("human", "suggestion", "import", "model")
FORMATS = ("csv", "parquet", "jsonl")


class LabelImportError(DataError):
    """A label file with a bad row: the message names the file and the line; nothing was imported."""


@dataclass
class Agreement:
    """How far the annotators of a dataset agree, on the items they all labeled."""

    annotators: list[str]
    shared_items: int
    kappa: float | None  # Cohen's for two annotators, Fleiss' for more
    method: str
    pairwise: dict[tuple[str, str], float] = field(default_factory=dict)
    disagreements: dict[int, dict[str, str]] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.kappa is None:
            return f"agreement: needs 2+ annotators on shared items ({len(self.annotators)} annotator(s), {self.shared_items} shared)"
        return f"{self.method} kappa {self.kappa:.3f} over {self.shared_items} items shared by {', '.join(self.annotators)}; {len(self.disagreements)} disagreements"


@dataclass(frozen=True)
class Snapshot:
    """A frozen set of (item, label) pairs with a content hash, saved as Parquet."""

    dataset: str
    hash: str
    labels: int
    path: Path

    @property
    def ref(self) -> str:
        """What training records: ``dataset@sha256:...``."""
        return f"{self.dataset}@sha256:{self.hash}"


def _text(value: Any, what: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"{what} is missing")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{what} is empty")
    return text


class LabelStore:
    """Annotation events of every dataset in ``labels.db`` (SQLite, WAL) in the workspace.

    An event is appended and committed before a call returns; nothing is updated in place.
    An item's current label is the latest label event per annotator that no undo points at.

    Parameters
    ----------
    path:
        The SQLite file (default: ``labels.db`` in the workspace).
    workspace_dir:
        The workspace, when ``path`` is not given.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, workspace_dir: str | os.PathLike | None = None):
        self.workspace = workspace(workspace_dir)
        self.path = Path(path) if path else self.workspace / "labels.db"
        self._db = SQLiteEvents(self.path)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ writing
    def label(self, dataset: str, item: int, label: Any, *, annotator: str, seconds: float | None = None,
              source: str = "human", time: float | None = None) -> int:
        """Record ``annotator``'s ``label`` for ``item``; returns the event id once committed."""
        if source not in SOURCES:
            raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
        row = {"dataset": check_name(dataset), "item": int(item), "kind": "label", "label": _text(label, "label"),
               "annotator": _text(annotator, "annotator"), "time": _time.time() if time is None else float(time),
               "seconds": seconds, "source": source, "undoes": None}
        return self._db.append([row])[0]

    def skip(self, dataset: str, item: int, *, annotator: str, seconds: float | None = None) -> int:
        """Record that ``annotator`` skipped ``item`` (it leaves their queue)."""
        row = {"dataset": check_name(dataset), "item": int(item), "kind": "skip", "label": None,
               "annotator": _text(annotator, "annotator"), "time": _time.time(), "seconds": seconds, "source": "human", "undoes": None}
        return self._db.append([row])[0]

    def undo(self, dataset: str, *, annotator: str) -> dict | None:
        """Undo ``annotator``'s latest live label (an undo event); returns the event undone, or None."""
        last = self._db.last_live_label(check_name(dataset), _text(annotator, "annotator"))
        if last is None:
            return None
        self._db.append([{"dataset": dataset, "item": last["item"], "kind": "undo", "label": None, "annotator": annotator,
                          "time": _time.time(), "seconds": None, "source": "human", "undoes": last["id"]}])
        return last

    # ------------------------------------------------------------ reading
    def current(self, dataset: str, *, annotator: str | None = None) -> list[dict]:
        """Current labels as dicts (item, label, annotator, time, seconds, source), oldest first."""
        return self._db.current(check_name(dataset), annotator=annotator)

    def labels(self, dataset: str, *, annotator: str | None = None) -> dict[int, str]:
        """item -> label: the annotator's, or the consensus over all annotators (ties left out)."""
        if annotator is not None:
            return {r["item"]: r["label"] for r in self.current(dataset, annotator=annotator)}
        return {k: v for k, v in consensus(self.labels_by_item(dataset)).items() if v is not None}

    def labels_by_item(self, dataset: str) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        for r in self.current(dataset):
            out.setdefault(r["item"], {})[r["annotator"]] = r["label"]
        return out

    def events(self, dataset: str) -> list[dict]:
        """Every event of the dataset, in order."""
        return self._db.events(check_name(dataset))

    def done_items(self, dataset: str, *, annotator: str) -> set[int]:
        """Items ``annotator`` has labeled or skipped."""
        return self._db.touched_items(check_name(dataset), annotator)

    def datasets(self) -> list[str]:
        return self._db.datasets()

    def agreement(self, dataset: str) -> Agreement:
        """Cohen's kappa for two annotators, Fleiss' for more, on the items all of them labeled."""
        by_item = self.labels_by_item(dataset)
        annotators = sorted({a for by in by_item.values() for a in by})
        shared = {i: by for i, by in by_item.items() if len(by) == len(annotators)}
        pairwise = {}
        for x in range(len(annotators)):
            for y in range(x + 1, len(annotators)):
                a, b = annotators[x], annotators[y]
                both = [i for i, by in by_item.items() if a in by and b in by]
                if both:
                    pairwise[(a, b)] = cohen_kappa([by_item[i][a] for i in both], [by_item[i][b] for i in both])
        kappa, method = None, "none"
        if len(annotators) == 2 and shared:
            kappa, method = pairwise[(annotators[0], annotators[1])], "Cohen's"
        elif len(annotators) > 2 and shared:
            classes = sorted({lbl for by in shared.values() for lbl in by.values()})
            table = [[list(by.values()).count(c) for c in classes] for by in shared.values()]
            kappa, method = fleiss_kappa(table), "Fleiss'"
        return Agreement(annotators, len(shared), kappa, method, pairwise, disagreements(by_item))

    def stats(self, dataset: str):
        """Counts per class and annotator (a pandas table), and the agreement."""
        import pandas as pd

        rows = self.current(dataset)
        if not rows:
            return pd.DataFrame(), self.agreement(dataset)
        frame = pd.DataFrame(rows)
        counts = frame.pivot_table(index="label", columns="annotator", values="item", aggfunc="count", fill_value=0)
        counts["total"] = counts.sum(axis=1)
        return counts, self.agreement(dataset)

    # ------------------------------------------------------------ files
    def export(self, dataset: str, path: str | os.PathLike, *, format: str | None = None) -> Path:
        """Write the current labels (item, label, annotator, time, seconds, source) to a file, atomically."""
        import pandas as pd

        path = Path(path)
        fmt = format or _format_of(path)
        frame = pd.DataFrame(self.current(dataset), columns=["id", "dataset", "item", "kind", "label", "annotator", "time", "seconds", "source", "undoes"])
        frame = frame[["item", "label", "annotator", "time", "seconds", "source"]]
        writers = {
            "csv": lambda p: frame.to_csv(p, index=False),
            "parquet": lambda p: frame.to_parquet(p, index=False),
            "jsonl": lambda p: frame.to_json(p, orient="records", lines=True),
        }
        atomic_write(path, writers[fmt])
        return path

    def import_file(self, dataset: str, path: str | os.PathLike) -> int:
        """Import labels from CSV, Parquet or JSON lines (columns item, label, annotator, optional time).

        All rows are checked first; a bad one raises :class:`LabelImportError` naming its line
        and nothing of the file is imported. Returns the number of labels imported.
        """
        import pandas as pd

        path = Path(path)
        fmt = _format_of(path)
        check_name(dataset)
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
        first_line = 2 if fmt == "csv" else 1  # CSV line 1 is the header
        where = "row" if fmt == "parquet" else "line"
        now = _time.time()
        rows = []
        for n, rec in enumerate(frame.to_dict("records")):
            try:
                item = rec["item"]
                if item is None or (isinstance(item, float) and (math.isnan(item) or item != int(item))):
                    raise ValueError(f"item {item!r} is not an integer")
                try:
                    item = int(str(item).strip()) if not isinstance(item, (int, float)) else int(item)
                except ValueError:
                    raise ValueError(f"item {rec['item']!r} is not an integer") from None
                stamp = rec.get("time")
                if stamp is None or (isinstance(stamp, float) and math.isnan(stamp)) or stamp == "":
                    stamp = now
                else:
                    try:
                        stamp = float(stamp)
                    except (TypeError, ValueError):
                        parsed = pd.Timestamp(stamp)
                        if pd.isna(parsed):
                            raise ValueError(f"time {rec.get('time')!r} is not a time") from None
                        stamp = parsed.timestamp()
                rows.append({"dataset": dataset, "item": item, "kind": "label", "label": _text(rec["label"], "label"),
                             "annotator": _text(rec["annotator"], "annotator"), "time": stamp, "seconds": None,
                             "source": "import", "undoes": None})
            except (ValueError, TypeError) as exc:
                raise LabelImportError(f"{path}: {where} {n + first_line}: {exc}; nothing was imported") from exc
        self._db.append(rows)
        return len(rows)

    def snapshot(self, dataset: str, *, annotator: str | None = None) -> Snapshot:
        """Freeze the current labels (consensus, or one annotator's) with a content hash.

        The hash is SHA-256 over the sorted ``item<TAB>label`` lines, so the same labels give the
        same hash wherever they come from. Saved in ``labels/snapshots/`` of the workspace.
        """
        import pandas as pd

        labels = self.labels(dataset, annotator=annotator)
        if not labels:
            raise DataError(f"dataset {dataset!r} has no labels{' by ' + annotator if annotator else ''} to snapshot")
        items = sorted(labels)
        digest = hashlib.sha256("".join(f"{i}\t{labels[i]}\n" for i in items).encode()).hexdigest()
        path = self.workspace / "labels" / "snapshots" / f"{dataset}-{digest[:16]}.parquet"
        if not path.exists():
            frame = pd.DataFrame({"item": items, "label": [labels[i] for i in items]})
            meta = {"dataset": dataset, "sha256": digest, "annotator": annotator or "consensus", "created": _time.time()}

            def write(p: Path) -> None:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"mlaas": json.dumps(meta).encode()})
                pq.write_table(table, p)

            atomic_write(path, write)
        return Snapshot(dataset, digest, len(items), path)


def load_snapshot(ref: str | os.PathLike, *, workspace_dir: str | os.PathLike | None = None):
    """A snapshot's labels as a pandas table (item, label), from its path or ``dataset@sha256:HASH``."""
    import pandas as pd

    text = os.fspath(ref)
    if "@sha256:" in text:
        dataset, digest = text.split("@sha256:", 1)
        found = sorted((workspace(workspace_dir) / "labels" / "snapshots").glob(f"{check_name(dataset)}-{digest[:16]}*.parquet"))
        if not found:
            raise DataError(f"no label snapshot {text!r} in the workspace")
        text = str(found[0])
    frame = pd.read_parquet(text)
    return frame


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"csv": "csv", "parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix)
    if fmt is None:
        raise DataError(f"{path}: unknown label file type {path.suffix!r}; use .csv, .parquet or .jsonl")
    return fmt
