"""MNIST: the full 70,000 digits from the usual mirrors, or the bundled 10,000 test digits offline."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from ._base import Payload, Source, _bundled, _file_entry
from ._download import DownloadError, download
from ._idx import read_idx
from ._workspace import DataError

# name: (archive, MD5 of the archive, MD5 of the decompressed file or None where unpublished).
# Archive MD5s as listed by torchvision's MNIST dataset; decompressed MD5s as published with
# the MNIST files and checked against the bundled copies. The decompressed training images'
# MD5 could not be confirmed, so only their archive is checked.
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# The test split first, so that the bundled copy's items 0-9,999 keep their ids in the full one.
SPLITS = ("test", "train")


def gunzipped_md5(path: Path) -> str:
    """MD5 of a gzip file's decompressed bytes, read in chunks."""
    h = hashlib.md5()
    with gzip.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class MNIST(Source):
    """MNIST: 60,000 + 10,000 digits from the usual mirrors, or the bundled 10,000 offline.

    ``files`` maps ``train_images``, ``train_labels``, ``test_images``, ``test_labels`` to
    ``(archive name, archive MD5[, decompressed MD5])``; both checksums are checked.
    """

    default_name = "mnist"
    description = "MNIST handwritten digits"

    def __init__(self, *, mirrors: tuple[str, ...] | None = None, files: dict[str, tuple] | None = None, offline: bool | None = None):
        env_mirrors = os.environ.get("MLAAS_MNIST_MIRRORS")
        self.mirrors = mirrors or (tuple(env_mirrors.split()) if env_mirrors else MNIST_MIRRORS)
        self.files = files or MNIST_FILES
        self.offline = offline if offline is not None else os.environ.get("MLAAS_OFFLINE", "") not in ("", "0")

    def _download_one(self, cache: Path, filename: str, md5: str, raw_md5: str | None, progress: bool) -> Path:
        path = download([m + filename for m in self.mirrors], cache / filename, md5=md5, progress=progress, timeout=10)
        if raw_md5 is not None:
            try:
                got = gunzipped_md5(path)
            except (OSError, EOFError) as exc:
                got = f"unreadable ({exc})"
            if got != raw_md5:
                path.unlink()  # never reuse it from the cache
                raise DownloadError(f"{filename}: decompressed md5 mismatch (expected {raw_md5}, got {got}): not the published MNIST file")
        return path

    def _download_all(self, cache: Path, progress: bool) -> dict[str, Path]:
        got = {}
        for key, (filename, md5, *raw) in self.files.items():
            got[key] = self._download_one(cache, filename, md5, raw[0] if raw else None, progress)
        return got

    def same_data(self, old: dict, payload: Payload | None) -> str | None:
        # Every MNIST holds the same 10,000 test digits: a stored full download already has
        # what the bundled copy would bring, and a download supersedes a stored bundled copy.
        if old.get("source_class") != type(self).__name__:
            return None
        if old.get("mnist_source") == "download":
            return "same"
        if payload is not None and payload.extra.get("mnist_source") == "download":
            return "upgrade"
        return None

    def _paths(self, workdir: Path, progress: bool) -> tuple[dict[str, Path], list[str], str]:
        """The IDX files to read, notes for people, and where they came from (download or bundled)."""
        if self.offline:
            notes = ["offline (MLAAS_OFFLINE): using the bundled MNIST test set (10,000 digits)"]
        else:
            try:
                return self._download_all(workdir.parent.parent / "downloads" / "mnist", progress), [], "download"
            except DownloadError as exc:
                first = str(exc).splitlines()[-1].strip()
                notes = [f"download failed ({first}); using the bundled MNIST test set (10,000 digits)"]
        return {
            "test_images": _bundled("mnist", "t10k-images-idx3-ubyte.gz"),
            "test_labels": _bundled("mnist", "t10k-labels-idx1-ubyte.gz"),
        }, notes, "bundled"

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        import numpy as np
        import pandas as pd

        paths, notes, source = self._paths(workdir, progress)
        splits = [s for s in SPLITS if f"{s}_images" in paths]
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
        if len(splits) > 1:
            notes.append(f"the {split_col.count('test'):,} test digits come first (items 0-{split_col.count('test') - 1:,}, as in the bundled copy), then the training digits")
        return Payload(
            "images", table, x, files=[_file_entry(paths[k]) for k in sorted(paths)], notes=notes,
            extra={"classes": list(range(10)), "mnist_source": source,
                   "provenance": "The MNIST database (LeCun, Cortes, Burges), CC BY-SA 3.0"},
        )
