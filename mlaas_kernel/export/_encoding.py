"""Rows of raw values to a tabular model's ONNX input, from serving.json alone (numpy only: the
serving image has no pandas or scikit-learn).

The encoding mirrors ``train.TabularClassifier``/``TabularRegressor``'s preprocessing: numeric
columns as float32 with a missing value replaced by the training median, categorical columns
one-hot over the training categories (a missing value is the category ``"missing"``, an unseen
one is all zeros, as scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``).
"""

from __future__ import annotations

import math

import numpy as np

from ._errors import ExportError


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value, column: str, row: int, median: float) -> float:
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return median
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExportError(f"row {row}: {column!r} is {value!r}, expected a number") from None
    if not math.isfinite(number):
        raise ExportError(f"row {row}: {column!r} is {value!r}, expected a finite number")
    return number


def encode_rows(metadata: dict, rows) -> np.ndarray:
    """``rows`` (a list of ``{column: value}`` dicts, one per row) as the float32 ``[N, n_features]`` input the
    tabular model of ``metadata`` (its serving.json) takes. A row that lacks a column, or gives text for a
    number, raises :class:`ExportError` naming the row and the column."""
    encoding = metadata.get("encoding")
    if not encoding:
        raise ExportError(f"serving.json of run {metadata.get('run_id')} has no encoding: give the {len(metadata.get('features', []))} "
                          "input features as numbers instead of rows")
    numeric, categorical, fill = encoding["numeric"], encoding["categorical"], encoding.get("missing", "missing")
    raw = metadata["raw_features"]
    index = {name: i for i, name in enumerate(metadata["features"])}
    out = np.zeros((len(rows), len(index)), dtype=np.float32)
    for r, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ExportError(f"row {r} is a {type(row).__name__}; expected an object of column: value")
        absent = [c for c in raw if c not in row]
        if absent:
            raise ExportError(f"row {r} lacks column(s) {absent} (the model takes {raw})")
        for column, median in numeric.items():
            out[r, index[column]] = _number(row[column], column, r, float(median))
        for column, categories in categorical.items():
            value = fill if _missing(row[column]) else str(row[column])
            slot = index.get(f"{column}_{value}")
            if slot is not None and value in categories:
                out[r, slot] = 1.0
    return out
