"""Image folders: one sub-folder per class, any format Pillow reads, GTSRB's annotation CSVs.

Unreadable images and stray files are skipped and listed (``strict=True`` refuses instead).
A ``GT-<name>.csv`` in a folder (GTSRB: ``;``-separated, ``Filename;Width;Height;Roi.X1;
Roi.Y1;Roi.X2;Roi.Y2;ClassId``) gives its images' class ids and regions of interest.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ._base import Payload, Source, _slug
from ._download import file_digest
from ._workspace import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
_ANNOTATION = re.compile(r"^GT-.*\.csv$", re.IGNORECASE)
_ROI = ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")
_SHOWN = 10  # skipped files named in the notes; the manifest keeps all


@dataclass
class _Item:
    label: str | int
    path: Path
    rel: str
    roi: tuple[int, int, int, int] | None = None


def _read_annotations(csv_path: Path, skipped: list[dict], rel_dir: str) -> dict[str, tuple[int, tuple | None] | None]:
    """``{file name: (class id, roi or None)}`` from a GTSRB ``GT-*.csv``; a bad row maps to None
    and goes to ``skipped`` with its line."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_path}: not a readable annotation file ({exc})") from exc
    rows = csv.DictReader(text.splitlines(), delimiter=";")
    missing = [c for c in ("Filename", "ClassId") if c not in (rows.fieldnames or [])]
    if missing:
        raise DataError(f"{csv_path}: no column {', '.join(missing)} (GTSRB annotations are ';'-separated: Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId)")
    has_roi = all(c in rows.fieldnames for c in _ROI)
    found = {}
    for number, row in enumerate(rows, 2):
        try:
            class_id = int(row["ClassId"])
            roi = tuple(int(row[c]) for c in _ROI) if has_roi else None
        except (TypeError, ValueError):
            values = {c: row.get(c) for c in ("ClassId", *_ROI) if c in row}
            skipped.append({"path": f"{rel_dir}{row['Filename']}", "reason": f"{csv_path.name} line {number}: not integers: {values}"})
            found[row["Filename"]] = None
            continue
        found[row["Filename"]] = (class_id, roi)
    return found


class ImageFolder(Source):
    """A folder with one sub-folder of images per class (or GTSRB's layout, labels from ``GT-*.csv``).

    Parameters
    ----------
    image_size:
        ``(width, height)`` to resize every image to; without it all images must share a size.
    strict:
        Refuse the folder if any file in it cannot be ingested, instead of skipping it.
    crop_roi:
        Crop each image to the region of interest of its ``GT-*.csv`` row.
    """

    def __init__(self, path: str | os.PathLike, *, image_size: tuple[int, int] | None = None, strict: bool = False, crop_roi: bool = False):
        self.path = Path(path)
        self.image_size, self.strict, self.crop_roi = image_size, strict, crop_roi
        self._fingerprint: str | None = None
        self._scanned: tuple[list[_Item], list[dict], list[Path]] | None = None
        self.default_name = _slug(self.path.resolve().name)
        self.description = f"image folder {self.path.name}"

    def _groups(self) -> list[Path]:
        classes = sorted(p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if classes:
            return classes
        if any(_ANNOTATION.match(p.name) for p in self.path.iterdir()):
            return [self.path]  # GTSRB's test layout: one folder, labels in its GT-*.csv
        raise DataError(f"{self.path}: no class sub-folders (expected one sub-folder of images per class, or a GT-*.csv beside the images)")

    def _scan_group(self, group: Path, items: list[_Item], skipped: list[dict], annotation_files: list[Path]) -> None:
        rel_dir = "" if group == self.path else f"{group.name}/"
        files = sorted(p for p in group.iterdir() if p.is_file() and not p.name.startswith("."))
        annotations: dict[str, tuple | None] = {}
        for csv_path in (p for p in files if _ANNOTATION.match(p.name)):
            annotation_files.append(csv_path)
            annotations.update(_read_annotations(csv_path, skipped, rel_dir))
        if self.crop_roi and not annotations:
            raise DataError(f"{group}: crop_roi (--crop-roi) needs a GT-*.csv with Roi.X1;Roi.Y1;Roi.X2;Roi.Y2 columns beside the images (GTSRB layout)")
        before = len(items)
        for p in files:
            if _ANNOTATION.match(p.name):
                continue
            rel = rel_dir + p.name
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append({"path": rel, "reason": f"not an image file ({p.suffix or 'no suffix'})"})
            elif annotations and p.name not in annotations:
                skipped.append({"path": rel, "reason": "not listed in the folder's GT-*.csv"})
            elif annotations:
                row = annotations[p.name]
                if row is None:  # a bad row, already listed
                    continue
                class_id, roi = row
                if self.crop_roi and roi is None:
                    raise DataError(f"{group}: crop_roi (--crop-roi) needs Roi.X1;Roi.Y1;Roi.X2;Roi.Y2 columns in its GT-*.csv")
                items.append(_Item(class_id, p, rel, roi))
            else:
                items.append(_Item(group.name, p, rel))
        if group != self.path:  # folders inside a class folder are not read: say so
            skipped += [{"path": f"{rel_dir}{d.name}/", "reason": "a folder inside a class folder (not read)"}
                        for d in sorted(group.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        present = {p.name for p in files}
        skipped += [{"path": rel_dir + name, "reason": "listed in the folder's GT-*.csv but missing"} for name in annotations if name not in present]
        if len(items) == before:
            skipped.append({"path": rel_dir or ".", "reason": "the class folder holds no images"})

    def _scan(self) -> tuple[list[_Item], list[dict], list[Path]]:
        """Images to read, files skipped already (with why), annotation files; once per source."""
        if self._scanned is None:
            items: list[_Item] = []
            skipped: list[dict] = []
            annotation_files: list[Path] = []
            for group in self._groups():
                self._scan_group(group, items, skipped, annotation_files)
            if annotation_files and any(isinstance(i.label, str) for i in items):
                for item in items:  # some folders annotated, some not: one label type
                    item.label = str(item.label)
            self._scanned = items, skipped, annotation_files
        return self._scanned

    def fingerprint(self) -> str:
        if self._fingerprint is None:  # hashing every image is the slow part: once per source
            items, _, annotation_files = self._scan()
            h = hashlib.sha256()
            for item in items:
                h.update(f"{item.label}/{item.rel}:{file_digest(item.path)}\n".encode())
            for path in annotation_files:
                h.update(f"{path.parent.name}/{path.name}:{file_digest(path)}\n".encode())
            options = (f":size={self.image_size}" if self.image_size else "") + (":crop-roi" if self.crop_roi else "")
            self._fingerprint = f"sha256:{h.hexdigest()}{options}"
        return self._fingerprint

    def _open(self, item: _Item):
        """The item's image (cropped when asked), or the reason it cannot be read."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(item.path) as img:
                img.load()
                img = img.copy()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as exc:
            return None, f"not a readable image ({type(exc).__name__}: {exc})"
        if self.crop_roi:
            x1, y1, x2, y2 = item.roi
            if not (0 <= x1 < x2 <= img.size[0] and 0 <= y1 < y2 <= img.size[1]):
                return None, f"region of interest {item.roi} is outside the {img.size[0]}x{img.size[1]} image"
            img = img.crop(item.roi)  # GTSRB's X2/Y2 are exclusive: a 5-pixel border on each side
        return img, None

    def _refuse_or_note(self, skipped: list[dict], loaded: int) -> list[str]:
        if not skipped:
            return []
        listed = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:_SHOWN])
        more = f"; and {len(skipped) - _SHOWN} more" if len(skipped) > _SHOWN else ""
        if self.strict:
            raise DataError(f"{self.path}: {len(skipped)} file(s) cannot be ingested (strict): {listed}{more}")
        if not loaded:
            raise DataError(f"{self.path}: no readable images ({len(skipped)} file(s) skipped: {listed}{more})")
        return [f"skipped {len(skipped)} file(s) (kept in the manifest's 'skipped'; strict=True / --strict refuses instead): {listed}{more}"]

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        import numpy as np
        import pandas as pd
        from tqdm.auto import tqdm

        planned, skipped, _ = self._scan()
        skipped = list(skipped)
        items, pictures, modes = [], [], set()
        for item in tqdm(planned, desc="images", disable=not progress, leave=False):
            img, reason = self._open(item)
            if img is None:
                skipped.append({"path": item.rel, "reason": reason})
                continue
            modes.add("L" if img.mode in ("1", "L", "I", "I;16", "F") else "RGB")
            items.append(item)
            pictures.append(img)
        skipped.sort(key=lambda s: s["path"])
        notes = self._refuse_or_note(skipped, len(items))
        mode = "L" if modes == {"L"} else "RGB"
        size = tuple(self.image_size or pictures[0].size)
        out = []
        for item, img in zip(items, pictures):
            img = img.convert(mode)
            if img.size != size:
                if self.image_size is None:
                    raise DataError(f"{item.path}: image is {img.size[0]}x{img.size[1]}, others are {size[0]}x{size[1]}; pass image_size (--image-size WxH) to resize")
                img = img.resize(size)
            out.append(np.asarray(img, dtype=np.uint8))
        columns = {"item": np.arange(len(items)), "label": [i.label for i in items], "path": [i.rel for i in items]}
        if any(i.roi is not None for i in items):
            for k, name in enumerate(("roi_x1", "roi_y1", "roi_x2", "roi_y2")):
                columns[name] = [i.roi[k] if i.roi else -1 for i in items]
        table = pd.DataFrame(columns)
        return Payload(
            "images", table, np.stack(out), notes=notes,
            files=[{"name": self.path.name, "sha256": self.fingerprint().split(":")[1], "bytes": None}],
            extra={"classes": sorted({i.label for i in items}), "source_path": str(self.path.resolve()), "skipped": skipped,
                   "cropped_to_roi": self.crop_roi},
        )
