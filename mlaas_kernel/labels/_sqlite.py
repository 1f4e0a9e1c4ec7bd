"""The one place that speaks SQL: annotation events in SQLite (WAL).

A team store on PostgreSQL would be another class with these methods; nothing outside this
module builds a query.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterator, Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset   TEXT    NOT NULL,
    item      INTEGER NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('label', 'undo', 'skip')),
    label     TEXT,
    annotator TEXT    NOT NULL,
    time      REAL    NOT NULL,
    seconds   REAL,
    source    TEXT    NOT NULL,
    undoes    INTEGER REFERENCES events(id)
);
CREATE INDEX IF NOT EXISTS events_by_item ON events (dataset, item, annotator, id);
CREATE INDEX IF NOT EXISTS events_by_annotator ON events (dataset, annotator, id);
"""

COLUMNS = ("id", "dataset", "item", "kind", "label", "annotator", "time", "seconds", "source", "undoes")

# Label and skip events that no undo event points at.
_LIVE_EVENTS = """
    SELECT * FROM events
    WHERE dataset = :dataset AND kind IN ('label', 'skip')
      AND id NOT IN (SELECT undoes FROM events WHERE dataset = :dataset AND kind = 'undo')
"""
_LIVE = f"SELECT * FROM ({_LIVE_EVENTS}) WHERE kind = 'label'"
_LIVE_SKIPS = f"SELECT * FROM ({_LIVE_EVENTS}) WHERE kind = 'skip'"


class SQLiteEvents:
    """Append-only annotation events in one SQLite file.

    Each write is its own committed transaction (``synchronous=FULL``), so an event is on disk
    before the call returns. Connections are per thread; several processes may write at once
    (SQLite serialises them; ``busy_timeout`` waits for the lock).
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._local = threading.local()
        with self._connect() as con:
            con.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def append(self, rows: Sequence[dict]) -> list[int]:
        """Insert events in one transaction; returns their ids."""
        with self._immediate() as con:
            return [self._insert(con, r) for r in rows]

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, its lock taken at BEGIN: what is read inside stays true until COMMIT."""
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @staticmethod
    def _insert(con: sqlite3.Connection, row: dict) -> int:
        cur = con.execute(
            "INSERT INTO events (dataset, item, kind, label, annotator, time, seconds, source, undoes)"
            " VALUES (:dataset, :item, :kind, :label, :annotator, :time, :seconds, :source, :undoes)",
            {k: row.get(k) for k in COLUMNS[1:]},
        )
        return cur.lastrowid

    def undo_last(self, dataset: str, annotator: str, *, time: float) -> dict | None:
        """Undo the annotator's latest live label or skip; returns the event undone, or None.

        Reading the latest event and appending its undo are one transaction, so two undos at
        once (two threads, two processes) undo two different events.
        """
        with self._immediate() as con:
            row = con.execute(
                f"SELECT * FROM ({_LIVE_EVENTS}) WHERE annotator = :annotator ORDER BY id DESC LIMIT 1",
                {"dataset": dataset, "annotator": annotator},
            ).fetchone()
            if row is None:
                return None
            last = {k: row[k] for k in COLUMNS}
            self._insert(con, self._undo_row(last, time))
        return last

    def undo_skips(self, dataset: str, annotator: str, *, time: float, items: Sequence[int] | None = None) -> list[int]:
        """Undo the annotator's live skips (of ``items``, or all) in one transaction; returns their items."""
        with self._immediate() as con:
            rows = [{k: r[k] for k in COLUMNS} for r in con.execute(
                f"SELECT * FROM ({_LIVE_SKIPS}) WHERE annotator = :annotator ORDER BY id",
                {"dataset": dataset, "annotator": annotator},
            ).fetchall()]
            if items is not None:
                wanted = {int(i) for i in items}
                rows = [r for r in rows if r["item"] in wanted]
            for r in rows:
                self._insert(con, self._undo_row(r, time))
        return list(dict.fromkeys(r["item"] for r in rows))

    @staticmethod
    def _undo_row(event: dict, time: float) -> dict:
        return {"dataset": event["dataset"], "item": event["item"], "kind": "undo", "label": None, "annotator": event["annotator"],
                "time": time, "seconds": None, "source": "human", "undoes": event["id"]}

    def current(self, dataset: str, *, annotator: str | None = None) -> list[dict]:
        """Each (item, annotator)'s latest live label event."""
        sql = f"""
            SELECT * FROM (
                SELECT *, row_number() OVER (PARTITION BY item, annotator ORDER BY id DESC) AS rn
                FROM ({_LIVE})
            ) WHERE rn = 1 {"AND annotator = :annotator" if annotator else ""}
            ORDER BY id
        """
        rows = self._connect().execute(sql, {"dataset": dataset, "annotator": annotator}).fetchall()
        return [{k: r[k] for k in COLUMNS} for r in rows]

    def events(self, dataset: str, *, annotator: str | None = None) -> list[dict]:
        """Every event of a dataset in order of arrival."""
        sql = "SELECT * FROM events WHERE dataset = :dataset" + (" AND annotator = :annotator" if annotator else "") + " ORDER BY id"
        return [dict(r) for r in self._connect().execute(sql, {"dataset": dataset, "annotator": annotator}).fetchall()]

    def live_skips(self, dataset: str, annotator: str) -> set[int]:
        """Items the annotator skipped (skips not undone)."""
        rows = self._connect().execute(
            f"SELECT DISTINCT item FROM ({_LIVE_SKIPS}) WHERE annotator = :annotator", {"dataset": dataset, "annotator": annotator}
        ).fetchall()
        return {r[0] for r in rows}

    def classes(self, dataset: str) -> set[str]:
        """Every label any annotator has given in the dataset (live or not)."""
        rows = self._connect().execute("SELECT DISTINCT label FROM events WHERE dataset = ? AND kind = 'label'", (dataset,))
        return {r[0] for r in rows}

    def datasets(self) -> list[str]:
        return [r[0] for r in self._connect().execute("SELECT DISTINCT dataset FROM events ORDER BY dataset")]

    def count(self, dataset: str) -> int:
        return self._connect().execute("SELECT count(*) FROM events WHERE dataset = ?", (dataset,)).fetchone()[0]

