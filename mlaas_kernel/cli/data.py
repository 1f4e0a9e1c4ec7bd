"""``mlaas ingest`` and ``mlaas datasets``."""

from __future__ import annotations

import argparse
import re

from ._common import _fail

INGEST_HELP = """Ingest SOURCE into the workspace as a dataset (Parquet table, image array, manifest).
Ingesting the same input again does nothing; a failed ingest leaves nothing half-written.
Errors are one line naming the file (and the row or entry where one is known)."""
INGEST_EPILOG = """sources:
  mnist, gpu-benchmarks   bundled datasets (mnist downloads all 70,000 digits when it can,
                          else uses the bundled 10,000 test digits; a later download
                          upgrades that dataset in place)
  FILE.csv, FILE.tsv      CSV; encoding (utf-8, utf-8 with BOM, utf-16 with BOM, cp1252 /
                          latin-1), separator (, ; tab |) and decimal comma are detected and
                          printed; --encoding, --sep, --decimal override them
  FILE.csv.gz .bz2 .xz .zst   compressed CSV (also .jsonl.gz and so on)
  FILE.zip                a zip holding exactly one table file
  FILE.jsonl, FILE.ndjson JSON lines: one object per line (nested keys become a.b columns)
  FILE.xlsx               Excel: the first sheet
  FILE.parquet, FILE.pq   Parquet
  https://.../FILE.csv    any of the table files above behind a URL
  FOLDER/CLASS/IMAGE      one sub-folder of images per class: png, jpg, bmp, gif, tiff,
                          webp, ppm, pgm; unreadable and non-image files are skipped,
                          printed and listed in the manifest (--strict refuses instead)
  GTSRB folders           a GT-*.csv (Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId)
                          beside the .ppm images gives class ids; --crop-roi crops to the ROI
  IDX files               NAME-images-idx3-ubyte[.gz] with NAME-labels-idx1-ubyte[.gz]: give
                          either file, or the folder holding the pairs (one split per NAME)

examples:
  mlaas ingest mnist
  mlaas ingest prices.csv --sep ';' --decimal ,
  mlaas ingest GTSRB/Final_Training/Images --image-size 32x32 --crop-roi
"""

def _image_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--image-size {text!r}: expected WIDTHxHEIGHT, e.g. 28x28")
    return int(m.group(1)), int(m.group(2))


def cmd_ingest(args: argparse.Namespace) -> int:
    from ..data import DataError, ingest

    try:
        ds = ingest(
            args.source, name=args.name, overwrite=args.overwrite, image_size=_image_size(args.image_size),
            strict=args.strict, crop_roi=args.crop_roi, encoding=args.encoding, sep=args.sep, decimal=args.decimal,
            progress=not args.quiet,
        )
    except (DataError, argparse.ArgumentTypeError, LookupError) as exc:
        return _fail(" ".join(str(exc).split()), 1)  # one line, whatever the message
    print(ds.summary())
    from ..track import prepare_store

    prepare_store()  # a separate process makes the MLflow store now, so the first training run need not
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data import list_datasets, workspace

    found = list_datasets()
    if not found:
        print(f"no datasets in {workspace()}: ingest one with `mlaas ingest SOURCE` (try `mlaas ingest mnist`)")
        return 0
    width = max(len(d.name) for d in found)
    print(f"{'name':<{width}}  {'kind':<6}  {'rows':>8}  {'created':<25}  source")
    for d in found:
        m = d.manifest
        print(f"{d.name:<{width}}  {d.kind:<6}  {len(d):>8,}  {m.get('created', ''):<25}  {m.get('source', '')}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser(
        "ingest", help="ingest a dataset into the workspace", description=INGEST_HELP, epilog=INGEST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="a dataset name, a file, a folder or an http(s) URL (see below)")
    p.add_argument("--name", help="dataset name (default: from the source)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset of that name that came from another input")
    images = p.add_argument_group("image folders")
    images.add_argument("--image-size", metavar="WxH", help="resize every image to this size (needed when sizes differ)")
    images.add_argument("--strict", action="store_true", help="refuse the folder if any file in it is unreadable or not an image, instead of skipping it")
    images.add_argument("--crop-roi", action="store_true", help="crop each image to its region of interest from the folder's GT-*.csv (GTSRB)")
    tables = p.add_argument_group("CSV files (detected unless given)")
    tables.add_argument("--encoding", help="text encoding, e.g. utf-8, utf-8-sig, cp1252, latin-1")
    tables.add_argument("--sep", help="column separator: one character, or comma, semicolon, tab, pipe")
    tables.add_argument("--decimal", choices=(".", ","), metavar="MARK", help="decimal mark of numbers: '.' or ','")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("datasets", help="list the workspace's datasets", description="List the datasets in the workspace.")
    p.set_defaults(func=cmd_datasets)
