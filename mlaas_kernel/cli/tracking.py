"""``mlaas mlflow``: the MLflow UI over the workspace's tracking store, on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import _export_workspace, _fail, _port_free


def mlflow_command(uri: str, port: int) -> list[str]:
    """The MLflow server command line ``mlaas mlflow`` runs: one worker, loopback only."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def cmd_mlflow(args: argparse.Namespace) -> int:
    from ..track import tracking_uri

    if not _port_free(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use; pick another with --port")
    _export_workspace()
    uri = tracking_uri()
    if uri.startswith("http"):
        return _fail(f"MLFLOW_TRACKING_URI points at a tracking server ({uri}): open its UI in a browser instead")
    # PLATFORM.md: MLflow's default is 10 processes (2.6 GB); one worker and no job runner make 2.
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    cmd = mlflow_command(uri, args.port)
    print(f"MLflow UI on http://127.0.0.1:{args.port}/ for {uri}", flush=True)
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("mlflow", help="the MLflow UI over the workspace's runs, on 127.0.0.1",
                       description="Serve the MLflow UI (runs, metrics, artifacts) over the workspace's tracking store "
                       "(workspace/mlflow.db and mlartifacts/) on 127.0.0.1, with one worker. With MLFLOW_TRACKING_URI "
                       "set to a server, open that server's UI instead.")
    p.add_argument("--port", type=int, default=int(os.environ.get("MLAAS_MLFLOW_PORT", 5000)), help="port (default 5000, or $MLAAS_MLFLOW_PORT)")
    p.set_defaults(func=cmd_mlflow)
