"""RunFeed: one experiment of one tracking store, followed in the background and shared.

Dashboards do not poll MLflow themselves: they subscribe to the feed of their store
(:meth:`RunFeed.shared`). A feed has one thread, started by its first subscriber and stopped
when the last one leaves. Each tick reads the run list once; a run's metric histories are read
again only when its status or latest metrics changed, so finished runs cost nothing after
their last read. A failed read is kept in :attr:`RunFeed.error` (shown by the dashboards) and
the next tick tries again.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

__all__ = ["RunFeed", "RunSnapshot"]

DEFAULT_METRICS = ("loss", "val_loss", "val_accuracy")


@dataclass(frozen=True)
class RunSnapshot:
    """What a dashboard shows of one run, as last read.

    ``metrics`` holds the latest value of each metric; ``history`` maps each followed metric
    the run has to its (step, value) pairs.
    """

    run_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    metrics: dict[str, float]
    tags: dict[str, str]
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def plottable(self) -> bool:
        """True when a followed metric has at least one point."""
        return any(self.history.values())

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"


def _without_password(uri: str) -> str:
    """``uri`` with any password in it replaced by ``***`` (a PostgreSQL or HTTP store's URI may hold one)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RunFeed:
    """The runs of ``experiment`` in the tracking store at ``tracking_uri``, newest first.

    Parameters
    ----------
    experiment:
        MLflow experiment name (created when missing, as :func:`mlaas_kernel.track.setup` does).
    workspace_dir:
        The workspace whose store is read (``$MLFLOW_TRACKING_URI`` wins, as everywhere).
    poll_seconds:
        Time between reads while someone is subscribed.
    metrics:
        The metrics whose histories are read (per epoch).
    max_results:
        How many runs, newest first.

    :meth:`poll` reads now (the public trigger); :meth:`subscribe` starts the thread.
    """

    _shared: dict[tuple[str, str], "RunFeed"] = {}
    _shared_lock = threading.Lock()

    def __init__(self, experiment: str = "mlaas", *, workspace_dir: str | os.PathLike | None = None, poll_seconds: float = 2.0,
                 metrics: Sequence[str] = DEFAULT_METRICS, max_results: int = 200):
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds!r}")
        from . import track

        self.experiment, self.workspace_dir = experiment, workspace_dir
        self.tracking_uri = track.tracking_uri(workspace_dir)
        self.store_name = _without_password(self.tracking_uri)  # what widgets may show
        self.poll_seconds, self.metrics, self.max_results = float(poll_seconds), tuple(metrics), max_results
        self.runs: list[RunSnapshot] = []
        self.error = ""
        self.polls = 0
        self.history_reads = 0  # metric-history queries made so far (finished runs stop adding to it)
        self.ready = threading.Event()  # set after the first read, good or bad
        self._client: Any = None
        self._experiment_id: str | None = None
        self._seen: dict[str, tuple] = {}
        self._listeners: list[Callable[["RunFeed"], None]] = []
        self._lock = threading.Lock()  # guards _listeners and the thread
        self._poll_lock = threading.Lock()  # one read at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ sharing
    @classmethod
    def shared(cls, experiment: str = "mlaas", *, workspace_dir: str | os.PathLike | None = None, **kwargs: Any) -> "RunFeed":
        """The one feed of this store and experiment (created on first use).

        ``kwargs`` (poll_seconds, metrics, max_results) apply when the feed is created; a later
        caller asking for a shorter ``poll_seconds`` makes the shared feed poll that often.
        """
        from . import track

        key = (track.tracking_uri(workspace_dir), experiment)
        with cls._shared_lock:
            feed = cls._shared.get(key)
            if feed is None:
                feed = cls._shared[key] = cls(experiment, workspace_dir=workspace_dir, **kwargs)
            elif "poll_seconds" in kwargs:
                feed.poll_seconds = min(feed.poll_seconds, float(kwargs["poll_seconds"]))
        return feed

    def subscribe(self, listener: Callable[["RunFeed"], None]) -> Callable[[], None]:
        """Call ``listener(feed)`` after each read that changed something or failed; returns
        the function that unsubscribes. The first subscriber starts the thread, the last one
        to leave stops it."""
        with self._lock:
            self._listeners.append(listener)
            if self._thread is None or not self._thread.is_alive():
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._follow, args=(self._stop,), name=f"mlaas-run-feed-{self.experiment}", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
                if not self._listeners:
                    self._stop.set()

        return unsubscribe

    @property
    def following(self) -> bool:
        """True while the background thread runs."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a stopped feed's thread to end."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # ------------------------------------------------------------------ reading
    def poll(self) -> bool:
        """Read the store now; returns True when the runs changed. Errors are kept in
        :attr:`error` and passed to the subscribers, not raised."""
        with self._poll_lock:
            try:
                changed = self._read()
                recovered = bool(self.error)
                self.error = ""
            except Exception as exc:  # a locked or unreachable store: shown in the dashboards, retried next tick
                changed, recovered = True, False
                detail = str(exc).replace(self.tracking_uri.split("@")[0], self.store_name.split("@")[0])  # MLflow's messages quote the URI
                self.error = f"reading runs from {self.store_name} failed: {type(exc).__name__}: {detail[:300]}"
            self.polls += 1
            if changed or recovered or not self.ready.is_set():
                self._notify()
            self.ready.set()
            return changed

    def _connect(self) -> None:
        if self._client is None:
            from . import track

            self._client, self._experiment_id = track.setup(self.experiment, workspace_dir=self.workspace_dir)

    def _read(self) -> bool:
        self._connect()
        found = self._client.search_runs([self._experiment_id], order_by=["attributes.start_time DESC"], max_results=self.max_results)
        old = {r.run_id: r for r in self.runs}
        snapshots = []
        for run in found:
            info, data = run.info, run.data
            signature = (info.status, info.end_time, tuple(sorted(data.metrics.items())))
            previous = old.get(info.run_id)
            if previous is not None and self._seen.get(info.run_id) == signature:
                snapshots.append(previous)  # nothing new: no history read
                continue
            history = {}
            for key in self.metrics:
                if key in data.metrics:
                    self.history_reads += 1
                    points = self._client.get_metric_history(info.run_id, key)
                    history[key] = [(m.step, m.value) for m in sorted(points, key=lambda m: (m.step, m.timestamp))]
            self._seen[info.run_id] = signature
            snapshots.append(RunSnapshot(info.run_id, info.run_name or info.run_id[:8], info.status, info.start_time,
                                         info.end_time, dict(data.metrics), dict(data.tags), history))
        changed = [s.run_id for s in snapshots] != [r.run_id for r in self.runs] or any(s is not old.get(s.run_id) for s in snapshots)
        self.runs = snapshots
        return changed

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(self)

    def _follow(self, stop: threading.Event) -> None:
        self.poll()
        while not stop.wait(self.poll_seconds):
            self.poll()
