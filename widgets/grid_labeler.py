"""GridLabeler: a page of thumbnails grouped by the model's prediction; fix the wrong ones, accept the page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import anywidget
import traitlets

from ._labeling import default_keys, learner_pool
from .image_labeler import png_data_url


class GridLabeler(anywidget.AnyWidget):
    """Bulk labeling: ``rows x cols`` images labeled with the model's guesses.

    Click a wrong one (or :meth:`select` it) and press a class key to fix it; Enter
    (:meth:`accept_page`) commits the whole page, fixed tiles as human labels and the rest as
    accepted suggestions, then shows the next page. N (:meth:`next_page`) skips a page.
    """

    _esm = Path(__file__).with_name("grid_labeler.js")

    tiles = traitlets.List(traitlets.Dict(), help="the page: [{item, src, label, fixed}], grouped by label").tag(sync=True)
    selected = traitlets.Int(-1, help="the tile whose label the next class key sets (-1: none)").tag(sync=True)
    classes = traitlets.List(traitlets.Unicode(), help="the class names").tag(sync=True)
    key_map = traitlets.Dict(help="key -> class name").tag(sync=True)
    message = traitlets.Unicode("", help="one line about the last action").tag(sync=True)
    labeled = traitlets.Int(0, help="items this annotator has labeled (skipped ones not counted)").tag(sync=True)
    total = traitlets.Int(0, help="items in the queue's universe").tag(sync=True)

    def __init__(self, images, *, store, dataset: str, annotator: str, classes: Sequence[Any], learner=None,
                 items: Sequence[int] | None = None, rows: int = 4, cols: int = 5, keys: dict[str, str] | None = None, **kwargs):
        classes = [str(c) for c in classes]
        universe = list(range(len(images))) if items is None else [int(i) for i in items]
        super().__init__(classes=classes, key_map=keys or default_keys(classes), total=len(universe), **kwargs)
        self.images, self.store, self.dataset, self.annotator, self.learner = images, store, dataset, annotator, learner
        self.page_size = rows * cols
        self._pool = learner_pool(learner) if learner is not None else None
        self._universe = universe
        self._done = store.done_items(dataset, annotator=annotator) & set(universe)  # labeled or skipped: not asked again
        self._labeled = set(store.labels(dataset, annotator=annotator)) & set(universe)
        self._shown_at = time.monotonic()
        self.on_msg(self._on_browser_message)
        self.next_page()

    def select(self, item: int) -> None:
        """Pick the tile whose label the next class key sets."""
        self.selected = int(item) if any(t["item"] == item for t in self.tiles) else -1

    def set_label(self, item: int, label: Any) -> None:
        """Fix the label of one tile on the page (not committed until the page is accepted)."""
        label = str(label)
        if label not in self.classes:
            raise ValueError(f"label {label!r} is not one of the classes {self.classes}")
        self.tiles = [{**t, "label": label, "fixed": True} if t["item"] == item else t for t in self.tiles]
        self.selected = -1

    def accept_page(self) -> int:
        """Commit every labeled tile of the page, then show the next page; returns how many."""
        per_item = round((time.monotonic() - self._shown_at) / max(len(self.tiles), 1), 3)
        n = 0
        for t in self.tiles:
            if not t["label"]:
                continue
            self.store.label(self.dataset, t["item"], t["label"], annotator=self.annotator, seconds=per_item,
                             source="human" if t["fixed"] else "suggestion")
            self._done.add(t["item"])
            self._labeled.add(t["item"])
            if self.learner is not None and (self._pool is None or t["item"] in self._pool):
                self.learner.teach(t["item"], t["label"])
            n += 1
        self.next_page()
        self.message = f"accepted {n} labels"
        return n

    def next_page(self) -> None:
        """Show the next page without committing this one."""
        shown = {t["item"] for t in self.tiles}
        exclude = self._done | shown
        if self.learner is not None:
            items = self.learner.next_items(self.page_size, exclude=exclude)
        else:
            items = [i for i in self._universe if i not in exclude][: self.page_size]
        guesses = {i: (self.learner.suggestion(i) if self.learner is not None else None) for i in items}
        items.sort(key=lambda i: (guesses[i][0] if guesses[i] else "~", i))
        self.tiles = [{"item": i, "src": png_data_url(self.images[i]), "label": guesses[i][0] if guesses[i] else "", "fixed": False} for i in items]
        self.selected, self.labeled = -1, len(self._labeled)
        self.message = "" if items else f"all {self.total} items are done"
        self._shown_at = time.monotonic()

    def handle_key(self, key: str) -> None:
        if key in self.key_map and self.selected >= 0:
            self.set_label(self.selected, self.key_map[key])
        elif key == "Enter":
            self.accept_page()
        elif key in ("n", "N"):
            self.next_page()

    def _on_browser_message(self, _widget, content, _buffers) -> None:
        if content.get("type") == "key":
            self.handle_key(str(content.get("key", "")))
        elif content.get("type") == "select":
            self.select(int(content.get("item", -1)))
