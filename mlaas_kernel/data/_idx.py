"""The IDX format of the MNIST files (gzip-compressed or raw): a reader, and IDX files as a source."""

from __future__ import annotations

import gzip
import os
import re
import struct
import zlib
from pathlib import Path

from ._base import Payload, Source, _file_entry, _slug
from ._download import file_digest
from ._workspace import DataError

# IDX type byte -> numpy dtype (big-endian), from the format's description on the MNIST page.
_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IDXError(DataError):
    """An IDX file that cannot be read; the message names the file."""


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise IDXError(f"{path}: the gzip stream is truncated or corrupt ({exc})") from exc


def read_idx(path: str | os.PathLike, *, expect_ndim: int | None = None, expect_shape: tuple[int | None, ...] | None = None):
    """Read an IDX file into a NumPy array, checking its header against its length.

    Parameters
    ----------
    path:
        The file, gzip-compressed or raw.
    expect_ndim, expect_shape:
        Optional checks: number of dimensions, and sizes (``None`` matches any size).
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise IDXError(f"{path}: no such file")
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: {len(data)} bytes is too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code not in _DTYPES or ndim == 0:
        raise IDXError(f"{path}: bad magic number 0x{data[:4].hex()} (not an IDX file)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: header promises {ndim} dimensions but the file ends at byte {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[dtype_code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise IDXError(
            f"{path}: header says shape {shape} ({expected} bytes) but the data is {len(data)} bytes "
            f"({'truncated' if len(data) < expected else 'trailing bytes'})"
        )
    if expect_ndim is not None and ndim != expect_ndim:
        raise IDXError(f"{path}: expected {expect_ndim} dimensions, found {ndim} (shape {shape})")
    if expect_shape is not None:
        for want, got in zip(expect_shape, shape):
            if want is not None and want != got:
                raise IDXError(f"{path}: expected shape {expect_shape}, found {shape}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# MNIST-style names: <prefix>-images-idx3-ubyte[.gz] beside <prefix>-labels-idx1-ubyte[.gz]
# (also with '.' or '_' between the parts, as some re-distributions spell them).
_PAIRED = re.compile(r"^(?P<prefix>.*?)[-_.]?(?P<kind>images|labels)[-_.]idx(?P<ndim>\d)[-_.]ubyte(?P<gz>\.gz)?$", re.IGNORECASE)
_IDX_NAME = re.compile(r"(idx\d[-_.]ubyte|\.idx)(\.gz)?$", re.IGNORECASE)


def is_idx_name(name: str) -> bool:
    """Whether a file name says IDX (``*-idx3-ubyte``, ``*.idx``, gzipped or not)."""
    return bool(_IDX_NAME.search(name))


def _partner(path: Path, match: re.Match) -> Path:
    """The other file of an images/labels pair, gzipped or not, beside ``path``."""
    want, ndim = ("labels", "1") if match["kind"].lower() == "images" else ("images", "3")
    name = path.name
    stem = name[:match.start("kind")] + want + name[match.end("kind"):match.start("ndim")] + ndim + name[match.end("ndim"):match.start("gz") if match["gz"] else None]
    candidates = [path.with_name(stem), path.with_name(stem + ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise IDXError(f"{path}: no {want} file to pair it with (looked for {stem}[.gz] beside it)")


class IDXFiles(Source):
    """Raw IDX files: images paired with labels by name, from one file of a pair or a folder of pairs."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.pairs = self._pairs()
        # a folder is named after itself, one pair after its prefix (t10k, fashion...)
        self.default_name = _slug(self.path.resolve().name if self.path.is_dir() else self.pairs[0][0])
        self.description = f"IDX files {', '.join(f'{i.name} + {l.name}' for _, i, l in self.pairs)}"

    def _pairs(self) -> list[tuple[str, Path, Path]]:
        """``(split, images, labels)`` for each pair, by prefix."""
        if not self.path.exists():
            raise IDXError(f"{self.path}: no such file or folder")
        files = sorted(p for p in self.path.iterdir() if p.is_file() and is_idx_name(p.name)) if self.path.is_dir() else [self.path]
        if not files:
            raise IDXError(f"{self.path}: no IDX files (*-images-idx3-ubyte[.gz] with *-labels-idx1-ubyte[.gz])")
        pairs = {}
        for path in files:
            match = _PAIRED.match(path.name)
            if match is None:
                raise IDXError(f"{path}: cannot tell images from labels by its name (expected NAME-images-idx3-ubyte[.gz] or NAME-labels-idx1-ubyte[.gz])")
            other = _partner(path, match)
            images, labels = (path, other) if match["kind"].lower() == "images" else (other, path)
            pairs[match["prefix"]] = (match["prefix"] or "data", images, labels)
        return [pairs[k] for k in sorted(pairs)]

    def fingerprint(self) -> str:
        return "sha256:" + ",".join(file_digest(p) for _, images, labels in self.pairs for p in (images, labels))

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        import numpy as np
        import pandas as pd

        images, labels, splits = [], [], []
        for split, images_path, labels_path in self.pairs:
            x, y = read_idx(images_path), read_idx(labels_path, expect_ndim=1)
            if x.ndim not in (3, 4) or x.dtype != np.uint8:
                raise IDXError(f"{images_path}: expected unsigned-byte images (N, H, W[, C]), found {x.dtype} with shape {x.shape}")
            if len(x) != len(y):
                raise IDXError(f"{images_path.name} has {len(x)} images but {labels_path.name} has {len(y)} labels")
            if images and x.shape[1:] != images[0].shape[1:]:
                raise IDXError(f"{images_path}: images are {x.shape[1:]}, those of {self.pairs[0][1].name} are {images[0].shape[1:]}")
            images.append(x)
            labels.append(y.astype("int64"))
            splits += [split] * len(y)
        y = np.concatenate(labels)
        names = [s for s, _, _ in self.pairs]
        table = pd.DataFrame({"item": np.arange(len(y)), "label": y, "split": pd.Categorical(splits, categories=names)})
        files = [_file_entry(p) for _, i, l in self.pairs for p in (i, l)]
        return Payload("images", table, np.concatenate(images), files=files,
                       extra={"classes": sorted(int(c) for c in np.unique(y)), "source_path": str(self.path.resolve())})
