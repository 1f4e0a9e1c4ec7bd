"""The labeling session shared by ImageLabeler and TableLabeler: queue, keys, store, timing.

The widget is handed a store and, optionally, an active learner; it never trains or builds
queries itself. Every action has a public method, so tests drive it without a browser.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import anywidget
import traitlets

from mlaas_kernel.labels import LabelStore

UNDO_KEYS = {"Backspace", "ctrl+z", "meta+z"}


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
    confidence = traitlets.Float(0.0, help="the model's probability for its suggestion").tag(sync=True)
    current_label = traitlets.Unicode("", help="the annotator's label for the item when reviewing it").tag(sync=True)
    labeled = traitlets.Int(0, help="items this annotator has labeled or skipped").tag(sync=True)
    total = traitlets.Int(0, help="items in the queue's universe").tag(sync=True)
    rate = traitlets.Float(0.0, help="labels per minute in this session").tag(sync=True)
    message = traitlets.Unicode("", help="one line about the last action").tag(sync=True)
    retraining = traitlets.Bool(False, help="a model is being retrained in the background").tag(sync=True)
    model_info = traitlets.Unicode("", help="the model's latest figures, e.g. held-out accuracy").tag(sync=True)
    global_keys = traitlets.Bool(False, help="take keys anywhere on the page (dashboards), not only when focused").tag(sync=True)
    annotator = traitlets.Unicode(help="who labels").tag(sync=True)

    def __init__(self, *, store: LabelStore, dataset: str, annotator: str, classes: Sequence[Any], items: Sequence[int],
                 learner=None, keys: dict[str, str] | None = None, prefetch: int = 3, **kwargs):
        classes = [str(c) for c in classes]
        super().__init__(classes=classes, key_map=keys or default_keys(classes), annotator=annotator, total=len(items), **kwargs)
        self.store, self.dataset, self.learner, self.prefetch = store, dataset, learner, prefetch
        self._universe = [int(i) for i in items]
        self._done = store.done_items(dataset, annotator=annotator)
        self._done &= set(self._universe)
        self._cache: dict[int, dict] = {}
        self._shown_at = time.monotonic()
        self._session_labels: list[float] = []
        self._history: list[int] = []  # items labeled in this session, in order
        self._review: int | None = None  # position in _history when moving back
        self._pending: list[int] = []  # items put back at the front of the queue (undo)
        self.on_msg(self._on_browser_message)
        if learner is not None:
            for item, label in store.labels(dataset, annotator=annotator).items():
                learner.labels[int(item)] = label
            learner.on_update.append(self._on_model_update)
        self.labeled = len(self._done)
        self._show(self._next_from_queue())

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
        self._done.add(item)
        self._session_labels.append(time.monotonic())
        if self.learner is not None:
            self.learner.teach(item, label)
            self.retraining = self.learner.busy
        if self._review is not None:
            self._history[self._review] = item
            self.message = f"relabeled #{item} as {label}"
            self.forward()
            return
        self._history.append(item)
        self.message = f"#{item} → {label}"
        self._advance()

    def accept_suggestion(self) -> None:
        """Label the item with the model's suggestion (Enter)."""
        if self.suggestion:
            self.label(self.suggestion, source="suggestion")
        else:
            self.message = "no suggestion yet: the model trains after the first labels"

    def skip(self) -> None:
        """Leave the item unlabeled and move on (S); it is recorded as skipped."""
        if self.item < 0:
            return
        self.store.skip(self.dataset, self.item, annotator=self.annotator, seconds=round(time.monotonic() - self._shown_at, 3))
        self._done.add(self.item)
        self.message = f"skipped #{self.item}"
        self._advance()

    def undo(self) -> None:
        """Undo this annotator's latest label (Backspace, Ctrl+Z) and show that item again."""
        undone = self.store.undo(self.dataset, annotator=self.annotator)
        if undone is None:
            self.message = "nothing to undo"
            return
        item = int(undone["item"])
        self._done.discard(item)
        if self.learner is not None:
            self.learner.forget(item)
        if item in self._history:
            self._history.remove(item)
        self._review = None
        if self.item >= 0 and self.item != item:
            self._pending.insert(0, self.item)
        self.message = f"undid #{item} ({undone['label']})"
        self._show(item)

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

    def handle_key(self, key: str) -> None:
        """What a key press in the browser does: ``"3"``, ``"Enter"``, ``"ctrl+z"``..."""
        if key in self.key_map:
            self.label(self.key_map[key])
        elif key in UNDO_KEYS:
            self.undo()
        elif key in ("s", "S"):
            self.skip()
        elif key == "Enter":
            self.accept_suggestion()
        elif key == "ArrowLeft":
            self.back()
        elif key == "ArrowRight":
            self.forward()

    # ------------------------------------------------------------ internals
    def _payload(self, item: int) -> dict:
        raise NotImplementedError

    def _cached(self, item: int) -> dict:
        payload = self._cache.get(item)
        if payload is None:
            payload = self._cache[item] = self._payload(item)
            if len(self._cache) > 64:
                self._cache.pop(next(iter(self._cache)))
        return payload

    def _queue(self, k: int) -> list[int]:
        pending = [i for i in self._pending if i not in self._done][:k]
        if len(pending) == k:
            return pending
        exclude = self._done | set(pending)
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
        self._pending = [i for i in self._pending if i not in self._done]
        nxt = self._next_from_queue()
        if self._pending and nxt == self._pending[0]:
            self._pending.pop(0)
        self._show(nxt)

    def _show(self, item: int) -> None:
        rate = 0.0
        if len(self._session_labels) > 1:
            span = max(time.monotonic() - self._session_labels[0], 1.0)
            rate = round(60 * (len(self._session_labels) - 1) / span, 1)
        suggestion = self.learner.suggestion(item) if (self.learner is not None and item >= 0) else None
        labels = self.store.labels(self.dataset, annotator=self.annotator) if self._review is not None else {}
        with self.hold_sync():  # the view gets the new item, progress and message in one message
            self.labeled, self.rate = len(self._done), rate
            self.item = item
            self.payload = self._cached(item) if item >= 0 else {}
            self.suggestion, self.confidence = suggestion if suggestion else ("", 0.0)
            self.current_label = labels.get(item, "")
            if item < 0:
                self.message = f"all {self.total} items are done"
        self._shown_at = time.monotonic()
        for upcoming in self._queue(self.prefetch + 1)[1:]:
            self._cached(upcoming)  # encoded now, so the next key press only sends it

    def _on_model_update(self, learner) -> None:
        last = learner.history[-1] if learner.history else {}
        info = f"model: {last.get('labels', 0)} labels"
        if "accuracy" in last:
            info += f", held-out accuracy {last['accuracy']:.1%}"
        suggestion = learner.suggestion(self.item) if self.item >= 0 else None
        with self.hold_sync():
            self.model_info = info
            self.retraining = False
            if suggestion and self._review is None:
                self.suggestion, self.confidence = suggestion

    def _on_browser_message(self, _widget, content, _buffers) -> None:
        if content.get("type") == "key":
            self.handle_key(str(content.get("key", "")))
        elif content.get("type") == "click":
            self.label(str(content.get("label", "")))
