"""What every command module shares: the program name, errors, the workspace, ports."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .._ports import port_free

PROG = "mlaas"


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _export_workspace() -> Path:
    """Resolve the workspace once, here, and hand its absolute path to kernels and servers."""
    from ..data import workspace

    root = workspace()
    os.environ["MLAAS_WORKSPACE"] = str(root)
    return root


def _port_free(port: int) -> bool:
    return port_free("127.0.0.1", port)


def _notebooks_dir() -> Path:
    return Path(os.environ.get("MLAAS_NOTEBOOKS", "notebooks")).absolute()


def whole_number(minimum: int, hint: str = ""):
    """An argparse type: a whole number of at least ``minimum`` (``hint`` ends the message when it is not)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}{hint}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


positive_int = whole_number(1, " (leave the option out for the default)")
non_negative_int = whole_number(0)
