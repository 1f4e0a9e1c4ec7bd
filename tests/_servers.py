"""Start a server process for a test, wait until it answers, stop it by its own PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


@contextlib.contextmanager
def serving(cmd: list[str], ready_url: str, *, env: dict, cwd: Path, log: Path, timeout: float = 120.0):
    """Run ``cmd`` until the block ends; ``ready_url`` must answer 200 within ``timeout`` seconds."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[:4]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(ready_url, timeout=5) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{ready_url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.25)  # waiting for a server process to bind, not for the UI
            yield proc
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
