"""Metrics (and a run's final status) that could not be sent yet: kept in memory and in the run's
folder (``runs/<run id>/``), delivered when the store answers again.

Only "the server is away" (connection refused, timeouts, 429 and 5xx answers, a locked SQLite
file) means "not now"; any other error is a real one and is raised as :class:`TrackingError`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

PENDING_METRICS = "pending_metrics.jsonl"
PENDING_STATUS = "pending_status.json"
_TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}


class TrackingError(RuntimeError):
    """The tracking store refused a call for a reason other than being away."""


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means "the tracking store is away now" (try later) rather than a real error."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests

        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
    except ImportError:
        pass
    status = getattr(exc, "get_http_status_code", None)
    text = str(exc)
    if type(exc).__name__ in ("MlflowException", "RestException"):
        # MLflow wraps a refused connection in a plain MlflowException, losing the cause's type
        if text.startswith("API request to") and ("failed with exception" in text or "timeout exception" in text):
            return True
        if "error code" in text and status is not None and status() in _TRANSIENT_HTTP:
            return True
    if type(exc).__name__ == "OperationalError" and "database is locked" in text:
        return True
    return False


class PendingMetrics:
    """A run's undelivered metrics, ``(key, value, timestamp ms, step)``, mirrored in its folder."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.rows: list[tuple[str, float, int, int]] = []
        self.delivered = 0
        self._load()

    @property
    def path(self) -> Path:
        return self.run_dir / PENDING_METRICS

    def add(self, key: str, value: float, step: int) -> None:
        self.rows.append((key, float(value), int(time.time() * 1000), int(step)))

    def __len__(self) -> int:
        return len(self.rows)

    def send(self, client, run_id: str) -> None:
        """Send everything (batches of 1,000); on a failure keep the rest, on disk too, and re-raise."""
        from mlflow.entities import Metric

        while self.rows:
            chunk = self.rows[:1000]
            try:
                client.log_batch(run_id, metrics=[Metric(k, v, ts, s) for k, v, ts, s in chunk])
            except BaseException:
                self.save()
                raise
            del self.rows[: len(chunk)]
            self.delivered += len(chunk)
        self.path.unlink(missing_ok=True)

    def discard(self) -> int:
        """Forget what is pending (memory and disk); returns how many."""
        n = len(self.rows)
        self.rows.clear()
        self.path.unlink(missing_ok=True)
        return n

    def save(self) -> None:
        from .._atomic import atomic_write

        text = "".join(json.dumps({"key": k, "value": v, "timestamp": ts, "step": s}) + "\n" for k, v, ts, s in self.rows)
        atomic_write(self.path, lambda tmp: tmp.write_text(text))

    def _load(self) -> None:
        if self.path.exists():
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            self.rows = [(r["key"], r["value"], r["timestamp"], r["step"]) for r in rows] + self.rows


def save_status(run_dir: Path, status: str, tags: dict[str, str]) -> None:
    """Remember the status a run should end with, for when the store answers again."""
    from .._atomic import atomic_write

    text = json.dumps({"status": status, "tags": tags})
    atomic_write(Path(run_dir) / PENDING_STATUS, lambda tmp: tmp.write_text(text))


def send_status(client, run_id: str, status: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, status=status)


def deliver_run(client, run_dir: Path) -> int:
    """Send one run folder's pending metrics, then its pending final status; returns how many metrics."""
    run_dir = Path(run_dir)
    pending = PendingMetrics(run_dir)
    n = len(pending)
    pending.send(client, run_dir.name)
    status_file = run_dir / PENDING_STATUS
    if status_file.exists():
        info = json.loads(status_file.read_text())
        send_status(client, run_dir.name, info["status"], info.get("tags", {}))
        status_file.unlink()
    return n


def deliver_pending(run_id: str, *, workspace_dir: str | os.PathLike | None = None) -> int:
    """Send a run's metrics (and final status) that were kept in its folder while the store was away;
    returns how many metrics."""
    from ..data import workspace
    from ._store import setup

    run_dir = workspace(workspace_dir) / "runs" / run_id
    if not (run_dir / PENDING_METRICS).exists() and not (run_dir / PENDING_STATUS).exists():
        return 0
    client, _ = setup(workspace_dir=workspace_dir)
    return deliver_run(client, run_dir)


def deliver_all_pending(client, *, workspace_dir: str | os.PathLike | None = None, skip: str | None = None) -> list[str]:
    """Deliver every run folder's leftovers (what the next tracked command does first).

    Returns one line per run delivered; a store still away leaves them for next time.
    """
    from ..data import workspace

    lines = []
    root = workspace(workspace_dir) / "runs"
    folders = sorted({p.parent for pattern in (PENDING_METRICS, PENDING_STATUS) for p in root.glob(f"*/{pattern}")})
    for run_dir in folders:
        if run_dir.name == skip:
            continue
        try:
            n = deliver_run(client, run_dir)
        except Exception as exc:
            if unreachable(exc):
                break
            lines.append(f"run {run_dir.name}: pending metrics not delivered ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        lines.append(f"run {run_dir.name}: delivered {n} metric(s) kept while the tracking store was away")
    return lines
