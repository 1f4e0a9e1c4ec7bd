"""LabelStore: the durable, append-only record of who labeled what, when, and how long it took."""

from __future__ import annotations

import hashlib
import json
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .._atomic import atomic_write
from ..data._workspace import DataError, check_name, workspace
from ._agreement import cohen_kappa, consensus, disagreements, fleiss_kappa
from ._files import ImportReport, dataset_domain, export_format, parse_rows, refusal
from ._files import text as _text
from ._sqlite import SQLiteEvents

SOURCES = ("human", "suggestion", "import", "model")


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
        """Undo ``annotator``'s latest live label or skip (an undo event); returns the event undone, or None.

        The read and the append are one transaction: two undos at once undo two events.
        """
        return self._db.undo_last(check_name(dataset), _text(annotator, "annotator"), time=_time.time())

    def unskip(self, dataset: str, *, annotator: str, items: Sequence[int] | None = None) -> list[int]:
        """Bring ``annotator``'s skipped items (``items``, or all) back: undo their skips; returns those items."""
        return self._db.undo_skips(check_name(dataset), _text(annotator, "annotator"), time=_time.time(), items=items)

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
        return set(self.labels(dataset, annotator=annotator)) | self._db.live_skips(check_name(dataset), annotator)

    def skipped_items(self, dataset: str, *, annotator: str) -> set[int]:
        """Items ``annotator`` skipped and has not labeled since."""
        return self._db.live_skips(check_name(dataset), annotator) - set(self.labels(dataset, annotator=annotator))

    def classes_used(self, dataset: str) -> set[str]:
        """Every label given in ``dataset`` by anyone, undone or not."""
        return self._db.classes(check_name(dataset))

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

    def agreement_with(self, dataset: str, annotator: str) -> dict[str, tuple[float, int]]:
        """Cohen's kappa between ``annotator`` and each other annotator, with the number of items both labeled.

        Only annotators who share at least one item with ``annotator`` appear.
        """
        out = {}
        by_item = self.labels_by_item(dataset)
        others = sorted({a for by in by_item.values() if annotator in by for a in by} - {annotator})
        for other in others:
            both = [by for by in by_item.values() if annotator in by and other in by]
            out[other] = (cohen_kappa([by[annotator] for by in both], [by[other] for by in both]), len(both))
        return out

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
        """Write the current labels (item, label, annotator, time, seconds, source) to a file, atomically.

        The format is ``format`` when given, else the one the suffix names (.csv, .parquet, .jsonl);
        a suffix that names another format than ``format`` is a :class:`DataError`.
        """
        import pandas as pd

        path = Path(path)
        fmt = export_format(path, format)
        frame = pd.DataFrame(self.current(dataset), columns=["id", "dataset", "item", "kind", "label", "annotator", "time", "seconds", "source", "undoes"])
        frame = frame[["item", "label", "annotator", "time", "seconds", "source"]]
        writers = {
            "csv": lambda p: frame.to_csv(p, index=False),
            "parquet": lambda p: frame.to_parquet(p, index=False),
            "jsonl": lambda p: frame.to_json(p, orient="records", lines=True),
        }
        atomic_write(path, writers[fmt])
        return path

    def import_file(self, dataset: str, path: str | os.PathLike, *, check: bool = True, classes: Sequence[Any] | None = None,
                    skip_invalid: bool = False) -> ImportReport:
        """Import labels from CSV, Parquet or JSON lines (columns item, label, annotator, optional time).

        Parameters
        ----------
        check:
            ``dataset`` must be ingested in the workspace (else :class:`DataError`); each row's item
            must be one of its row positions and its label one of its classes: ``classes`` when
            given, else the dataset's own (manifest or ``label`` column), else the labels already in
            this store for it; with none of these, labels are not checked.
        skip_invalid:
            Import the good rows and report the bad ones in :attr:`ImportReport.skipped`. Without
            it, any bad row raises :class:`LabelImportError` naming every bad row, and nothing of
            the file is imported.
        """
        path = Path(path)
        check_name(dataset)
        domain = None
        if check:
            domain = dataset_domain(dataset, workspace_dir=self.workspace, classes=classes, used=self.classes_used(dataset))
        rows, problems = parse_rows(path, dataset, domain)
        if problems and not skip_invalid:
            raise refusal(path, problems)
        if rows:
            self._db.append(rows)
        return ImportReport(path, len(rows), problems, domain)

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

