"""``mlaas doctor``: versions, GPUs, backends, workspace."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from typing import Sequence

from .. import __version__

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
    from .. import compute
    from ..data import list_datasets, workspace

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


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("doctor", help="versions, GPUs (or why none), backends, workspace", description="Report the Python and package versions, the GPUs found or why none is used, which backend each area uses, and the workspace. Exits 0 unless MLAAS_DEVICE asks for something this machine cannot do.")
    p.set_defaults(func=cmd_doctor)
