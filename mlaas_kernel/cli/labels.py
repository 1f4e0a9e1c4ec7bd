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
    from ..labels import LabelStore

    store = LabelStore()
    out = Path(args.output) if args.output else Path(f"{args.dataset}-labels.{args.format}")
    path = store.export(args.dataset, out, format=args.format)
    print(f"wrote {len(store.current(args.dataset))} labels of {args.dataset!r} to {path}")
    return 0


def cmd_labels_import(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..labels import LabelStore

    try:
        n = LabelStore().import_file(args.dataset, args.file)
    except DataError as exc:
        return _fail(str(exc), 1)
    print(f"imported {n} labels into {args.dataset!r}")
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
    p.add_argument("--format", choices=("csv", "parquet", "jsonl"), default="csv", help="file format (default csv)")
    p.add_argument("-o", "--output", help="output file (default DATASET-labels.FORMAT)")
    p.set_defaults(func=cmd_labels_export)
    p = lsub.add_parser("import", help="import labels from CSV, Parquet or JSON lines", description="Import labels from a file with the columns item, label, annotator and optionally time. A bad row is reported with its line number and nothing of the file is imported.")
    p.add_argument("dataset")
    p.add_argument("file")
    p.set_defaults(func=cmd_labels_import)
