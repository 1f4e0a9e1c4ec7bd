"""The ``mlaas`` command: one module per area (doctor, lab and servers, data, run, train, tracking, labels).

Each module has a ``register(sub)`` that adds its commands to the parser; this package only
assembles them and runs the chosen one.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from . import conformal, data, doctor, evaluate, labels, lab, models, pipeline, run, serve, tracking, train, tune
from ._common import PROG
from .lab import dashboard_command, lab_command, resolve_dashboard
from .run import parse_value, run_notebook

__all__ = ["PROG", "build_parser", "dashboard_command", "lab_command", "main", "parse_value", "resolve_dashboard", "run_notebook"]

_MODULES = (doctor, lab, data, run, train, tune, evaluate, conformal, models, tracking, labels, serve, pipeline)

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="MLaaS Workbench: ingest, explore, label, train and serve from Jupyter. "
        "State lives in the workspace folder ($MLAAS_WORKSPACE, default ./workspace).",
        epilog="Run `mlaas COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _MODULES:
        module.register(sub)
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
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here rather than in the interpreter's last flush
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `mlaas ... | head`: the reader has gone; no traceback (Python's note on SIGPIPE)
        from ..pipelines._progress import silence

        silence(sys.stdout)
        return 141  # what a shell reports for a command ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
