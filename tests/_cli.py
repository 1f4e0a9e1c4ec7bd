"""The ``mlaas`` command run as a user runs it: a real process, its output captured."""

from __future__ import annotations

import subprocess
import sys


def mlaas(*args: str, env: dict | None = None, cwd=None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlaas_kernel", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
