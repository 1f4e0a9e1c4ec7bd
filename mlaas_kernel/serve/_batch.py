"""Batch prediction through a running endpoint: a folder of images or a CSV in, a results table out.

The way people validate a deployment on a hold-out set: labels (image subfolders, or a ``label``
column) give an accuracy beside the table.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
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
    skipped: list = None  # (file, why) of the files the endpoint could not decode
    said: list = None  # what was done to the input on the way (a CSV's 0..255 pixels divided by 255)


def _images(folder: Path) -> tuple[list[Path], list | None]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ServeInputError(f"{folder}: no PNG or JPEG images in this folder (or its subfolders)")
    nested = [p.relative_to(folder).parts for p in files]
    labels = [parts[0] for parts in nested] if all(len(parts) == 2 for parts in nested) else None
    return files, labels


def _rows(path: Path, meta: dict, said: list):
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
    if meta.get("kind") == "tabular":  # raw columns (categories as text) when the model encodes them, as /predict takes
        columns = list(meta.get("raw_features") or meta.get("features", [])) if meta.get("encoding") else meta.get("features", [])
        missing = [f for f in columns if f not in data.columns]
        if missing:
            raise ServeInputError(f"{path}: missing column(s) {missing}; the model takes the columns {columns}")
        return data[columns], labels
    size = int(np.prod(meta["input_shape"]))
    numeric = data.select_dtypes("number")
    if numeric.shape[1] != size:
        raise ServeInputError(f"{path}: {numeric.shape[1]} numeric pixel column(s) besides the label; the model takes "
                              f"{size} ({' x '.join(map(str, meta['input_shape']))}), one column per pixel")
    pixels = numeric.to_numpy(dtype=np.float32)
    if pixels.max(initial=0) > 1.0:  # /predict refuses pixels outside 0..1; a CSV of raw 0..255 pixels is common
        said.append(f"{path}: pixel values range {pixels.min(initial=0):g}..{pixels.max(initial=0):g}: divided by 255 "
                    "(the model takes intensities in 0..1)")
        pixels = pixels / 255.0
    return pixels, labels


def _chunks(n: int, batch: int):
    return [(i, min(i + batch, n)) for i in range(0, n, batch)]


def _images_skipping(client, files: list, names: list, skipped: list, strict: bool) -> tuple[dict, list]:
    """``(answer, names answered)`` for one batch of files; a file the endpoint cannot decode (its 422 names
    ``files[i]``) is left out and listed in ``skipped`` with why, unless ``strict``."""
    from ._errors import EndpointError

    files, names = list(files), list(names)
    while files:
        try:
            return client.predict_images(files), names
        except EndpointError as exc:
            found = re.search(r": 422 files\[(\d+)\]", str(exc))
            if strict or found is None or int(found.group(1)) >= len(files):
                raise
            i = int(found.group(1))
            why = str(exc).split(": 422 ", 1)[1]
            skipped.append((names[i], re.sub(r"^files\[\d+\] \([^)]*\): ", "", why)))  # the request's own field: not the user's
            del files[i], names[i]
    return {"predictions": []}, []


def predict_source(client, source, *, batch: int = 64, progress: bool = True, strict: bool = False) -> BatchResult:
    """Send ``source`` (a folder of images, or a CSV) through ``client`` in batches of ``batch``; the results table.

    Image files the endpoint cannot decode are skipped and listed in ``skipped`` (``strict``: the first stops it)."""
    import pandas as pd
    from tqdm.auto import tqdm

    path = Path(source)
    if not path.exists():
        raise ServeInputError(f"{source}: no such file or folder (give a folder of PNG/JPEG images or a CSV)")
    meta = client.metadata()
    said = []
    if path.is_dir():
        files, labels = _images(path)
        names = [str(p.relative_to(path)) for p in files]
        skipped = []
        send = lambda a, b: _images_skipping(client, files[a:b], names[a:b], skipped, strict)  # noqa: E731
    elif path.suffix.lower() == ".csv":
        rows, labels = _rows(path, meta, said)
        names, skipped = [str(i) for i in range(len(rows))], []
        send = (lambda a, b: client.predict_rows(rows.iloc[a:b])) if hasattr(rows, "iloc") else (lambda a, b: client.predict_arrays(rows[a:b]))
    else:
        raise ServeInputError(f"{source}: not a folder or a .csv file")
    records = []
    with tqdm(total=len(names), unit="item", disable=not progress, desc="predict") as bar:
        for a, b in _chunks(len(names), batch):
            answer = send(a, b)
            answered = answer[1] if isinstance(answer, tuple) else names[a:b]
            answer = answer[0] if isinstance(answer, tuple) else answer
            for name, item in zip(answered, answer["predictions"]):
                records.append(_record(name, item, answer.get("version")))
            bar.update(b - a)
    table = pd.DataFrame(records, columns=None if records else ["file", "class", "confidence", "version"])
    accuracy = None
    if labels is not None:
        by_name = dict(zip(names, labels))
        table["label"] = [by_name[n] for n in table["file"]]
    if labels is not None and meta.get("task") != "embedding":  # an embedding has no class to compare
        table["correct"] = table["class"].astype(str) == table["label"].astype(str)
        accuracy = float(table["correct"].mean())
    return BatchResult(table, accuracy, len(table), skipped, said)


def _record(name: str, item: dict, version) -> dict:
    if "embedding" in item:  # an embedding model: the vector, space-separated
        return {"file": name, "embedding": " ".join(f"{v:.6g}" for v in item["embedding"]), "version": version}
    probabilities = item.get("probabilities") or {}
    row = {"file": name, "class": item.get("class", item.get("prediction")),
           "confidence": max(probabilities.values()) if probabilities else None}
    if "set" in item:
        row["set"] = " ".join(map(str, item["set"]))
    row["version"] = version
    return row
