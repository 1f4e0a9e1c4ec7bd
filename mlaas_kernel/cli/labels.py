"""``mlaas labels stats|export|import``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import _fail


def cmd_labels_stats(args: argparse.Namespace) -> int:
    from ..labels import LabelStore

    store = LabelStore()
    counts, agreement = store.stats(args.dataset)
    if counts.empty:
        known = ", ".join(store.datasets()) or "none"
        return _fail(f"no labels for dataset {args.dataset!r} (datasets with labels: {known})", 1)
    print(f"labels of {args.dataset!r} per class and annotator:")
    print(counts.to_string())
    print(agreement)
    for (a, b), k in agreement.pairwise.items():
        print(f"  Cohen's kappa {a} / {b}: {k:.3f}")
    if agreement.disagreements:
        print(f"disagreements ({len(agreement.disagreements)} items):")
        for item, by in list(agreement.disagreements.items())[: args.show]:
            print(f"  item {item}: " + ", ".join(f"{who}={label}" for who, label in sorted(by.items())))
        if len(agreement.disagreements) > args.show:
            print(f"  ... and {len(agreement.disagreements) - args.show} more (--show N)")
    return 0


def cmd_labels_export(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..labels import LabelStore

    store = LabelStore()
    if not store.current(args.dataset):
        known = ", ".join(store.datasets()) or "none"
        return _fail(f"no labels for dataset {args.dataset!r}: nothing to export (datasets with labels: {known})", 1)
    out = Path(args.output) if args.output else Path(f"{args.dataset}-labels.{args.format or 'csv'}")
    try:
        path = store.export(args.dataset, out, format=args.format)
    except DataError as exc:
        return _fail(str(exc), 2)
    print(f"wrote {len(store.current(args.dataset))} labels of {args.dataset!r} to {path}")
    return 0


def cmd_labels_import(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..labels import LabelStore

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes is not None else None
    try:
        report = LabelStore().import_file(args.dataset, args.file, classes=classes, skip_invalid=args.skip_invalid)
    except DataError as exc:
        return _fail(str(exc), 1)
    if report.domain is not None and report.domain.classes is None:
        print(f"labels not checked against classes: {args.dataset!r} has none and its store has no labels yet (--classes A,B,C checks them)")
    print(f"imported {report.imported} labels into {args.dataset!r}")
    if report.skipped:
        print(f"skipped {len(report.skipped)} invalid rows of {report.path}:")
        for line in report.skipped:
            print(f"  {line}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    labels = sub.add_parser("labels", help="label statistics, export and import", description="Work with the workspace's labels (labels.db).")
    lsub = labels.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    p = lsub.add_parser("stats", help="counts per class and annotator, kappa, disagreements", description="Counts per class and annotator, agreement (Cohen's kappa for two annotators, Fleiss' for more) and the items annotators disagree on.")
    p.add_argument("dataset")
    p.add_argument("--show", type=int, default=20, help="disagreements to list (default 20)")
    p.set_defaults(func=cmd_labels_stats)
    p = lsub.add_parser("export", help="write the current labels to CSV, Parquet or JSON lines", description="Write the current labels (item, label, annotator, time, seconds, source) to a file, atomically.")
    p.add_argument("dataset")
    p.add_argument("--format", choices=("csv", "parquet", "jsonl"), help="file format (default: the output's suffix, else csv); a suffix naming another format is an error")
    p.add_argument("-o", "--output", help="output file (default DATASET-labels.FORMAT)")
    p.set_defaults(func=cmd_labels_export)
    p = lsub.add_parser("import", help="import labels from CSV, Parquet or JSON lines", description="Import labels from a file with the columns item, label, annotator and optionally time. The dataset must be ingested: items are its row positions (as the labelers number them), labels must be its classes (--classes, else the dataset's own, else those already in the store). Bad rows are listed with their line numbers and nothing of the file is imported, unless --skip-invalid.")
    p.add_argument("dataset", help="an ingested dataset (mlaas datasets lists them)")
    p.add_argument("file", help="a .csv, .parquet or .jsonl file")
    p.add_argument("--classes", help="comma-separated classes the labels must be in (default: the dataset's classes, else those already in the store)")
    p.add_argument("--skip-invalid", action="store_true", help="import the valid rows and list the invalid ones instead of refusing the file")
    p.set_defaults(func=cmd_labels_import)
