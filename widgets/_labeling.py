"""The labeling session shared by ImageLabeler and TableLabeler: queue, keys, store, timing.

The widget is handed a store and, optionally, an active learner; it never trains or builds
queries itself. Every action has a public method, so tests drive it without a browser.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Sequence

import anywidget
import traitlets

from mlaas_kernel.labels import LabelStore

UNDO_KEYS = {"Backspace", "ctrl+z", "meta+z"}
ITEM_KEYS = {"Enter", "s", "S"}  # keys that act on the item shown, like class keys


def learner_pool(learner) -> set[int] | None:
    """The item ids an active learner ranks (its pool), or None when it does not say."""
    items = getattr(learner, "items", None)
    return None if items is None else {int(i) for i in items}


def feed_learner(learner, labels: dict[int, str], pool: set[int] | None) -> int:
    """Give ``learner`` the stored labels of items in its ``pool``; returns how many were left out.

    Labels of other items (another session's sample, another notebook's pool) would make its
    retrain fail, so they stay in the store only.
    """
    kept = {int(i): str(label) for i, label in labels.items() if pool is None or int(i) in pool}
    learner.labels.update(kept)
    return len(labels) - len(kept)


def learner_error(learner) -> str:
    """The learner's last retrain error as one line ('' when none)."""
    error = getattr(learner, "error", None)
    if error is None:
        return ""
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


def default_keys(classes: Sequence[str]) -> dict[str, str]:
    """Single-character class names are their own keys; otherwise 1-9 then 0, in order."""
    classes = [str(c) for c in classes]
    if all(len(c) == 1 and c.lower() not in ("s",) for c in classes):
        return {c: c for c in classes}
    keys = [str(k) for k in (1, 2, 3, 4, 5, 6, 7, 8, 9, 0)]
    return {k: c for k, c in zip(keys, classes)}


class Labeler(anywidget.AnyWidget):
    """Base of the one-item-at-a-time labelers. Subclasses implement :meth:`_payload`."""

    _esm = Path(__file__).with_name("labeler.js")

    kind = traitlets.Unicode("image", help="what the view draws: 'image' or 'table'").tag(sync=True)
    item = traitlets.Int(-1, help="the item shown; -1 when the queue is empty").tag(sync=True)
    payload = traitlets.Dict(help="what the view draws for the item: {'src': data URL} or {'row': {...}}").tag(sync=True)
    classes = traitlets.List(traitlets.Unicode(), help="the class names, in button order").tag(sync=True)
    key_map = traitlets.Dict(help="key -> class name").tag(sync=True)
    suggestion = traitlets.Unicode("", help="the model's label for the item ('' when none)").tag(sync=True)
    suggestion_item = traitlets.Int(-1, help="the item the suggestion is for: Enter accepts it only while that item is shown").tag(sync=True)
    reason = traitlets.Unicode("", help="why the learner chose the item shown ('' when it does not say)").tag(sync=True)
    confidence = traitlets.Float(0.0, help="the model's probability for its suggestion").tag(sync=True)
    current_label = traitlets.Unicode("", help="the annotator's label for the item when reviewing it").tag(sync=True)
    labeled = traitlets.Int(0, help="items of the queue this annotator has labeled (skipped ones not counted)").tag(sync=True)
    skipped = traitlets.Int(0, help="items of the queue this annotator has skipped and not labeled since").tag(sync=True)
    total = traitlets.Int(0, help="items in the queue's universe").tag(sync=True)
    rate = traitlets.Float(0.0, help="labels per minute in this session").tag(sync=True)
    message = traitlets.Unicode("", help="one line about the last action").tag(sync=True)
    retraining = traitlets.Bool(False, help="a model is being retrained in the background").tag(sync=True)
    model_info = traitlets.Unicode("", help="the model's latest figures, e.g. held-out accuracy").tag(sync=True)
    model_status = traitlets.Unicode("", help="the learner's own one-line status, e.g. what its features are").tag(sync=True)
    model_error = traitlets.Unicode("", help="the last retrain's error ('' when it worked): labels are saved, the model is stale").tag(sync=True)
    committed = traitlets.Int(0, help="labels, skips and undos this widget has committed; it changes once the view has the next item")
    global_keys = traitlets.Bool(False, help="take keys anywhere on the page (dashboards), not only when focused").tag(sync=True)
    annotator = traitlets.Unicode(help="who labels").tag(sync=True)

    def __init__(self, *, store: LabelStore, dataset: str, annotator: str, classes: Sequence[Any], items: Sequence[int],
                 learner=None, keys: dict[str, str] | None = None, prefetch: int = 3, **kwargs):
        classes = [str(c) for c in classes]
        super().__init__(classes=classes, key_map=keys or default_keys(classes), annotator=annotator, total=len(items), **kwargs)
        self.store, self.dataset, self.learner, self.prefetch = store, dataset, learner, prefetch
        self._universe = [int(i) for i in items]
        self._labeled: set[int] = set()
        self._skipped: set[int] = set()
        stored = self._reload_done()
        self._cache: dict[int, dict] = {}
        self._shown_at = time.monotonic()
        self._session_labels: list[float] = []
        self._history: list[int] = []  # items labeled in this session, in order
        self._review: int | None = None  # position in _history when moving back
        self._pending: list[int] = []  # items put back at the front of the queue (undo, revisit)
        self._lock = threading.RLock()  # the retrain thread's updates against the kernel's key handling
        self.ignored_labels = 0  # stored labels of items outside the learner's pool
        self._pool = learner_pool(learner) if learner is not None else None
        self.on_msg(self._on_browser_message)
        if learner is not None:
            self.ignored_labels = feed_learner(learner, stored, self._pool)
            learner.on_update.append(self._on_model_update)
            learner.retrain_async()  # a resumed session gets suggestions without waiting for new labels
        self._show(self._next_from_queue())
        self._sync_learner()

    # ------------------------------------------------------------ public triggers
    def label(self, label: Any, *, source: str = "human") -> None:
        """Label the item shown (committed to the store first), then show the next one."""
        if self.item < 0:
            return
        label = str(label)
        if label not in self.classes:
            raise ValueError(f"label {label!r} is not one of the classes {self.classes}")
        item = self.item
        self.store.label(self.dataset, item, label, annotator=self.annotator, seconds=round(time.monotonic() - self._shown_at, 3), source=source)
        self._labeled.add(item)
        self._skipped.discard(item)
        self._session_labels.append(time.monotonic())
        if self._teaches(item):
            self.learner.teach(item, label)
        if self._review is not None:
            self._history[self._review] = item
            self.message = f"relabeled #{item} as {label}"
            self.forward()
        else:
            self._history.append(item)
            self.message = f"#{item} → {label}"
            self._advance()
        self._after_commit()

    def accept_suggestion(self) -> None:
        """Label the item with the model's suggestion for it (Enter); a suggestion for another item is not used."""
        if self.suggestion and self.item >= 0 and self.suggestion_item == self.item:
            self.label(self.suggestion, source="suggestion")
        elif self.suggestion:
            self.message = f"the suggestion is for #{self.suggestion_item}, not #{self.item}: press a class key"
        else:
            self.message = "no suggestion yet: the model trains after the first labels"

    def skip(self) -> None:
        """Leave the item unlabeled and move on (S); it is recorded as skipped. Undo or :meth:`revisit_skipped` bring it back."""
        if self.item < 0:
            return
        item = self.item
        self.store.skip(self.dataset, item, annotator=self.annotator, seconds=round(time.monotonic() - self._shown_at, 3))
        self._skipped.add(item)
        self.message = f"skipped #{item}"
        self._advance()
        self._after_commit()

    def undo(self) -> None:
        """Undo this annotator's latest label or skip (Backspace, Ctrl+Z) and show that item again."""
        undone = self.store.undo(self.dataset, annotator=self.annotator)
        if undone is None:
            self.message = "nothing to undo"
            return
        item = int(undone["item"])
        labels = self._reload_done()
        if undone["kind"] == "label" and self._teaches(item):
            if item in labels:
                self.learner.teach(item, labels[item])  # back to the annotator's earlier label
            else:
                self.learner.forget(item)
        if item in self._history:
            self._history.remove(item)
        self._review = None
        if self.item >= 0 and self.item != item:
            self._pending.insert(0, self.item)
        self.message = f"undid #{item} ({undone['label']})" if undone["kind"] == "label" else f"undid the skip of #{item}"
        self._show(item)
        self._after_commit()

    def revisit_skipped(self) -> None:
        """Bring every skipped item of the queue back (R): their skips are undone and they come next."""
        items = self.store.unskip(self.dataset, annotator=self.annotator, items=sorted(self._skipped)) if self._skipped else []
        if not items:
            self.message = "no skipped items"
            return
        self._reload_done()
        self._pending = [*items, *([self.item] if self.item >= 0 else []), *self._pending]
        self._review = None
        self.message = f"{len(items)} skipped item(s) back in the queue"
        self._advance()
        self._after_commit()

    def back(self) -> None:
        """Show the previously labeled item (Left arrow); a label key relabels it."""
        if not self._history:
            return
        if self._review is None:
            if self.item >= 0:
                self._pending.insert(0, self.item)
            self._review = len(self._history) - 1
        elif self._review > 0:
            self._review -= 1
        self._show(self._history[self._review])

    def forward(self) -> None:
        """Move toward the newest item again (Right arrow)."""
        if self._review is None:
            return
        if self._review < len(self._history) - 1:
            self._review += 1
            self._show(self._history[self._review])
        else:
            self._review = None
            self._advance()

    def handle_key(self, key: str, *, item: int | None = None) -> None:
        """What a key press in the browser does: ``"3"``, ``"Enter"``, ``"ctrl+z"``...

        ``item`` is the item the browser showed when the key was pressed: a key that acts on an
        item (a class, Enter, S) does nothing when another item is shown by now.
        """
        acts_on_item = key in self.key_map or key in ITEM_KEYS
        if acts_on_item and item is not None and item != self.item:
            self.message = f"{key!r} was pressed on #{item}, but #{self.item} is shown now: it did nothing"
        elif key in self.key_map:
            self.label(self.key_map[key])
        elif key in UNDO_KEYS:
            self.undo()
        elif key in ("s", "S"):
            self.skip()
        elif key == "Enter":
            self.accept_suggestion()
        elif key == "R":
            self.revisit_skipped()
        elif key == "ArrowLeft":
            self.back()
        elif key == "ArrowRight":
            self.forward()

    def close(self) -> None:
        """Stop following the learner (it is not closed: whoever made it owns it), then close the widget."""
        if self.learner is not None and self._on_model_update in self.learner.on_update:
            self.learner.on_update.remove(self._on_model_update)
        super().close()

    # ------------------------------------------------------------ internals
    def _payload(self, item: int) -> dict:
        raise NotImplementedError

    def _teaches(self, item: int) -> bool:
        """Whether labels of ``item`` go to the learner (it is in the learner's pool)."""
        return self.learner is not None and (self._pool is None or item in self._pool)

    @property
    def _done(self) -> set[int]:
        return self._labeled | self._skipped

    def _reload_done(self) -> dict[int, str]:
        """Read what this annotator labeled and skipped from the store; returns their labels."""
        labels = self.store.labels(self.dataset, annotator=self.annotator)
        universe = set(self._universe)
        self._labeled = set(labels) & universe
        self._skipped = self.store.skipped_items(self.dataset, annotator=self.annotator) & universe
        return labels

    def _cached(self, item: int) -> dict:
        payload = self._cache.get(item)
        if payload is None:
            payload = self._cache[item] = self._payload(item)
            if len(self._cache) > 64:
                self._cache.pop(next(iter(self._cache)))
        return payload

    def _queue(self, k: int) -> list[int]:
        done = self._done
        pending = list(dict.fromkeys(i for i in self._pending if i not in done))[:k]
        if len(pending) == k:
            return pending
        exclude = done | set(pending)
        if self.learner is not None:
            return pending + self.learner.next_items(k - len(pending), exclude=exclude)
        rest = []
        for i in self._universe:
            if i not in exclude:
                rest.append(i)
                if len(rest) == k - len(pending):
                    break
        return pending + rest

    def _next_from_queue(self) -> int:
        nxt = self._queue(1)
        return nxt[0] if nxt else -1

    def _advance(self) -> None:
        done = self._done
        self._pending = [i for i in self._pending if i not in done]
        nxt = self._next_from_queue()
        if self._pending and nxt == self._pending[0]:
            self._pending.pop(0)
        self._show(nxt)

    def _reason(self, item: int) -> str:
        why = getattr(self.learner, "reason", None)
        return (why(item) or "") if (callable(why) and item >= 0) else ""

    def _show(self, item: int) -> None:
        rate = 0.0
        if len(self._session_labels) > 1:
            span = max(time.monotonic() - self._session_labels[0], 1.0)
            rate = round(60 * (len(self._session_labels) - 1) / span, 1)
        labels = self.store.labels(self.dataset, annotator=self.annotator) if self._review is not None else {}
        with self._lock:
            suggestion = self.learner.suggestion(item) if (self.learner is not None and item >= 0) else None
            with self.hold_sync():  # the view gets the new item, progress and message in one message
                self.labeled, self.skipped, self.rate = len(self._labeled), len(self._skipped), rate
                self.item = item
                self.payload = self._cached(item) if item >= 0 else {}
                self.suggestion, self.confidence = suggestion if suggestion else ("", 0.0)
                self.suggestion_item = item if suggestion else -1
                self.reason = self._reason(item)
                self.current_label = labels.get(item, "")
                if item < 0:
                    self.message = f"all {self.total} items are done" + (f" ({self.skipped} skipped: R brings them back)" if self.skipped else "")
        self._shown_at = time.monotonic()
        for upcoming in self._queue(self.prefetch + 1)[1:]:
            self._cached(upcoming)  # encoded now, so the next key press only sends it

    def _after_commit(self) -> None:
        self._sync_learner()
        self.committed += 1

    def _sync_learner(self) -> None:
        """Show the learner's state: retraining or not, its last error, its status line."""
        if self.learner is None:
            return
        with self._lock, self.hold_sync():
            self.retraining = bool(self.learner.busy)
            self.model_error = learner_error(self.learner)
            self.model_status = str(getattr(self.learner, "status", "") or "")

    def _on_model_update(self, learner) -> None:
        """Runs in the retrain thread when a model is ready: its suggestion is tied to the item read here."""
        last = learner.history[-1] if learner.history else {}
        info = f"model: {last.get('labels', 0)} labels"
        if "accuracy" in last:
            info += f", held-out accuracy {last['accuracy']:.1%}"
        with self._lock:
            item = self.item
            suggestion = learner.suggestion(item) if item >= 0 else None
            with self.hold_sync():
                self.model_info = info
                self.retraining = False
                self.model_error = learner_error(learner)
                self.model_status = str(getattr(learner, "status", "") or "")
                if suggestion and self._review is None:
                    self.suggestion, self.confidence = suggestion
                    self.suggestion_item = item

    def _on_browser_message(self, _widget, content, _buffers) -> None:
        kind = content.get("type")
        if kind == "ping":  # the view's heartbeat: answer, and refresh what the learner shows
            self._sync_learner()
            self.send({"type": "pong"})
            return
        item = content.get("item")
        item = None if item is None else int(item)
        try:
            if kind == "key":
                self.handle_key(str(content.get("key", "")), item=item)
            elif kind == "click":
                label = str(content.get("label", ""))
                if item is not None and item != self.item:
                    self.message = f"{label!r} was clicked on #{item}, but #{self.item} is shown now: it did nothing"
                else:
                    self.label(label)
        finally:
            if "seq" in content:  # the view shows the key as pending until this comes back
                self.send({"type": "ack", "seq": content["seq"]})
