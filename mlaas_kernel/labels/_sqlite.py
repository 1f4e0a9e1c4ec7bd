"""The one place that speaks SQL: annotation events in SQLite (WAL).

A team store on PostgreSQL would be another class with these methods; nothing outside this
module builds a query.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Sequence

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

# Label events that no undo event points at.
_LIVE = """
    SELECT * FROM events
    WHERE dataset = :dataset AND kind = 'label'
      AND id NOT IN (SELECT undoes FROM events WHERE dataset = :dataset AND kind = 'undo')
"""


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
        con = self._connect()
        ids = []
        con.execute("BEGIN IMMEDIATE")
        try:
            for r in rows:
                cur = con.execute(
                    "INSERT INTO events (dataset, item, kind, label, annotator, time, seconds, source, undoes)"
                    " VALUES (:dataset, :item, :kind, :label, :annotator, :time, :seconds, :source, :undoes)",
                    {k: r.get(k) for k in COLUMNS[1:]},
                )
                ids.append(cur.lastrowid)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return ids

    def last_live_label(self, dataset: str, annotator: str) -> dict | None:
        """The annotator's most recent label event that is not undone."""
        row = self._connect().execute(
            f"SELECT * FROM ({_LIVE}) WHERE annotator = :annotator ORDER BY id DESC LIMIT 1",
            {"dataset": dataset, "annotator": annotator},
        ).fetchone()
        return dict(row) if row else None

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

    def touched_items(self, dataset: str, annotator: str) -> set[int]:
        """Items the annotator has labeled (live) or skipped."""
        rows = self._connect().execute(
            f"SELECT item FROM ({_LIVE}) WHERE annotator = :annotator"
            " UNION SELECT item FROM events WHERE dataset = :dataset AND annotator = :annotator AND kind = 'skip'",
            {"dataset": dataset, "annotator": annotator},
        ).fetchall()
        return {r[0] for r in rows}

    def datasets(self) -> list[str]:
        return [r[0] for r in self._connect().execute("SELECT DISTINCT dataset FROM events ORDER BY dataset")]

    def count(self, dataset: str) -> int:
        return self._connect().execute("SELECT count(*) FROM events WHERE dataset = ?", (dataset,)).fetchone()[0]

