"""``mlaas ingest`` and ``mlaas datasets``."""

from __future__ import annotations

import argparse
import re

from ._common import _fail

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
        ds = ingest(args.source, name=args.name, overwrite=args.overwrite, image_size=_image_size(args.image_size), progress=not args.quiet)
    except (DataError, argparse.ArgumentTypeError, LookupError) as exc:
        return _fail(str(exc), 1)
    print(ds.summary())
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
    p = sub.add_parser("ingest", help="ingest a dataset into the workspace", description="Ingest SOURCE: a dataset name (mnist, gpu-benchmarks), a CSV or Parquet file or http(s) URL, or a folder with one sub-folder of images per class. Ingesting the same input again does nothing.")
    p.add_argument("source", help="mnist, gpu-benchmarks, a CSV/Parquet path or URL, or an image folder")
    p.add_argument("--name", help="dataset name (default: from the source)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset of that name that came from another input")
    p.add_argument("--image-size", metavar="WxH", help="resize images of a folder to this size")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("datasets", help="list the workspace's datasets", description="List the datasets in the workspace.")
    p.set_defaults(func=cmd_datasets)
