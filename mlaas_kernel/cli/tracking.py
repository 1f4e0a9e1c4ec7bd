"""``mlaas mlflow``: the MLflow UI over the workspace's tracking store, on 127.0.0.1; ``mlaas tracking-server``: a team's MLflow server."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import _export_workspace, _fail, _port_free, whole_number


def mlflow_command(uri: str, port: int) -> list[str]:
    """The MLflow server command line ``mlaas mlflow`` runs: one worker, loopback only."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def cmd_mlflow(args: argparse.Namespace) -> int:
    from ..track._mlflow_page import mlflow_app_args
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
    cmd = mlflow_command(uri, args.port) + mlflow_app_args()  # its page opens experiments on Model training
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
    _register_server(sub)


def _describe(cfg, *, detached: dict | None = None) -> None:
    """The server's URL, store and artifacts, and how to point clients at it."""
    from ..track._server import LOOPBACK, masked

    print(f"MLflow tracking server on {cfg.url}/ (one worker)")
    if cfg.host not in LOOPBACK:
        import socket

        print(f"  other machines: http://{socket.gethostname()}:{cfg.port}/")
    print(f"  store      {masked(cfg.store)}")
    print(f"  artifacts  {cfg.artifacts} (uploaded and downloaded through the server)")
    if detached:
        print(f"  PID {detached['pid']}, log {detached['log']}; stop it with `mlaas tracking-server --stop`")
    print("point clients at it:")
    print(f"  export MLFLOW_TRACKING_URI={cfg.url}")
    print("  (mlaas commands, notebooks and mlflow.set_tracking_uri() then log runs and models there, not in the workspace's mlflow.db)",
          flush=True)


def _status() -> int:
    from ..track._server import answers, read_record, server_dir

    record = read_record()
    if record is None:
        print(f"no detached tracking server recorded in {server_dir()} (`mlaas tracking-server --detach` starts one)")
        return 1
    if not record["running"]:
        print(f"not running: the server recorded at {record['url']} (PID {record['pid']}) has stopped; "
              "`mlaas tracking-server --stop` clears the record")
        return 1
    health = "answers" if answers(record["url"]) else "does NOT answer /health"
    print(f"running at {record['url']} (PID {record['pid']}, {health}), store {record['store']}, since {record['started']}")
    print(f"  export MLFLOW_TRACKING_URI={record['url']}")
    return 0


def _stop() -> int:
    from ..track._server import stop

    record = stop()
    if record["running"]:
        print(f"stopped the tracking server at {record['url']} (PID {record['pid']})")
    else:
        print(f"the tracking server recorded at {record['url']} (PID {record['pid']}) was not running: record removed")
    return 0


def cmd_tracking_server(args: argparse.Namespace) -> int:
    from ..track import _server

    _export_workspace()
    try:
        if args.status:
            return _status()
        if args.stop:
            return _stop()
        if args.host not in _server.LOOPBACK:
            print(f"mlaas: warning: --host {args.host} opens the tracking server to other machines, with no authentication; "
                  "MLflow answers only requests addressed to localhost or a private IP (its --allowed-hosts default)",
                  file=sys.stderr)
        cfg = _server.config(args.backend_store_uri, host=args.host, port=args.port)
        if args.detach:
            running = _server.read_record()
            if running and running["running"]:
                raise _server.TrackingServerError(_server.already_running(running))
            print(f"starting the tracking server on {cfg.url}/ and waiting until it answers /health "
                  "(5-10 s on an idle machine, longer under load) ...", flush=True)
            _describe(cfg, detached=_server.start_detached(cfg))
            return 0
    except _server.TrackingServerError as exc:
        return _fail(str(exc), 1)
    _describe(cfg)
    cmd = cfg.command()
    os.execve(cmd[0], cmd, _server.server_env())
    return 0  # pragma: no cover


def _register_server(sub) -> None:
    p = sub.add_parser("tracking-server", help="an MLflow tracking server for a team (SQLite, or a database URL)",
                       description="Run an MLflow tracking server that a team logs to (MLFLOW_TRACKING_URI=its URL): runs, models "
                       "and artifacts in its own store, SQLite in workspace/tracking-server/ by default, artifacts uploaded "
                       "through the server into workspace/tracking-server/artifacts. One worker, no job runner. --detach "
                       "starts it in the background and records it in workspace/tracking-server/server.json.")
    p.add_argument("--backend-store-uri", metavar="URL", help="a database URL: sqlite:///PATH, postgresql://USER:PASS@HOST/DB, "
                   "mysql+pymysql://..., mssql://... (default: sqlite in workspace/tracking-server/mlflow.db)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=whole_number(1), default=int(os.environ.get("MLAAS_TRACKING_SERVER_PORT", 5001)),
                   help="port (default 5001, or $MLAAS_TRACKING_SERVER_PORT)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--detach", action="store_true", help="start it in the background, wait until it answers, record it in server.json")
    what.add_argument("--stop", action="store_true", help="stop the detached server by the PID server.json names")
    what.add_argument("--status", action="store_true", help="whether the detached server runs (exit status 1 when not)")
    p.set_defaults(func=cmd_tracking_server)
