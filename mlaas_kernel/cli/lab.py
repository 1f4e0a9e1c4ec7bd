"""Servers on 127.0.0.1: ``mlaas lab``, ``mlaas dashboard``, ``mlaas tensorboard``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ._common import _export_workspace, _fail, _notebooks_dir, _port_free

# JupyterLab extensions that need Lab's own shell (its launcher) and break a Voilà page when loaded there.
VOILA_SKIPS = ("jupyterlab-optuna", "mlaas-workbench", "@jupyterhub/jupyter-server-proxy")
# The workbench's Voilà template ("mlaas": lab without CDN stylesheets) and its labextension
# (mlaas-workbench) are found through JUPYTER_PATH; its server extension is enabled by a config
# folder on JUPYTER_CONFIG_PATH.
JUPYTER_DIR = Path(__file__).with_name("_jupyter")
CONFIG_DIR = Path(__file__).parent.parent / "server_ext" / "_config"
LAB_ORIGIN_ENV = "MLAAS_LAB_ORIGIN"  # the origin browsers reach Lab at: the MLflow launcher allows it
VOILA_DENYLIST = "--VoilaConfiguration.extension_denylist=" + json.dumps(list(VOILA_SKIPS))


def lab_command(port: int, *, open_browser: bool, extra: Sequence[str] = ()) -> list[str]:
    """The JupyterLab command line ``mlaas lab`` runs."""
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.open_browser={open_browser}", f"--ServerApp.root_dir={Path.cwd()}",
        VOILA_DENYLIST,  # Voilà inside Lab (/voila/render/...) too
    ]
    if _notebooks_dir().is_dir():
        rel = os.path.relpath(_notebooks_dir(), Path.cwd())
        if not rel.startswith(".."):
            cmd.append(f"--LabApp.default_url=/lab/tree/{rel}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra)


def lab_env(port: int, env: dict | None = None) -> dict:
    """``env`` (default: this process's) for the Lab ``mlaas lab`` starts: the workbench's labextension
    and Voilà template on JUPYTER_PATH; on JUPYTER_CONFIG_PATH, the package's config folder
    (``server_ext/_config``: ``jupyter_server_config.d/mlaas_workbench.json`` enables the server
    extension, ``labconfig/default_setting_overrides.json`` holds the shipped Lab settings, which
    stay defaults the user's own settings override); and Lab's origin for the MLflow launcher."""
    env = dashboard_env(env)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(p for p in (str(CONFIG_DIR), env.get("JUPYTER_CONFIG_PATH", "")) if p)
    env[LAB_ORIGIN_ENV] = f"http://127.0.0.1:{port}"
    return env


def cmd_lab(args: argparse.Namespace) -> int:
    if os.environ.get("JUPYTER_TOKEN", None) == "":
        return _fail("JUPYTER_TOKEN is set but empty: the workbench does not serve JupyterLab without a token")
    if not _port_free(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use; pick another with --port")
    from ..track import prepare_store

    prepare_store(_export_workspace())  # the MLflow store is made while Lab starts, not in the first run
    cmd = lab_command(args.port, open_browser=not args.no_browser, extra=args.jupyter_args)
    print("starting JupyterLab: " + " ".join(cmd[1:]), flush=True)
    os.execve(cmd[0], cmd, lab_env(args.port))  # same PID: whoever started us can stop JupyterLab by it
    return 0  # pragma: no cover



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




def _rendering(notebook: Path) -> list[str]:
    """A preheated kernel by default (the page comes in about a second). A notebook whose
    metadata says ``"mlaas": {"dashboard": "live"}`` (one that trains, with a Stop button) runs
    when its page opens instead, its outputs shown as they come: a preheated kernel would have
    trained before anyone could watch or press Stop."""
    import json

    try:
        live = json.loads(Path(notebook).read_text()).get("metadata", {}).get("mlaas", {}).get("dashboard") == "live"
    except (OSError, ValueError):
        live = False
    return ["--preheat_kernel=False", "--progressive_rendering=True"] if live else ["--preheat_kernel=True"]


def dashboard_command(notebook: Path, port: int, *, open_browser: bool, extra: Sequence[str] = ()) -> list[str]:
    """The Voilà command line ``mlaas dashboard`` runs (run it with :func:`dashboard_env`).
    An option in ``extra`` replaces the default of the same name (``--preheat_kernel=False``)."""
    defaults = ["--template=mlaas", *_rendering(notebook), "--pool_size=1", "--show_tracebacks=True", VOILA_DENYLIST]
    given = {arg.split("=")[0].lstrip("-") for arg in extra}
    return [
        sys.executable, "-m", "voila", str(notebook),
        f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
        *(d for d in defaults if d.split("=")[0].lstrip("-") not in given),
        *([] if open_browser else ["--no-browser"]), *extra,
    ]


def dashboard_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with the workbench's Voilà template on JUPYTER_PATH."""
    env = dict(os.environ if env is None else env)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(JUPYTER_DIR), env.get("JUPYTER_PATH", "")) if p)
    return env


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
    os.execve(cmd[0], cmd, dashboard_env())
    return 0  # pragma: no cover



def cmd_tensorboard(args: argparse.Namespace) -> int:
    from ..data import workspace

    if not _port_free(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use; pick another with --port")
    logdir = workspace() / "tensorboard"
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(args.port)]
    print(f"TensorBoard on http://127.0.0.1:{args.port}/ for {logdir} (one folder per run: DATASET/RUN NAME-RUN ID)", flush=True)
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("lab", help="start JupyterLab on 127.0.0.1, opened on notebooks/", description="Start JupyterLab on 127.0.0.1 with a token (set JUPYTER_TOKEN to choose it), opened on notebooks/. Arguments after -- go to JupyterLab.")
    p.add_argument("--port", type=int, default=int(os.environ.get("MLAAS_LAB_PORT", 8888)), help="port (default 8888, or $MLAAS_LAB_PORT)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_lab)
    p = sub.add_parser("tensorboard", help="serve the workspace's TensorBoard logs on 127.0.0.1", description="Serve workspace/tensorboard with TensorBoard on 127.0.0.1.")
    p.add_argument("--port", type=int, default=6006, help="port (default 6006)")
    p.set_defaults(func=cmd_tensorboard)
    p = sub.add_parser("dashboard", help="serve a notebook as a Voilà dashboard", description="Serve NOTEBOOK (a path, or the name of an app in notebooks/dashboards) with Voilà on 127.0.0.1, with a preheated kernel. Arguments after -- go to Voilà.")
    p.add_argument("notebook", help="notebook path or dashboard name")
    p.add_argument("--port", type=int, default=int(os.environ.get("MLAAS_DASHBOARD_PORT", 8866)), help="port (default 8866)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_dashboard)
