"""``mlaas run``: a notebook headless with papermill."""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import re
import sys
from pathlib import Path

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


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("run", help="run a notebook headless with papermill", description="Execute NOTEBOOK with papermill. The output notebook is saved in the workspace's runs/ folder with a timestamp; a failing cell is printed with its traceback and the exit code is 1.")
    p.add_argument("notebook", help="path of the .ipynb to run")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="set a parameter (Python literal or text); repeatable")
    p.add_argument("-o", "--output", help="output notebook path (default: workspace/runs/NAME-TIMESTAMP.ipynb)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)
