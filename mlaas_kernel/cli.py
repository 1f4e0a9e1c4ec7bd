"""The ``mlaas`` command: doctor, lab, ingest, datasets, run, dashboard."""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from . import __version__

PROG = "mlaas"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _export_workspace() -> Path:
    """Resolve the workspace once, here, and hand its absolute path to kernels and servers."""
    from .data import workspace

    root = workspace()
    os.environ["MLAAS_WORKSPACE"] = str(root)
    return root


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _notebooks_dir() -> Path:
    return Path(os.environ.get("MLAAS_NOTEBOOKS", "notebooks")).absolute()


# ---------------------------------------------------------------- doctor
def _versions(names: Sequence[str]) -> list[tuple[str, str]]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in names:
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import compute
    from .data import list_datasets, workspace

    print(f"MLaaS Workbench {__version__}")
    print(f"python      {sys.version.split()[0]} ({sys.executable})")
    core = ["jupyterlab", "ipywidgets", "anywidget", "voila", "papermill", "numpy", "pandas", "pyarrow", "scikit-learn", "plotly", "torch"]
    gpu = ["cudf-cu12", "cuml-cu12", "cupy-cuda12x"]
    print("packages    " + ", ".join(f"{n} {v}" for n, v in _versions(core)))
    print("gpu extra   " + ", ".join(f"{n} {v}" for n, v in _versions(gpu)))
    smi = shutil.which("nvidia-smi")
    if smi:
        res = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
        smi_line = (res.stdout.strip() or res.stderr.strip() or f"exit {res.returncode}").replace("\n", "; ")
    else:
        smi_line = "nvidia-smi not found"
    try:
        info = compute.detect()
        device = f"GPU: {', '.join(info.gpus)}" if info.is_gpu else f"CPU: {info.reason}"
        print(f"device      {device} (MLAAS_DEVICE={info.requested})")
    except (compute.GPUUnavailableError, ValueError) as exc:
        print(f"device      ERROR: {exc}")
        print(f"nvidia-smi  {smi_line}")
        return 1
    print(f"nvidia-smi  {smi_line}")
    print(f"strict GPU  {'on (fallbacks raise)' if compute.strict() else 'off (fallbacks are recorded)'}")
    print("backends")
    for area, what in compute.backends().items():
        print(f"  {area:<11} {what}")
    root = workspace()
    datasets = list_datasets()
    print(f"workspace   {root} ({len(datasets)} dataset{'s' if len(datasets) != 1 else ''}: {', '.join(d.name for d in datasets) or 'none yet'})")
    return 0


# ---------------------------------------------------------------- lab
def lab_command(port: int, *, open_browser: bool, extra: Sequence[str] = ()) -> list[str]:
    """The JupyterLab command line ``mlaas lab`` runs."""
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.open_browser={open_browser}", f"--ServerApp.root_dir={Path.cwd()}",
    ]
    if _notebooks_dir().is_dir():
        rel = os.path.relpath(_notebooks_dir(), Path.cwd())
        if not rel.startswith(".."):
            cmd.append(f"--LabApp.default_url=/lab/tree/{rel}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra)


def cmd_lab(args: argparse.Namespace) -> int:
    if os.environ.get("JUPYTER_TOKEN", None) == "":
        return _fail("JUPYTER_TOKEN is set but empty: the workbench does not serve JupyterLab without a token")
    if not _port_free(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use; pick another with --port")
    _export_workspace()
    cmd = lab_command(args.port, open_browser=not args.no_browser, extra=args.jupyter_args)
    print("starting JupyterLab: " + " ".join(cmd[1:]), flush=True)
    os.execv(cmd[0], cmd)  # same PID: whoever started us can stop JupyterLab by it
    return 0  # pragma: no cover


# ---------------------------------------------------------------- ingest / datasets
def _image_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--image-size {text!r}: expected WIDTHxHEIGHT, e.g. 28x28")
    return int(m.group(1)), int(m.group(2))


def cmd_ingest(args: argparse.Namespace) -> int:
    from .data import DataError, ingest

    try:
        ds = ingest(args.source, name=args.name, overwrite=args.overwrite, image_size=_image_size(args.image_size), progress=not args.quiet)
    except (DataError, argparse.ArgumentTypeError, LookupError) as exc:
        return _fail(str(exc), 1)
    print(ds.summary())
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import list_datasets, workspace

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


# ---------------------------------------------------------------- run
def parse_value(text: str):
    """A parameter value as papermill users write it: a Python literal, true/false/none, or text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_notebook(notebook: Path, parameters: dict, *, output: Path | None = None, progress: bool = True) -> Path:
    """Execute ``notebook`` with papermill into the workspace's ``runs/`` and return the output path."""
    import papermill as pm

    root = _export_workspace()
    if output is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        output = root / "runs" / f"{notebook.stem}-{stamp}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent.absolute()),
        progress_bar=progress, log_output=False, kernel_name="python3",
    )
    return output


def cmd_run(args: argparse.Namespace) -> int:
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(args.notebook)
    if not notebook.is_file() or notebook.suffix != ".ipynb":
        return _fail(f"{notebook}: not a notebook file (.ipynb)")
    params = {name: parse_value(value) for name, value in args.parameters}
    output = Path(args.output).absolute() if args.output else None
    try:
        out = run_notebook(notebook, params, output=output, progress=not args.quiet)
    except PapermillExecutionError as exc:
        print(f"{PROG}: {notebook} failed in cell {exc.exec_count} (index {exc.cell_index}): {exc.ename}: {exc.evalue}", file=sys.stderr)
        print(exc.source, file=sys.stderr)
        print(_ANSI.sub("", "\n".join(exc.traceback)), file=sys.stderr)
        saved = output or "the workspace's runs/ folder"
        print(f"{PROG}: the partly executed notebook is saved in {saved}", file=sys.stderr)
        return 1
    print(f"output notebook: {out}")
    return 0


# ---------------------------------------------------------------- dashboard
def resolve_dashboard(name: str) -> Path:
    """A notebook path, or the name of an app in notebooks/dashboards (``label`` -> ``label_app.ipynb``)."""
    path = Path(name)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such notebook")
        return path
    folder = _notebooks_dir() / "dashboards"
    for candidate in (f"{name}.ipynb", f"{name}_app.ipynb", f"{name}_dashboard.ipynb"):
        if (folder / candidate).is_file():
            return folder / candidate
    have = sorted(p.stem for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    raise FileNotFoundError(f"no dashboard {name!r}; give a notebook path or one of: {', '.join(have) or '(none)'}")


def dashboard_command(notebook: Path, port: int, *, open_browser: bool, extra: Sequence[str] = ()) -> list[str]:
    """The Voilà command line ``mlaas dashboard`` runs."""
    return [
        sys.executable, "-m", "voila", str(notebook),
        f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
        "--preheat_kernel=True", "--pool_size=1", "--show_tracebacks=True",
        *([] if open_browser else ["--no-browser"]), *extra,
    ]


def cmd_dashboard(args: argparse.Namespace) -> int:
    try:
        notebook = resolve_dashboard(args.notebook)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    if not _port_free(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use; pick another with --port")
    _export_workspace()
    cmd = dashboard_command(notebook, args.port, open_browser=not args.no_browser, extra=args.voila_args)
    print(f"serving {notebook} with Voilà on http://127.0.0.1:{args.port}/", flush=True)
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover


# ---------------------------------------------------------------- train
def _print_train_result(run_id, metrics: dict, model_path, stopped: bool, notes=()) -> None:
    print(f"run id: {run_id}")
    for key in ("accuracy", "val_loss", "loss", "images_per_second"):
        if key in metrics:
            print(f"  {key:<18} {metrics[key]:.4f}" if key != "images_per_second" else f"  {key:<18} {metrics[key]:,.0f}")
    print(f"model: {model_path}")
    for note in notes:
        print(f"note: {note}")
    if stopped:
        print("stopped before the last epoch; `mlaas train ... --resume` continues")


def cmd_train(args: argparse.Namespace) -> int:
    import json

    from .data import DataError
    from .train import TrainingInputError

    _export_workspace()
    options = {"epochs": args.epochs, "batch_size": args.batch_size, "labels": args.labels, "resume": args.resume,
               "random_state": args.seed, "device": args.device, "compile": args.compile, "verbose": 1}
    if args.nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
               "-m", "mlaas_kernel.train._ddp", args.dataset, "--options", json.dumps(options)]
        print(f"launching {args.nproc} processes with torchrun", flush=True)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        result = None
        for line in proc.stdout.splitlines():
            if line.startswith("MLAAS_RESULT "):
                result = json.loads(line[len("MLAAS_RESULT "):])
            else:
                print(line)
        if proc.returncode != 0 or result is None:
            return _fail(f"torchrun exited with {proc.returncode}", 1)
        _print_train_result(result["run_id"], result["metrics"], result["model_path"], result["stopped"])
        return 0
    from .train import train_dataset

    if args.resume:
        print("resuming from the last checkpoint", flush=True)
    try:
        res = train_dataset(args.dataset, **options)
    except (TrainingInputError, DataError) as exc:
        return _fail(str(exc), 1)
    _print_train_result(res.run_id, res.metrics, res.model_path, res.stopped, res.notes)
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from .data import workspace

    if not _port_free(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use; pick another with --port")
    logdir = workspace() / "tensorboard"
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(args.port)]
    print(f"TensorBoard on http://127.0.0.1:{args.port}/ for {logdir}", flush=True)
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover


# ---------------------------------------------------------------- labels
def cmd_labels_stats(args: argparse.Namespace) -> int:
    from .labels import LabelStore

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
    from .labels import LabelStore

    store = LabelStore()
    out = Path(args.output) if args.output else Path(f"{args.dataset}-labels.{args.format}")
    path = store.export(args.dataset, out, format=args.format)
    print(f"wrote {len(store.current(args.dataset))} labels of {args.dataset!r} to {path}")
    return 0


def cmd_labels_import(args: argparse.Namespace) -> int:
    from .data import DataError
    from .labels import LabelStore

    try:
        n = LabelStore().import_file(args.dataset, args.file)
    except DataError as exc:
        return _fail(str(exc), 1)
    print(f"imported {n} labels into {args.dataset!r}")
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="MLaaS Workbench: ingest, explore, label, train and serve from Jupyter. "
        "State lives in the workspace folder ($MLAAS_WORKSPACE, default ./workspace).",
        epilog="Run `mlaas COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("doctor", help="versions, GPUs (or why none), backends, workspace", description="Report the Python and package versions, the GPUs found or why none is used, which backend each area uses, and the workspace. Exits 0 unless MLAAS_DEVICE asks for something this machine cannot do.")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("lab", help="start JupyterLab on 127.0.0.1, opened on notebooks/", description="Start JupyterLab on 127.0.0.1 with a token (set JUPYTER_TOKEN to choose it), opened on notebooks/. Arguments after -- go to JupyterLab.")
    p.add_argument("--port", type=int, default=int(os.environ.get("MLAAS_LAB_PORT", 8888)), help="port (default 8888, or $MLAAS_LAB_PORT)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("ingest", help="ingest a dataset into the workspace", description="Ingest SOURCE: a dataset name (mnist, gpu-benchmarks), a CSV or Parquet file or http(s) URL, or a folder with one sub-folder of images per class. Ingesting the same input again does nothing.")
    p.add_argument("source", help="mnist, gpu-benchmarks, a CSV/Parquet path or URL, or an image folder")
    p.add_argument("--name", help="dataset name (default: from the source)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset of that name that came from another input")
    p.add_argument("--image-size", metavar="WxH", help="resize images of a folder to this size")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("datasets", help="list the workspace's datasets", description="List the datasets in the workspace.")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("run", help="run a notebook headless with papermill", description="Execute NOTEBOOK with papermill. The output notebook is saved in the workspace's runs/ folder with a timestamp; a failing cell is printed with its traceback and the exit code is 1.")
    p.add_argument("notebook", help="path of the .ipynb to run")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="set a parameter (Python literal or text); repeatable")
    p.add_argument("-o", "--output", help="output notebook path (default: workspace/runs/NAME-TIMESTAMP.ipynb)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train a CNN on an image dataset, tracked in MLflow", description="Train on DATASET's own labels (or a label snapshot's), tracked in MLflow and TensorBoard; prints the run id and final metrics. A checkpoint is written after each epoch; --resume continues a run that was killed.")
    p.add_argument("dataset")
    p.add_argument("--epochs", type=int, default=5, help="passes over the data (default 5)")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default 128)")
    p.add_argument("--labels", metavar="SNAPSHOT", help="train on a label snapshot: a path or DATASET@sha256:HASH")
    p.add_argument("--nproc", type=int, default=1, help="processes (DDP through torchrun; one per GPU, or gloo on the CPU)")
    p.add_argument("--resume", action="store_true", help="continue from the dataset's last checkpoint")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train (default: the compute layer's choice)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tensorboard", help="serve the workspace's TensorBoard logs on 127.0.0.1", description="Serve workspace/tensorboard with TensorBoard on 127.0.0.1.")
    p.add_argument("--port", type=int, default=6006, help="port (default 6006)")
    p.set_defaults(func=cmd_tensorboard)

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

    p = sub.add_parser("dashboard", help="serve a notebook as a Voilà dashboard", description="Serve NOTEBOOK (a path, or the name of an app in notebooks/dashboards) with Voilà on 127.0.0.1, with a preheated kernel. Arguments after -- go to Voilà.")
    p.add_argument("notebook", help="notebook path or dashboard name")
    p.add_argument("--port", type=int, default=int(os.environ.get("MLAAS_DASHBOARD_PORT", 8866)), help="port (default 8866)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" goes to JupyterLab (lab) or Voilà (dashboard) untouched.
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if extra and args.command not in ("lab", "dashboard"):
        parser.error(f"{args.command} takes no arguments after --")
    args.jupyter_args = args.voila_args = extra
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
