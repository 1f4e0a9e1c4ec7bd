"""Data sources: each turns some input into a :class:`Payload`; :func:`ingest` stores it.

A source implements :meth:`Source.load` (and, when it can be known cheaply before loading,
:meth:`Source.fingerprint`); the base class and :func:`ingest` own the bookkeeping: staging
folder, validation, manifest, atomic placement and clean-up in ``try/finally``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from .._registry import Registry
from ._download import DownloadError, download, file_digest
from ._gpu_table import clean_gpu_table
from ._idx import read_idx
from ._workspace import DataError, check_name, workspace

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

# Published MD5s of the original MNIST archives (as listed in torchvision's MNIST dataset).
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


@dataclass
class Payload:
    """What a source loaded: one table row per item, optional image array, input files."""

    kind: str  # "images" or "table"
    table: Any  # pandas.DataFrame
    images: Any = None  # numpy uint8 array (N, H, W) or (N, H, W, C)
    files: list[dict] = field(default_factory=list)  # {"name", "sha256", "bytes"}
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # goes into the manifest as is


def _bundled(*parts: str) -> Path:
    return Path(str(resources.files("mlaas_kernel.data").joinpath("_bundled", *parts)))


def _file_entry(path: Path, name: str | None = None) -> dict:
    return {"name": name or path.name, "sha256": file_digest(path), "bytes": path.stat().st_size}


class Source:
    """A kind of input. Subclasses set ``default_name`` and implement :meth:`load`."""

    default_name = "dataset"
    description = ""

    def fingerprint(self) -> str | None:
        """A string that changes when the input changes, if knowable before :meth:`load`."""
        return None

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        """Read the input; ``workdir`` is a scratch folder inside the workspace."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.description or type(self).__name__


def _read_table(path: Path, fmt: str):
    import pandas as pd
    import pyarrow

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        if fmt == "csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: no columns to read (empty CSV)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    except (pyarrow.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file, maybe truncated ({exc})") from exc
    if frame.empty:
        raise DataError(f"{path}: the table has columns {list(frame.columns)} but no rows")
    return frame


class TableFile(Source):
    """A CSV or Parquet file on disk."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in TABLE_SUFFIXES:
            raise DataError(f"{self.path}: unsupported file type {suffix!r}; expected one of {sorted(TABLE_SUFFIXES)}")
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file")
        self.format = TABLE_SUFFIXES[suffix]
        self.default_name = _slug(self.path.stem)
        self.description = f"{self.format} file {self.path.name}"

    def fingerprint(self) -> str:
        return "sha256:" + file_digest(self.path)

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        frame = _read_table(self.path, self.format)
        return Payload("table", frame, files=[_file_entry(self.path)], extra={"source_path": str(self.path.resolve())})


class TableURL(Source):
    """A CSV or Parquet file behind an http(s) URL; downloaded, then read as a file."""

    def __init__(self, url: str, *, sha256: str | None = None):
        self.url = url
        name = Path(urlparse(url).path).name
        suffix = Path(name).suffix.lower()
        if suffix not in TABLE_SUFFIXES:
            raise DataError(f"{url}: unsupported file type {suffix or '(none)'!r}; expected one of {sorted(TABLE_SUFFIXES)}")
        self.filename, self.sha256 = name, sha256
        self.default_name = _slug(Path(name).stem)
        self.description = f"{TABLE_SUFFIXES[suffix]} file at {url}"

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        path = download(self.url, workdir / self.filename, sha256=self.sha256, progress=progress)
        payload = TableFile(path).load(workdir=workdir, progress=progress)
        payload.extra = {"source_url": self.url}
        return payload


class ImageFolder(Source):
    """A folder with one sub-folder of images per class."""

    def __init__(self, path: str | os.PathLike, *, image_size: tuple[int, int] | None = None):
        self.path = Path(path)
        self.image_size = image_size
        self._fingerprint: str | None = None
        self.default_name = _slug(self.path.resolve().name)
        self.description = f"image folder {self.path.name}"

    def _files(self) -> list[tuple[str, Path]]:
        classes = sorted(p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise DataError(f"{self.path}: no class sub-folders (expected one sub-folder of images per class)")
        files = []
        for cls in classes:
            found = sorted(p for p in cls.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{cls}: class folder {cls.name!r} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += [(cls.name, p) for p in found]
        return files

    def fingerprint(self) -> str:
        if self._fingerprint is None:  # hashing every image is the slow part: once per source
            import hashlib

            h = hashlib.sha256()
            for label, path in self._files():
                h.update(f"{label}/{path.name}:{file_digest(path)}\n".encode())
            self._fingerprint = f"sha256:{h.hexdigest()}" + (f":size={self.image_size}" if self.image_size else "")
        return self._fingerprint

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        import numpy as np
        import pandas as pd
        from PIL import Image, UnidentifiedImageError
        from tqdm.auto import tqdm

        files = self._files()
        arrays, modes = [], set()
        size = self.image_size
        for _, path in tqdm(files, desc="images", disable=not progress, leave=False):
            try:
                with Image.open(path) as img:
                    img.load()
                    modes.add("L" if img.mode in ("1", "L", "I", "I;16", "F") else "RGB")
                    arrays.append(img.copy())
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{path}: not a readable image ({exc})") from exc
        mode = "L" if modes == {"L"} else "RGB"
        size = size or arrays[0].size
        out = []
        for (_, path), img in zip(files, arrays):
            img = img.convert(mode)
            if img.size != tuple(size):
                if self.image_size is None:
                    raise DataError(f"{path}: image is {img.size[0]}x{img.size[1]}, others are {size[0]}x{size[1]}; pass image_size to resize")
                img = img.resize(tuple(size))
            out.append(np.asarray(img, dtype=np.uint8))
        images = np.stack(out)
        table = pd.DataFrame(
            {"item": np.arange(len(files)), "label": [label for label, _ in files], "path": [f"{label}/{p.name}" for label, p in files]}
        )
        return Payload(
            "images", table, images, files=[{"name": self.path.name, "sha256": self.fingerprint().split(":")[1], "bytes": None}],
            extra={"classes": sorted(set(table["label"])), "source_path": str(self.path.resolve())},
        )


class MNIST(Source):
    """MNIST: 60,000 + 10,000 digits from the usual mirrors, or the bundled 10,000 offline."""

    default_name = "mnist"
    description = "MNIST handwritten digits"

    def __init__(self, *, mirrors: tuple[str, ...] | None = None, files: dict[str, tuple[str, str]] | None = None, offline: bool | None = None):
        env_mirrors = os.environ.get("MLAAS_MNIST_MIRRORS")
        self.mirrors = mirrors or (tuple(env_mirrors.split()) if env_mirrors else MNIST_MIRRORS)
        self.files = files or MNIST_FILES
        self.offline = offline if offline is not None else os.environ.get("MLAAS_OFFLINE", "") not in ("", "0")

    def _download_all(self, cache: Path, progress: bool) -> dict[str, Path]:
        got = {}
        for key, (filename, md5) in self.files.items():
            got[key] = download([m + filename for m in self.mirrors], cache / filename, md5=md5, progress=progress, timeout=10)
        return got

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        import numpy as np
        import pandas as pd

        notes = []
        paths: dict[str, Path] = {}
        if not self.offline:
            try:
                paths = self._download_all(workdir.parent.parent / "downloads" / "mnist", progress)
            except DownloadError as exc:
                first = str(exc).splitlines()[-1].strip()
                notes.append(f"download failed ({first}); using the bundled MNIST test set (10,000 digits)")
        else:
            notes.append("offline (MLAAS_OFFLINE): using the bundled MNIST test set (10,000 digits)")
        splits = ["train", "test"] if paths else ["test"]
        if not paths:
            paths = {
                "test_images": _bundled("mnist", "t10k-images-idx3-ubyte.gz"),
                "test_labels": _bundled("mnist", "t10k-labels-idx1-ubyte.gz"),
            }
        images, labels, split_col = [], [], []
        for split in splits:
            x = read_idx(paths[f"{split}_images"], expect_ndim=3)
            y = read_idx(paths[f"{split}_labels"], expect_ndim=1)
            if len(x) != len(y):
                raise DataError(f"{paths[f'{split}_images'].name} has {len(x)} images but {paths[f'{split}_labels'].name} has {len(y)} labels")
            if y.size and (y.min() < 0 or y.max() > 9):
                raise DataError(f"{paths[f'{split}_labels'].name}: labels outside 0-9")
            images.append(x)
            labels.append(y)
            split_col += [split] * len(y)
        x, y = np.concatenate(images), np.concatenate(labels).astype("int64")
        table = pd.DataFrame({"item": np.arange(len(y)), "label": y, "split": pd.Categorical(split_col, categories=splits)})
        files = [_file_entry(paths[k]) for k in sorted(paths)]
        source = "bundled" if notes else "download"
        return Payload(
            "images", table, x, files=files, notes=notes,
            extra={"classes": list(range(10)), "mnist_source": source, "provenance": "The MNIST database (LeCun, Cortes, Burges), CC BY-SA 3.0"},
        )


class GPUBenchmarks(Source):
    """The bundled GPU benchmarks table (2,317 GPUs, PassMark figures), cleaned."""

    default_name = "gpu-benchmarks"
    description = "GPU benchmarks table (PassMark G3D/G2D marks, prices, TDP)"

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else _bundled("gpu-benchmarks", "GPU_benchmarks_v7.csv")

    def fingerprint(self) -> str:
        return "sha256:" + file_digest(self.path)

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        raw = _read_table(self.path, "csv")
        frame, steps = clean_gpu_table(raw)
        return Payload(
            "table", frame, files=[_file_entry(self.path)],
            notes=[f"{s.step}: {s.choice} ({s.rows} rows)" for s in steps if s.rows],
            extra={"cleaning": [s.as_dict() for s in steps], "raw_rows": len(raw),
                   "provenance": "GPU Benchmarks Compilation (PassMark figures), as published on Kaggle"},
        )


# Named datasets; plugins add more through the "mlaas.sources" entry-point group.
SOURCES: Registry[Callable[[], Source]] = Registry("data source", entry_point_group="mlaas.sources")
SOURCES.register("mnist", MNIST)
SOURCES.register("gpu-benchmarks", GPUBenchmarks)


def _slug(text: str) -> str:
    import re

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "dataset"
    return slug[:64]


def resolve(source: "str | os.PathLike | Source", *, image_size: tuple[int, int] | None = None) -> Source:
    """Turn what a user typed into a :class:`Source`.

    A registered name (``mnist``, ``gpu-benchmarks``), an http(s) URL of a CSV/Parquet file,
    a folder of class sub-folders, or a CSV/Parquet path.
    """
    if isinstance(source, Source):
        return source
    text = os.fspath(source)
    if text in SOURCES:
        return SOURCES.get(text)()
    if urlparse(text).scheme in ("http", "https"):
        return TableURL(text)
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolder(path, image_size=image_size)
    if path.suffix.lower() in TABLE_SUFFIXES or path.exists():
        return TableFile(path)
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


def ingest(
    source: "str | os.PathLike | Source",
    *,
    name: str | None = None,
    overwrite: bool = False,
    image_size: tuple[int, int] | None = None,
    progress: bool = True,
    workspace_dir: str | os.PathLike | None = None,
):
    """Ingest ``source`` into the workspace as dataset ``name`` and return the :class:`Dataset`.

    Ingesting the same input again is a no-op (the dataset's ``reused`` is then true). A
    different input under an existing name is an error unless ``overwrite``. Nothing is left
    half-written: the dataset is built in a staging folder and moved into place at the end.
    """
    from . import Dataset

    src = resolve(source, image_size=image_size)
    name = check_name(src.default_name if name is None else name)
    root = workspace(workspace_dir) / "datasets"
    target = root / name

    def existing(fingerprint: str | None) -> "Dataset | None":
        manifest = target / "manifest.json"
        if fingerprint is None or not manifest.exists():
            return None
        old = json.loads(manifest.read_text())
        if old.get("fingerprint") == fingerprint:
            return Dataset(target, reused=True)
        if not overwrite:
            raise DataError(
                f"dataset {name!r} already exists from another input ({old.get('source')}); "
                "choose another name or overwrite it (overwrite=True, --overwrite)"
            )
        return None

    found = existing(src.fingerprint())
    if found is not None:
        return found
    staging = root / f".staging-{name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        payload = src.load(workdir=staging, progress=progress)
        _validate(payload, src)
        fingerprint = src.fingerprint() or "sha256:" + ",".join(f["sha256"] for f in payload.files)
        found = existing(fingerprint)
        if found is not None:
            return found
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
        # written last, inside the staging folder that is renamed into place whole
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        old = None
        if target.exists():
            old = root / f".old-{name}-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
        os.rename(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return Dataset(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
