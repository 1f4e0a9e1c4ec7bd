"""TableLabeler: label or correct the rows of a table, one row at a time."""

from __future__ import annotations

from typing import Any, Sequence

import traitlets

from ._labeling import Labeler


class TableLabeler(Labeler):
    """Label rows of a table (e.g. a GPU's category in the GPU table) with the same keys as
    :class:`ImageLabeler`. Row positions are the item ids.

    Parameters
    ----------
    frame:
        A pandas DataFrame; ``columns`` picks what is shown (default: all).
    label_column:
        A column whose value is shown as the row's current value, to correct it.
    """

    label_column = traitlets.Unicode("", help="the column being labeled or corrected").tag(sync=True)

    def __init__(self, frame, *, store, dataset: str, annotator: str, classes: Sequence[Any], columns: Sequence[str] | None = None,
                 label_column: str | None = None, items: Sequence[int] | None = None, learner=None, **kwargs):
        self.frame = frame.reset_index(drop=True)
        self.columns = list(columns) if columns else [c for c in self.frame.columns if c != label_column]
        super().__init__(store=store, dataset=dataset, annotator=annotator, classes=classes,
                         items=range(len(self.frame)) if items is None else items, learner=learner, kind="table",
                         label_column=label_column or "", **kwargs)

    def _payload(self, item: int) -> dict:
        row = self.frame.iloc[item]
        shown = {c: ("" if _missing(row[c]) else str(row[c])) for c in self.columns}
        out: dict = {"row": shown}
        if self.label_column:
            out["value"] = "" if _missing(row[self.label_column]) else str(row[self.label_column])
        return out


def _missing(value) -> bool:
    try:
        return value is None or value != value  # NaN and pandas' NA
    except TypeError:
        return False
