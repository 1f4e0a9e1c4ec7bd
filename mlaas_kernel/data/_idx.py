"""Reader for the IDX format of the MNIST files (gzip-compressed or raw)."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

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
