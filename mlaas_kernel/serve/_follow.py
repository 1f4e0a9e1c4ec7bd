"""Blue-green: the slot holding the served predictor, the alias follower that swaps it, and the last-served pointer.

The follower re-resolves ``NAME@ALIAS`` every ``interval`` seconds in a thread; when the alias
names another version it fetches that version's bundle, loads it, and only then swaps the slot
(one reference assignment): requests already batched finish on the old predictor, every answer
names the version that computed it. ``serving/<name>/@<alias>.json`` remembers the bundle last
served for the alias, so a restart serves at once and confirms the alias in the background.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from ._endpoints import split_ref
from ._predictor import OnnxPredictor
from ._recalibrate import CALIBRATION_INTERVAL, calibration_changed, recalibrated

__all__ = ["Follower", "ModelSlot", "cached_bundle", "load_version", "write_pointer"]


class ModelSlot:
    """The predictor being served; ``swap`` replaces it at once (readers take ``slot.predictor`` once per batch)."""

    def __init__(self, predictor: OnnxPredictor):
        self.predictor = predictor
        self.history: list[tuple[float, object]] = [(time.time(), predictor.version)]

    def swap(self, predictor: OnnxPredictor) -> None:
        self.predictor = predictor
        self.history.append((time.time(), predictor.version))


def pointer_file(ref: str, *, workspace_dir=None) -> Path:
    from ..data import workspace

    name, alias, version = split_ref(ref)
    return workspace(workspace_dir) / "serving" / name / f"@{alias or f'version-{version}'}.json"


def cached_bundle(ref: str, *, workspace_dir=None) -> Path | None:
    """The bundle folder last served for ``ref``, when it is still complete on disk."""
    try:
        record = json.loads(pointer_file(ref, workspace_dir=workspace_dir).read_text())
        bundle = Path(record["bundle"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return bundle if (bundle / "model.onnx").is_file() and (bundle / "serving.json").is_file() else None


def write_pointer(ref: str, predictor: OnnxPredictor, *, workspace_dir=None) -> None:
    from .._atomic import atomic_write

    record = {"ref": str(ref), "version": predictor.version, "bundle": str(predictor.bundle_dir.resolve())}
    atomic_write(pointer_file(ref, workspace_dir=workspace_dir), lambda tmp: tmp.write_text(json.dumps(record)))


def resolve_version(ref: str, *, workspace_dir=None):
    """The registry's version for ``ref`` (imports MLflow: about 2 s the first time)."""
    from .. import registry

    return registry.resolve(ref, workspace_dir=workspace_dir)


def load_version(version, *, workspace_dir=None, threads: int | None = None) -> OnnxPredictor:
    """A resolved ``registry.Version``'s bundle (fetched once, then cached on disk) loaded in ONNX Runtime."""
    from .. import export

    return OnnxPredictor(export.bundle(version, workspace_dir=workspace_dir), threads=threads)


def _store_files(workspace_dir=None) -> list[Path] | None:
    """The SQLite tracking store's files (database, journal, WAL), or None when the store is not a local SQLite file."""
    import os

    from ..data import workspace

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{workspace(workspace_dir) / 'mlflow.db'}"
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///"):])
    return [db, db.with_name(db.name + "-journal"), db.with_name(db.name + "-wal")]


def store_stamp(files: list[Path] | None):
    """What changes when the store is written: ``(mtime_ns, size)`` of each of its files; None when unknown (always check)."""
    if files is None:
        return None
    stamp = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            stamp.append(None)
            continue
        stamp.append((st.st_mtime_ns, st.st_size))
    return tuple(stamp)


class Follower:
    """Follows ``ref`` (``NAME@ALIAS``) for ``slot``: checks now, then every ``interval`` seconds, until ``stop()``.

    Every ``calibration_interval`` seconds (the first time at the first poll) it also checks the
    served run's conformal calibration (``_recalibrate``: a file hash, MLflow only when it changed)
    and loads the same version again when ``mlaas conformal RUN`` gave it new sets.

    ``on_swap(predictor)`` is called after each swap. Registry or bundle errors keep the current
    version serving; each new error is printed once to stderr.

    With a local SQLite store, the alias is only re-resolved when the store's files changed since
    the last check (a ``stat``, no MLflow), and not at all at start when the last-served pointer is
    newer than every write to the store: resolving through MLflow holds the GIL for milliseconds
    each time (its first import for about 2 s), which slowed the requests served meanwhile.
    """

    def __init__(self, ref: str, slot: ModelSlot, *, interval: float = 0.5, workspace_dir=None, threads=None, on_swap=None,
                 calibration_interval: float = CALIBRATION_INTERVAL):
        self.ref, self.slot, self.interval, self.calibration_interval = ref, slot, interval, calibration_interval
        self._calibration_due = 0.0
        self.workspace_dir, self.threads, self.on_swap = workspace_dir, threads, on_swap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlaas-follow", daemon=True)
        self.last_error: str | None = None
        self.checks = 0
        self.skipped = 0  # polls answered by the store's unchanged files
        self._files = _store_files(workspace_dir)
        self._seen = self._confirmed_stamp()

    def start(self) -> "Follower":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _confirmed_stamp(self):
        """The store's stamp now when the pointer for ``ref`` was written after every store write (the alias is
        known: the pointer names what it resolved to), else None (check at once)."""
        stamp = store_stamp(self._files)
        try:
            pointed = pointer_file(self.ref, workspace_dir=self.workspace_dir).stat().st_mtime_ns
        except (OSError, ValueError):
            return None
        record = cached_bundle(self.ref, workspace_dir=self.workspace_dir)
        if stamp is None or record is None or Path(record).resolve() != self.slot.predictor.bundle_dir.resolve():
            return None
        written = [s[0] for s in stamp if s is not None]
        return stamp if written and pointed > max(written) else None

    def _run(self) -> None:
        while True:
            try:
                stamp = store_stamp(self._files)
                if stamp is not None and stamp == self._seen:
                    self.skipped += 1
                else:
                    self.check()
                    self._seen = stamp  # taken before the check: a write during it is seen next time
                if time.monotonic() >= self._calibration_due:
                    self._calibration_due = time.monotonic() + self.calibration_interval
                    self.recalibrate()
            except Exception as exc:  # the registry or a bundle failed: keep serving what is loaded, say why once
                message = f"{type(exc).__name__}: {exc}"
                if message != self.last_error:
                    print(f"mlaas serve: following {self.ref}: {message} (still serving version {self.slot.predictor.version})",
                          file=sys.stderr, flush=True)
                self.last_error = message
            if self._stop.wait(self.interval):
                return

    def check(self) -> bool:
        """Resolve the alias once; swap when it names another version. True when it swapped."""
        found = resolve_version(self.ref, workspace_dir=self.workspace_dir)
        self.checks += 1
        self.last_error = None
        if found.version == self.slot.predictor.version and found.name == self.slot.predictor.name:
            return False
        self._swap(load_version(found, workspace_dir=self.workspace_dir, threads=self.threads))
        return True

    def recalibrate(self) -> bool:
        """Load the served version again when its run's LAC calibration changed since it was loaded. True when it swapped."""
        current = self.slot.predictor
        if calibration_changed(current, workspace_dir=self.workspace_dir) is False:
            return False
        found = resolve_version(self.ref, workspace_dir=self.workspace_dir)
        if (found.name, found.version) != (current.name, current.version):
            return self.check()
        predictor = recalibrated(current, found, workspace_dir=self.workspace_dir, threads=self.threads)
        if predictor is None:
            return False
        self._swap(predictor)
        return True

    def _swap(self, predictor: OnnxPredictor) -> None:
        self.slot.swap(predictor)
        write_pointer(self.ref, predictor, workspace_dir=self.workspace_dir)
        if self.on_swap is not None:
            self.on_swap(predictor)
