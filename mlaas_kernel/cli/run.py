"""``mlaas run``: a notebook headless with papermill."""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as _dt
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from .._kernel_args import KERNEL_ARGS
from .._key_metric import key_metric
from ._common import PROG, _export_workspace, _fail

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

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

    output = output or default_output(notebook)
    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent.absolute()),
        progress_bar=progress, log_output=False, kernel_name="python3", extra_arguments=list(KERNEL_ARGS),
    )
    return output


def default_output(notebook: Path) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return _export_workspace() / "runs" / f"{notebook.stem}-{stamp}.ipynb"


def absolute_paths(parameters: dict, cwd: Path) -> dict[str, tuple[str, str]]:
    """Text values that name an existing file or folder relative to ``cwd``, made absolute in place.

    papermill runs the kernel in the notebook's folder, so ``-p source rel.csv`` would otherwise
    mean ``notebooks/rel.csv``. Only paths that exist here change, and values written as paths
    (``./out``, ``../x``, ``~/x``) whether or not they exist yet: a dataset name, a URL or a
    plain word passes through as typed. Returns ``{name: (as typed, as passed)}``.
    """
    changed = {}
    for name, value in parameters.items():
        if not isinstance(value, str) or not value or "://" in value or len(value) > 4096 or os.path.isabs(value):
            continue
        written_as_path = value.startswith(("./", "../", "~/")) or value in (".", "..", "~")
        try:
            exists = (cwd / value).exists()
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            continue
        if exists or written_as_path:
            parameters[name] = os.path.abspath(cwd / os.path.expanduser(value))
            changed[name] = (value, parameters[name])
    return changed


@contextlib.contextmanager
def _run_record():
    """A fresh JSON-lines file in ``$MLAAS_RUN_RECORD`` for the kernel's tracked runs."""
    from .. import _runrecord

    fd, name = tempfile.mkstemp(prefix="mlaas-run-", suffix=".jsonl")
    os.close(fd)
    before = os.environ.get(_runrecord.ENV)
    os.environ[_runrecord.ENV] = name  # the kernel inherits it
    try:
        yield Path(name)
    finally:
        if before is None:
            os.environ.pop(_runrecord.ENV, None)
        else:
            os.environ[_runrecord.ENV] = before
        Path(name).unlink(missing_ok=True)


def summary(output: Path, records: list[dict], seconds: float, *, failed: str | None = None) -> str:
    """What ``mlaas run`` prints at the end: notebook, MLflow runs with a key metric, wall time."""
    lines = ["summary:", f"  output notebook  {output}" + (" (partly executed)" if failed else "")]
    for r in records:
        metric = key_metric(r.get("metrics") or {})
        shown = f": {metric[0]} {metric[1]:.4g}" if metric else ""
        experiment = f", experiment {r['experiment']}" if r.get("experiment") else ""
        lines.append(f"  MLflow run       {r['run_id']} ({r.get('status', '?')}{experiment}){shown}")
    if not records:
        lines.append("  MLflow runs      none recorded by this notebook")
    if failed:
        lines.append(f"  status           {failed}")
    lines.append(f"  wall time        {seconds:.1f} s")
    return "\n".join(lines)


def unknown_parameters(notebook: Path, params: dict) -> str | None:
    """Why ``params`` do not fit ``notebook``'s cell tagged ``parameters`` (papermill only warns,
    then runs with the defaults: a typo would pass unnoticed), or None when they fit."""
    import papermill as pm

    known = pm.inspect_notebook(str(notebook))
    wrong = sorted(set(params) - set(known))
    if not wrong:
        return None
    have = ", ".join(known) or "none (no cell tagged 'parameters')"
    return f"{notebook}: no parameter {', '.join(map(repr, wrong))}; its parameters: {have}"


def cmd_run(args: argparse.Namespace) -> int:
    from papermill.exceptions import PapermillExecutionError

    from .. import _runrecord

    notebook = Path(args.notebook)
    if notebook.suffix != ".ipynb":
        return _fail(f"{notebook}: not a notebook file (.ipynb)")
    if not notebook.is_file():
        return _fail(f"{notebook}: no such notebook")
    params = {name: parse_value(value) for name, value in args.parameters}
    unknown = unknown_parameters(notebook, params)
    if unknown:
        return _fail(unknown)
    for name, (typed, passed) in absolute_paths(params, Path.cwd()).items():
        print(f"{PROG}: parameter {name}: {typed} is a path from here: passing {passed}", file=sys.stderr)
    output = Path(args.output).absolute() if args.output else default_output(notebook)
    started = time.monotonic()
    with _run_record() as record:
        try:
            run_notebook(notebook, params, output=output, progress=not args.quiet)
        except PapermillExecutionError as exc:
            print(f"{PROG}: {notebook} failed in cell {exc.exec_count} (index {exc.cell_index}): {exc.ename}: {exc.evalue}", file=sys.stderr)
            print(exc.source, file=sys.stderr)
            print(_ANSI.sub("", "\n".join(exc.traceback)), file=sys.stderr)
            print(f"{PROG}: the partly executed notebook is saved in {output}", file=sys.stderr)
            print(summary(output, _runrecord.read(record), time.monotonic() - started, failed=f"failed in cell {exc.exec_count}: {exc.ename}"))
            return 1
        print(summary(output, _runrecord.read(record), time.monotonic() - started))
    return 0


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("run", help="run a notebook headless with papermill", description="Execute NOTEBOOK with papermill. The output notebook is saved in the workspace's runs/ folder with a timestamp; a failing cell is printed with its traceback and the exit code is 1. A parameter value that names an existing file or folder relative to where you run mlaas, or starts with ./ ../ ~/, is passed as an absolute path (the notebook runs in its own folder). At the end a summary gives the output notebook, the MLflow runs the notebook made with a key metric each, and the wall time.")
    p.add_argument("notebook", help="path of the .ipynb to run")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="set a parameter (Python literal or text; a path relative to here is made absolute); repeatable")
    p.add_argument("-o", "--output", help="output notebook path (default: workspace/runs/NAME-TIMESTAMP.ipynb)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)
