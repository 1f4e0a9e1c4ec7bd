"""``mlaas models``: the model registry (register, promote, rollback, list, show) and exports of a registered version."""

from __future__ import annotations

import argparse
import contextlib
import json
import time

from ._common import _export_workspace, _fail, positive_int

# export.FORMATS, spelled here so that building the parser imports nothing heavy (a test keeps them equal)
EXPORT_FORMATS = ("onnx", "torchscript", "torch-export", "tflite", "tensorrt")
DEFAULT_METRIC = {"embedding": "silhouette", None: "val_accuracy", "cnn": "val_accuracy", "estimator": "accuracy", "any": "val_accuracy"}


def _errors():
    """The errors a registry command reports as one line (exit 2): bad references, missing names, impossible exports."""
    from ..export import ExportError
    from ..models import ModelNotFoundError
    from ..registry import RegistryError

    return RegistryError, ModelNotFoundError, ExportError


def _print_version(v, *, verb: str) -> None:
    aliases = f" ({', '.join(v.aliases)})" if v.aliases else ""
    print(f"{verb + ' ' if verb else ''}{v.name} version {v.version}{aliases} from run {v.run_id}")
    for note in v.notes:
        print(f"  {note}")
    metric = v.key_metric
    if metric:
        print(f"  {metric[0]} {metric[1]:.4g}")
    for key, value in sorted(v.lineage.items()):
        print(f"  lineage {key}: {value}")


def cmd_register(args: argparse.Namespace) -> int:
    _export_workspace()
    if (args.run is None) == (args.best is None):
        return _fail("give a RUN to register, or --best [METRIC] to pick the best run of --experiment (not both)")
    if args.run is not None and (args.lower_is_better is not None or args.model or args.dataset):
        return _fail("--model, --dataset and --lower-is-better/--higher-is-better choose among runs: they go with --best")
    from .. import registry

    try:
        if args.run is not None:
            version = registry.register(args.run, args.name)
        else:
            metric = DEFAULT_METRIC[args.model] if args.best == "auto" else args.best
            version = registry.register_best(metric, args.experiment, args.name, lower_is_better=args.lower_is_better,
                                             model=args.model, dataset=args.dataset)
    except _errors() as exc:
        return _fail(str(exc))
    _print_version(version, verb="registered")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    _export_workspace()
    from .. import registry

    try:
        version = registry.promote(args.name, args.version, args.alias)
    except _errors() as exc:
        return _fail(str(exc))
    print(f"{version.name}@{args.alias} is version {version.version} (run {version.run_id}); "
          f"`mlaas models rollback {version.name}{'' if args.alias == 'champion' else ' --alias ' + args.alias}` undoes it")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    _export_workspace()
    from .. import registry

    try:
        left = registry.resolve(f"{args.name}@{args.alias}").version
        version = registry.rollback(args.name, args.alias)
    except _errors() as exc:
        return _fail(str(exc))
    again = ""
    if args.alias == registry.DEFAULT_ALIAS:
        last = (registry.alias_history(version.name, registry.CHALLENGER) or [{}])[-1]
        if last.get("action") == "rollback" and last.get("of") == registry.DEFAULT_ALIAS and last.get("version") == left:
            again = f"; version {left}, the challenger before its promote, is {version.name}@{registry.CHALLENGER} again"
    print(f"{version.name}@{args.alias} is back at version {version.version} (run {version.run_id}){again}")
    return 0


def _row(v) -> dict:
    metric = v.key_metric
    return {"name": v.name, "version": v.version, "aliases": list(v.aliases), "metric": metric[0] if metric else None,
            "value": metric[1] if metric else None, "run_id": v.run_id, "created": v.created, "source": v.source,
            "lineage": v.lineage}


def _table(rows: list[dict]) -> str:
    head = ("NAME", "VERSION", "ALIASES", "KEY METRIC", "RUN", "CREATED")
    cells = [(r["name"], str(r["version"]), ",".join(r["aliases"]) or "-",
              f"{r['metric']} {r['value']:.4g}" if r["metric"] else "-", r["run_id"][:12],
              time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"] / 1000))) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *cells)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in (head, *cells))


def cmd_list(args: argparse.Namespace) -> int:
    _export_workspace()
    from .. import registry

    rows = [_row(v) for m in registry.list_models() for v in m.versions]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no registered models yet: `mlaas models register RUN` or `mlaas models register --best` adds one")
    else:
        print(_table(rows))
    if not args.json:
        _point_at_the_tracking_server()
    return 0


def _point_at_the_tracking_server() -> None:
    """Models registered on the workspace's tracking server (tracked-experiments) are in its store, not listed above."""
    import os

    from ..track._server import server_dir

    store = server_dir() / "mlflow.db"
    if os.environ.get("MLFLOW_TRACKING_URI") or not store.exists():
        return
    names = _registered_names(store)
    if names:
        print(f"(registered on this workspace's tracking server, in its own store: {', '.join(names)}; "
              "`mlaas tracking-server --detach`, then `MLFLOW_TRACKING_URI=URL mlaas models list`)")


def _registered_names(store) -> list[str]:
    """The registered model names in an MLflow SQLite store, read-only (none when it is not one yet)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return [name for (name,) in db.execute("select name from registered_models order by name")]
    except sqlite3.Error:
        return []


def cmd_show(args: argparse.Namespace) -> int:
    _export_workspace()
    from .. import registry

    try:
        version = registry.resolve(args.ref)
        history = {a: registry.alias_history(version.name, a) for a in version.aliases}
    except _errors() as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({**_row(version), "tags": version.tags, "metrics": version.metrics, "alias_history": history}, indent=2))
        return 0
    _print_version(version, verb="")
    _print_uris(version, args.ref)
    for alias, entries in history.items():
        steps = " -> ".join(f"{e['version']} ({e['action']})" for e in entries)
        print(f"  {alias} history: {steps}")
    return 0


def _print_uris(version, ref: str) -> None:
    """Where the version is, for MLflow: its models:/ URIs and the tracking URI plain MLflow needs to find them."""
    from ..registry import parse_ref
    from ..track import tracking_uri

    asked = parse_ref(ref).uri
    uris = version.uri if asked == version.uri else f"{asked} = {version.uri}"
    print(f"  model URI {uris} (files at {version.source})")
    print(f"  tracking URI {tracking_uri()}: in Python `mlaas_kernel.registry.load_pyfunc({str(parse_ref(ref))!r})`, or plain MLflow after "
          f"`mlflow.set_tracking_uri(...)` with it (or MLFLOW_TRACKING_URI=... in the environment)")


def cmd_export(args: argparse.Namespace) -> int:
    _export_workspace()
    from ..export import export_version

    try:
        result = export_version(args.ref, args.format, int8=args.int8, out_dir=args.out, check_n=args.check)
    except _errors() as exc:
        return _fail(str(exc))
    print(result.summary())
    return 0


def _add_register(msub) -> None:
    p = msub.add_parser(
        "register", help="register a run's model (or the best run by a metric) as a new version",
        description="Export a run's model to ONNX (checked against the model on 1,000 held-out items: probabilities within 1e-4, "
        "the same classes), log it onto the run as an MLflow ONNX model with its serving.json, and register it as a new "
        "version with lineage tags (dataset fingerprint, label snapshot, code version, run). A model's first version "
        "becomes its champion, later ones its challenger. A run already registered under the name is not registered twice.",
        epilog="Examples: mlaas models register 3f2a9c1d | mlaas models register --best (the classifier with the highest "
        "val_accuracy) | mlaas models register --best --model embedding (the siamese embedding with the highest silhouette) "
        "| mlaas models register --best val_loss --name mnist-cnn")
    p.add_argument("run", nargs="?", help="a run id, or a unique prefix of one (8 characters or more)")
    p.add_argument("--name", help="registered model name (default: <dataset>-cnn, <dataset>-embedding, <dataset>-<task>)")
    p.add_argument("--best", nargs="?", const="auto", metavar="METRIC",
                   help="register the finished run of --experiment with the best METRIC instead of RUN; without METRIC: "
                   "val_accuracy for a classifier, silhouette with --model embedding, accuracy with --model estimator")
    p.add_argument("--experiment", default="mlaas", help="the experiment --best searches (default mlaas)")
    p.add_argument("--model", choices=("cnn", "embedding", "estimator", "any"),
                   help="the kind of run --best compares (default: embedding runs for silhouette/knn_accuracy, "
                   "classifier and tabular runs for any other metric)")
    p.add_argument("--dataset", help="only runs on this dataset (needed when runs with the metric are on several)")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--lower-is-better", dest="lower_is_better", action="store_true", default=None,
                       help="the smallest METRIC is best (default: only for losses and errors: loss, mae, rmse...)")
    order.add_argument("--higher-is-better", dest="lower_is_better", action="store_false",
                       help="the largest METRIC is best (the default for other metrics)")
    p.set_defaults(func=cmd_register)


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    models = sub.add_parser("models", help="the model registry: register, promote, roll back, list, export",
                            description="Registered models in the workspace's MLflow registry: versions with lineage, "
                            "aliases champion and challenger that promote and rollback move, and exports of a version. "
                            "A version is named NAME@ALIAS, NAME/VERSION or NAME (its champion).")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    _add_register(msub)
    p = msub.add_parser("promote", help="point an alias (champion) at a version (the challenger)",
                        description="Point ALIAS (default champion) at VERSION (default: the challenger's version). Promoting the "
                        "challenger to champion takes the challenger alias off it. The alias's history is kept for rollback; "
                        "an endpoint serving NAME@ALIAS follows the move.")
    p.add_argument("name", help="registered model name")
    p.add_argument("--version", type=positive_int, help="version number (default: the challenger's)")
    p.add_argument("--alias", default="champion", help="the alias to move (default champion)")
    p.set_defaults(func=cmd_promote)
    p = msub.add_parser("rollback", help="move an alias back to the version it pointed at before",
                        description="Move ALIAS (default champion) back to the version it pointed at before its current one.")
    p.add_argument("name", help="registered model name")
    p.add_argument("--alias", default="champion", help="the alias to move back (default champion)")
    p.set_defaults(func=cmd_rollback)
    p = msub.add_parser("list", help="registered models: versions, aliases, key metric, run",
                        description="One row per version: name, version, aliases, key metric (val_accuracy, silhouette, "
                        "accuracy or r2), run, created.")
    p.add_argument("--json", action="store_true", help="JSON (with source URI and lineage) instead of a table")
    p.set_defaults(func=cmd_list)
    p = msub.add_parser("show", help="one version: lineage, metrics, alias history",
                        description="The version REF names (NAME@ALIAS, NAME/VERSION, NAME): its run, key metric, lineage tags, "
                        "model URI and the history of its aliases.")
    p.add_argument("ref", help="NAME@ALIAS, NAME/VERSION or NAME (its champion)")
    p.add_argument("--json", action="store_true", help="JSON with every tag and metric")
    p.set_defaults(func=cmd_show)
    p = msub.add_parser("export", help="export a registered version (ONNX, int8, TorchScript, TFLite, TensorRT) with parity",
                        description="Export the version REF names and check it against the model on held-out items (max |Δ| of "
                        "the probabilities under 1e-4, the same classes) and its held-out accuracy; --int8 adds an ONNX Runtime "
                        "quantised model and its accuracy drop. Files go to --out (default workspace/exports/NAME/VERSION/FORMAT) "
                        "and onto the version's run under export/FORMAT/. tflite needs the edge extra; tensorrt a CUDA GPU.",
                        epilog="Example: mlaas models export mnist-cnn@champion --format onnx --int8 static")
    p.add_argument("ref", help="NAME@ALIAS, NAME/VERSION or NAME (its champion)")
    p.add_argument("--format", default="onnx", choices=EXPORT_FORMATS, help="file format (default onnx)")
    p.add_argument("--int8", choices=("dynamic", "static"), help="also an int8 ONNX model (onnx only): dynamic, or static calibrated "
                   "on training images")
    p.add_argument("--out", help="output folder (default workspace/exports/NAME/VERSION/FORMAT)")
    p.add_argument("--check", type=positive_int, default=1000, help="held-out items parity runs on (default 1000)")
    p.set_defaults(func=cmd_export)
