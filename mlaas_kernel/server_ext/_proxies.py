"""jupyter-server-proxy launchers: the MLflow UI, TensorBoard and optuna-dashboard over the
workspace, at ``{base_url}mlflow/``, ``tensorboard/`` and ``optuna-dashboard/`` behind Lab's token.

Each function is an entry point (``jupyter_serverproxy_servers`` in pyproject.toml) that
jupyter-server-proxy calls once when Lab starts; it starts the program on the first request.
Facts these follow (PLATFORM.md): MLflow 3's UI works with ``absolute_url: False``, rejects a Host
or Origin it does not know, and takes 5-10 s to start (25-35 s on a loaded 2-core machine; the proxy's
readiness back-off would double that, which ``_prebound`` avoids); TensorBoard wants ``--path_prefix`` and
``absolute_url: True``; a launcher's icon shows only in the Notebook or Console category.
All three open in a Lab tab (``new_browser_tab: False``: jupyter-server-proxy's iframe, same origin as Lab,
which MLflow's ``X-Frame-Options: SAMEORIGIN`` allows). MLflow opens on its experiments list, not its GenAI
home page (whose telemetry notice has no server setting: it is dismissed in the browser's localStorage), and its
page is served with defaults for the browser's localStorage (``_rewrite.mlflow_defaults``): experiments open on
"Model training", and the Assistant panel stays closed until asked for.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ._mlflow import TRAINING_VIEW

ICONS = Path(__file__).with_name("icons")
CATEGORY = "Notebook"  # the Launcher draws icon_path only for Notebook and Console entries
MLFLOW_TIMEOUT = 120.0  # cold start 5-10 s, 11-41 s seen under load; readiness is polled with back-off
# The experiments and runs in MLflow's "Model training" view (its UI reads ``workflowType`` from the URL before its
# localStorage), not the GenAI "Welcome to MLflow" home page
MLFLOW_START = "mlflow/#/experiments" + TRAINING_VIEW
IN_LAB = {"new_browser_tab": False}  # a tab in Lab's main area (an iframe) rather than a new browser tab


def _entry(title: str, icon: str, path_info: str | None = None) -> dict:
    entry = {"enabled": True, "title": title, "icon_path": str(ICONS / icon), "category": CATEGORY}
    return {**entry, "path_info": path_info} if path_info else entry


def _notice(title: str, message: str) -> list[str]:
    """The command of a page that says why the program cannot start, and what to do."""
    return [sys.executable, "-m", "mlaas_kernel.server_ext._notice", "{port}", title, message]


def _missing(module: str, package: str, title: str) -> list[str] | None:
    if importlib.util.find_spec(module) is not None:
        return None
    return _notice(f"{title} is not installed", f"{title} is not installed in this environment ({sys.prefix}): "
                   f"pip install {package} (or make setup), then restart JupyterLab.")


def _workspace() -> Path:
    from ..data import workspace

    return workspace(create=False)


def _lab_hosts() -> tuple[str, str] | None:
    """Lab's origin as ``mlaas lab`` exported it: (allowed hosts, allowed origins) for MLflow."""
    origin = os.environ.get("MLAAS_LAB_ORIGIN", "").rstrip("/")
    if not origin.startswith(("http://", "https://")):
        return None
    scheme, hostport = origin.split("://", 1)
    port = hostport.rsplit(":", 1)[1] if ":" in hostport else ""
    hosts = [hostport, *(f"{h}:{port}" for h in ("127.0.0.1", "localhost") if port)]
    origins = [origin, *(f"{scheme}://{h}" for h in hosts)]
    return ",".join(dict.fromkeys(hosts + ["127.0.0.1:{port}", "localhost:{port}"])), ",".join(dict.fromkeys(origins))


def _mlflow_command(uri: str) -> tuple[list[str], dict]:
    """MLflow's command line (what ``mlaas mlflow`` runs: one worker) and the headers the proxy must rewrite."""
    # `mlaas mlflow`'s command line (not imported from the CLI, whose package loads every command),
    # serving on a socket bound before MLflow starts (_prebound: no readiness back-off)
    cmd = [sys.executable, "-m", "mlaas_kernel.server_ext._prebound", "{port}",
           sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
           "--uvicorn-opts", "--fd 0"]
    allowed = _lab_hosts()
    if allowed is None:
        # Lab's origin is unknown (plain `jupyter lab`): show MLflow the origin it allows by default.
        # This skips MLflow's own CSRF check (the proxy skips Jupyter's XSRF check too); `mlaas lab` avoids it.
        return cmd, {"Host": "127.0.0.1:{port}", "Origin": "http://127.0.0.1:{port}"}
    return cmd + ["--allowed-hosts", allowed[0], "--cors-allowed-origins", allowed[1]], {}


def mlflow() -> dict:
    """The MLflow UI over the workspace's tracking store (``workspace/mlflow.db``)."""
    from ..track._store import STORE_NAME

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{_workspace() / STORE_NAME}"
    cmd, headers = _mlflow_command(uri)
    if uri.startswith(("http://", "https://")):
        cmd, headers = _notice("MLflow tracking server", f"MLFLOW_TRACKING_URI points at a tracking server: open its UI at {uri}"), {}
    cmd = _missing("mlflow", "mlflow", "MLflow") or cmd
    from ._rewrite import mlflow_defaults

    return {"command": cmd, "timeout": MLFLOW_TIMEOUT, "absolute_url": False, "request_headers_override": headers,
            "rewrite_response": mlflow_defaults,
            "environment": {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}, **IN_LAB,
            "launcher_entry": _entry("MLflow", "mlflow.svg", MLFLOW_START)}


def tensorboard() -> dict:
    """TensorBoard over ``workspace/tensorboard`` (one folder per run)."""
    from ._rewrite import tensorboard_fonts

    logdir = _workspace() / "tensorboard"
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1", "--port", "{port}",
           "--path_prefix", "{base_url}tensorboard"]
    return {"command": _missing("tensorboard", "tensorboard", "TensorBoard") or cmd, "timeout": 60.0, "absolute_url": True,
            "rewrite_response": tensorboard_fonts, **IN_LAB, "launcher_entry": _entry("TensorBoard", "tensorboard.svg")}


def optuna_dashboard() -> dict:
    """optuna-dashboard over the workspace's studies (``workspace/optuna/studies.db``, or ``$MLAAS_OPTUNA_STORAGE``)."""
    from ._rewrite import optuna_prefix

    cmd = [sys.executable, "-m", "mlaas_kernel.server_ext._optuna", "{port}"]
    return {"command": _missing("optuna_dashboard", "optuna-dashboard", "optuna-dashboard") or cmd, "timeout": 60.0,
            "absolute_url": False, "rewrite_response": optuna_prefix, **IN_LAB,
            "launcher_entry": _entry("Optuna", "optuna.svg", "optuna-dashboard/dashboard")}
