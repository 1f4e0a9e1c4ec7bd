"""Data sources: each turns some input into a :class:`Payload`; :func:`ingest` stores it.

A source implements :meth:`Source.load` (and, when it can be known cheaply before loading,
:meth:`Source.fingerprint`); the base class and :func:`ingest` own the bookkeeping: staging
folder, validation, manifest, atomic placement and clean-up in ``try/finally``. The sources
live one kind per module: ``_tables`` (CSV and friends), ``_images`` (image folders, GTSRB),
``_idx`` (raw IDX files), ``_mnist``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from .._registry import Registry
from ._base import Payload, Source, _bundled  # noqa: F401 - _bundled re-exported (tests, bench)
from ._download import file_digest
from ._idx import IDXFiles, is_idx_name
from ._images import IMAGE_SUFFIXES, ImageFolder  # noqa: F401 - re-exported
from ._mnist import MNIST, MNIST_FILES, MNIST_MIRRORS  # noqa: F401 - re-exported
from ._tables import CSVOptions, GPUBenchmarks, TableFile, TableURL, table_format
from ._workspace import DataError, check_name, workspace


# Named datasets; plugins add more through the "mlaas.sources" entry-point group.
SOURCES: Registry[Callable[[], Source]] = Registry("data source", entry_point_group="mlaas.sources")
SOURCES.register("mnist", MNIST)
SOURCES.register("gpu-benchmarks", GPUBenchmarks)


def _image_options(image_size, strict, crop_roi) -> list[str]:
    return [flag for flag, on in (("image_size", image_size), ("strict", strict), ("crop_roi", crop_roi)) if on]


def _is_idx_folder(path: Path) -> bool:
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    return not any(p.is_dir() for p in entries) and any(is_idx_name(p.name) for p in entries)


def _path_source(path: Path, *, csv: CSVOptions, image_size, strict: bool, crop_roi: bool) -> Source:
    """A folder of images (by class, or GTSRB's), IDX files (a folder of them, or one of a pair), or a table file."""
    if path.is_dir() and not _is_idx_folder(path):
        return ImageFolder(path, image_size=image_size, strict=strict, crop_roi=crop_roi)
    given = _image_options(image_size, strict, crop_roi)
    if given:
        raise DataError(f"{path}: {', '.join(given)} apply to image folders only")
    if path.is_dir() or is_idx_name(path.name):
        return IDXFiles(path)
    return TableFile(path, options=csv)


def resolve(
    source: "str | os.PathLike | Source",
    *,
    image_size: tuple[int, int] | None = None,
    strict: bool = False,
    crop_roi: bool = False,
    encoding: str | None = None,
    sep: str | None = None,
    decimal: str | None = None,
) -> Source:
    """Turn what a user typed into a :class:`Source`.

    A registered name (``mnist``, ``gpu-benchmarks``); an http(s) URL of a table file; a folder
    of class sub-folders of images (``image_size``, ``strict``, ``crop_roi`` apply) or of IDX
    files; an IDX file (paired with its labels or images by name); a table file: CSV (plain or
    .gz/.bz2/.xz/.zst; ``encoding``, ``sep``, ``decimal`` override what is detected), a .zip
    holding one table, JSON lines, Excel .xlsx, Parquet.
    """
    if isinstance(source, Source):
        return source
    csv = CSVOptions(encoding=encoding, sep=sep, decimal=decimal)
    text = os.fspath(source)
    if text in SOURCES:
        given = _image_options(image_size, strict, crop_roi) + sorted(csv.given())
        if given:
            raise DataError(f"dataset {text!r}: {', '.join(given)} do not apply to a named dataset")
        return SOURCES.get(text)()
    if urlparse(text).scheme in ("http", "https"):
        return TableURL(text, options=csv)
    path = Path(text).expanduser()
    if path.exists() or table_format(path.name) or is_idx_name(path.name):
        return _path_source(path, csv=csv, image_size=image_size, strict=strict, crop_roi=crop_roi)
    raise DataError(f"source {text!r} is not a file, folder or URL, nor a dataset name ({', '.join(SOURCES.names())})")


def _validate(payload: Payload, source: Source) -> None:
    if payload.table is None or len(payload.table) == 0:
        raise DataError(f"{source.describe()}: nothing to ingest (no rows)")
    if payload.images is not None:
        if len(payload.images) != len(payload.table):
            raise DataError(f"{source.describe()}: {len(payload.images)} images but {len(payload.table)} labels")
        if payload.images.dtype.kind != "u" or payload.images.ndim not in (3, 4):
            raise DataError(f"{source.describe()}: images must be uint8 (N, H, W[, C]), got {payload.images.dtype} {payload.images.shape}")


def _schema(frame) -> dict[str, str]:
    return {str(c): str(t) for c, t in frame.dtypes.items()}


def _compare(target: Path, src: Source, fingerprint: str | None, payload: Payload | None, *, overwrite: bool) -> tuple[str, dict | None]:
    """``("new" | "reuse" | "upgrade", old manifest)`` for ``src`` against the dataset at ``target``.

    Raises when another input already holds the name and ``overwrite`` is false; with no
    fingerprint yet (before loading) the decision waits for the one computed after loading.
    """
    manifest = target / "manifest.json"
    if not manifest.exists():
        return "new", None
    old = json.loads(manifest.read_text())
    if fingerprint is not None and old.get("fingerprint") == fingerprint:
        return "reuse", old
    relation = src.same_data(old, payload)
    if relation == "same":
        return "reuse", old
    if relation == "upgrade":
        return "upgrade", old
    if fingerprint is None or overwrite:
        return "new", old
    raise DataError(
        f"dataset {target.name!r} already exists from another input ({old.get('source')}); "
        "choose another name or overwrite it (overwrite=True, --overwrite)"
    )


def _write(staging: Path, name: str, src: Source, payload: Payload, fingerprint: str) -> None:
    """The dataset's files in ``staging``, the manifest last."""
    import numpy as np

    for f in staging.iterdir():  # downloads and other scratch files
        if f.is_file():
            f.unlink()
    payload.table.to_parquet(staging / "table.parquet", index=False)
    shape = None
    if payload.images is not None:
        np.save(staging / "images.npy", np.ascontiguousarray(payload.images))
        shape = list(payload.images.shape)
    manifest = {
        "name": name,
        "kind": payload.kind,
        "source": src.describe(),
        "source_class": type(src).__name__,
        "fingerprint": fingerprint,
        "files": payload.files,
        "rows": int(len(payload.table)),
        "schema": _schema(payload.table),
        "image_shape": shape,
        "outputs": {p.name: file_digest(p) for p in sorted(staging.iterdir())},
        "notes": payload.notes,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **payload.extra,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))


def _place(staging: Path, target: Path) -> None:
    """Move the finished ``staging`` folder to ``target``, replacing what was there whole."""
    old = None
    if target.exists():
        old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
    os.rename(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def ingest(
    source: "str | os.PathLike | Source",
    *,
    name: str | None = None,
    overwrite: bool = False,
    image_size: tuple[int, int] | None = None,
    strict: bool = False,
    crop_roi: bool = False,
    encoding: str | None = None,
    sep: str | None = None,
    decimal: str | None = None,
    progress: bool = True,
    workspace_dir: str | os.PathLike | None = None,
):
    """Ingest ``source`` into the workspace as dataset ``name`` and return the :class:`Dataset`.

    ``source`` is anything :func:`resolve` takes; ``image_size``, ``strict`` (refuse a folder
    with unreadable or stray files instead of skipping them) and ``crop_roi`` (GTSRB regions of
    interest) apply to image folders; ``encoding``, ``sep`` and ``decimal`` override what is
    detected in a CSV. Ingesting the same input again is a no-op (the dataset's ``reused`` is
    then true); so is a source that holds the same data (the bundled MNIST after the full
    download), and one that holds more of it replaces it (the full MNIST after the bundled).
    Another input under an existing name is an error unless ``overwrite``. Nothing is left
    half-written: the dataset is built in a staging folder and moved into place at the end.
    """
    from . import Dataset

    src = resolve(source, image_size=image_size, strict=strict, crop_roi=crop_roi, encoding=encoding, sep=sep, decimal=decimal)
    name = check_name(src.default_name if name is None else name)
    root = workspace(workspace_dir) / "datasets"
    target = root / name
    if _compare(target, src, src.fingerprint(), None, overwrite=overwrite)[0] == "reuse":
        return Dataset(target, reused=True)
    staging = root / f".staging-{name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        payload = src.load(workdir=staging, progress=progress)
        _validate(payload, src)
        fingerprint = src.fingerprint() or "sha256:" + ",".join(f["sha256"] for f in payload.files)
        decision, old = _compare(target, src, fingerprint, payload, overwrite=overwrite)
        if decision == "reuse":
            return Dataset(target, reused=True)
        if decision == "upgrade":
            payload.notes.append(f"replaces the {old.get('rows', 0):,} rows ingested earlier from the same data ({old.get('source')}, {old.get('created')})")
        _write(staging, name, src, payload, fingerprint)
        _place(staging, target)
        return Dataset(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
