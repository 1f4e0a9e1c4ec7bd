"""Batch prediction through a running endpoint: a folder of images or a CSV in, a results table out.

The way people validate a deployment on a hold-out set: labels (image subfolders, or a ``label``
column) give an accuracy beside the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import ServeInputError

__all__ = ["BatchResult", "predict_source", "IMAGE_SUFFIXES", "LABEL_COLUMNS"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LABEL_COLUMNS = ("label", "target", "y")


@dataclass
class BatchResult:
    """The results table (file, class, confidence, set, version[, label, correct]) and the accuracy when labels were known."""

    table: object
    accuracy: float | None
    n: int


def _images(folder: Path) -> tuple[list[Path], list | None]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ServeInputError(f"{folder}: no PNG or JPEG images in this folder (or its subfolders)")
    nested = [p.relative_to(folder).parts for p in files]
    labels = [parts[0] for parts in nested] if all(len(parts) == 2 for parts in nested) else None
    return files, labels


def _rows(path: Path, meta: dict):
    """(row names, batches' payload maker, labels) from a CSV: tabular rows by feature, or pixel columns."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ServeInputError(f"{path}: not a readable CSV ({exc})") from None
    if frame.empty:
        raise ServeInputError(f"{path}: the CSV has no rows")
    label = next((c for c in frame.columns if str(c).lower() in LABEL_COLUMNS), None)
    labels = frame[label].tolist() if label is not None else None
    data = frame.drop(columns=[label]) if label is not None else frame
    if meta.get("kind") == "tabular":
        missing = [f for f in meta.get("features", []) if f not in data.columns]
        if missing:
            raise ServeInputError(f"{path}: missing feature column(s) {missing}; the model's features are {meta.get('features')}")
        return data[meta["features"]], labels
    size = int(np.prod(meta["input_shape"]))
    numeric = data.select_dtypes("number")
    if numeric.shape[1] != size:
        raise ServeInputError(f"{path}: {numeric.shape[1]} numeric pixel column(s) besides the label; the model takes "
                              f"{size} ({' x '.join(map(str, meta['input_shape']))}), one column per pixel")
    pixels = numeric.to_numpy(dtype=np.float32)
    return (pixels / 255.0 if pixels.max(initial=0) > 1.0 else pixels), labels


def _chunks(n: int, batch: int):
    return [(i, min(i + batch, n)) for i in range(0, n, batch)]


def predict_source(client, source, *, batch: int = 64, progress: bool = True) -> BatchResult:
    """Send ``source`` (a folder of images, or a CSV) through ``client`` in batches of ``batch``; the results table."""
    import pandas as pd
    from tqdm.auto import tqdm

    path = Path(source)
    if not path.exists():
        raise ServeInputError(f"{source}: no such file or folder (give a folder of PNG/JPEG images or a CSV)")
    meta = client.metadata()
    if path.is_dir():
        files, labels = _images(path)
        names = [str(p.relative_to(path)) for p in files]
        send = lambda a, b: client.predict_images(files[a:b])  # noqa: E731
    elif path.suffix.lower() == ".csv":
        rows, labels = _rows(path, meta)
        names = [str(i) for i in range(len(rows))]
        send = (lambda a, b: client.predict_rows(rows.iloc[a:b])) if hasattr(rows, "iloc") else (lambda a, b: client.predict_arrays(rows[a:b]))
    else:
        raise ServeInputError(f"{source}: not a folder or a .csv file")
    records = []
    with tqdm(total=len(names), unit="item", disable=not progress, desc="predict") as bar:
        for a, b in _chunks(len(names), batch):
            answer = send(a, b)
            for name, item in zip(names[a:b], answer["predictions"]):
                records.append(_record(name, item, answer.get("version")))
            bar.update(b - a)
    table = pd.DataFrame(records)
    accuracy = None
    if labels is not None:
        table["label"] = labels
        table["correct"] = table["class"].astype(str) == table["label"].astype(str)
        accuracy = float(table["correct"].mean())
    return BatchResult(table, accuracy, len(table))


def _record(name: str, item: dict, version) -> dict:
    probabilities = item.get("probabilities") or {}
    row = {"file": name, "class": item.get("class", item.get("prediction")),
           "confidence": max(probabilities.values()) if probabilities else None}
    if "set" in item:
        row["set"] = " ".join(map(str, item["set"]))
    row["version"] = version
    return row
