"""What a tabular model's raw rows hold that its encoding would pass over silently.

``export.encode_rows`` encodes as training did: a missing number becomes the training median, an
unseen category a row of zeros. An endpoint says both: an unknown category is refused (422 naming
the column, the value and the categories the model knows: a zero row is no category the model
learned, usually a typo), and a filled-in value is listed in the answer's ``notes.imputed``.
"""

from __future__ import annotations

import math

from ._errors import ServeInputError

__all__ = ["check_rows"]


def _absent(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _blank(value) -> bool:  # a number's missing value, as encode_rows reads it
    return _absent(value) or (isinstance(value, str) and not value.strip())


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(map(str, rows[:10]))
    return f"row {shown}" if len(rows) == 1 else f"rows {shown}{', ...' if len(rows) > 10 else ''}"


def check_rows(meta: dict, rows: list[dict], *, field: str = "instances") -> dict:
    """Raise :class:`ServeInputError` for a category the model does not know; ``{"imputed": text}`` (or ``{}``)
    naming each column filled in, the rows and the value used."""
    encoding = meta.get("encoding") or {}
    filled = {}
    for column, categories in (encoding.get("categorical") or {}).items():
        known = [str(c) for c in categories]
        for i, row in enumerate(rows):
            value = row.get(column)
            if _absent(value):
                filled.setdefault(column, []).append(i)
            elif str(value) not in known:
                shown = [c for c in known if c != encoding.get("missing", "missing")]
                raise ServeInputError(f"{field}[{i}]: {column} is {value!r}, a category the model was not trained on; "
                                      f"known categories: {shown}")
    for column in encoding.get("numeric") or {}:
        for i, row in enumerate(rows):
            if _blank(row.get(column)):
                filled.setdefault(column, []).append(i)
    if not filled:
        return {}
    numeric, fill = encoding.get("numeric") or {}, encoding.get("missing", "missing")
    said = [f"{column} ({_rows_text(where)}) filled with the training median {float(numeric[column]):g}" if column in numeric
            else f"{column} ({_rows_text(where)}) taken as the category {fill!r}" for column, where in filled.items()]
    return {"imputed": "missing values: " + "; ".join(said)}
