"""A team's MLflow tracking server (``mlaas tracking-server``): its store, its command line, and a detached
server recorded in ``workspace/tracking-server/server.json`` so that ``--stop``, ``--status`` and notebooks find it.

The default store is SQLite in the workspace (``tracking-server/mlflow.db``), with artifacts uploaded through the
server (``--serve-artifacts``) into ``tracking-server/artifacts``; ``store`` may be any database URL SQLAlchemy
takes (``postgresql://...``, ``mysql+pymysql://...``), checked for its driver before the server starts. One
worker and no job runner (PLATFORM.md: MLflow's defaults start 10 processes, 2.6 GB). Nothing heavy is imported.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .._ports import port_free

SERVER_DIR = "tracking-server"
RECORD = "server.json"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# SQLAlchemy dialect (+driver) -> (module it imports, what to pip install); a bare dialect uses SQLAlchemy's default driver.
DRIVERS = {
    "postgresql": ("psycopg2", "psycopg2-binary"), "postgresql+psycopg2": ("psycopg2", "psycopg2-binary"),
    "postgresql+psycopg": ("psycopg", "psycopg[binary]"), "postgresql+pg8000": ("pg8000", "pg8000"),
    "mysql": ("MySQLdb", "mysqlclient"), "mysql+mysqldb": ("MySQLdb", "mysqlclient"), "mysql+pymysql": ("pymysql", "PyMySQL"),
    "mssql": ("pyodbc", "pyodbc"), "mssql+pyodbc": ("pyodbc", "pyodbc"), "mssql+pymssql": ("pymssql", "pymssql"),
}


class TrackingServerError(ValueError):
    """A tracking server that cannot be started, found or stopped; the message says why and what to do."""


def server_dir(workspace_dir: str | os.PathLike | None = None) -> Path:
    """``workspace/tracking-server``: the default store, its artifacts, the detached server's record and log."""
    from ..data import workspace

    return workspace(workspace_dir) / SERVER_DIR


def masked(uri: str) -> str:
    """``uri`` with its password (``user:secret@host``) replaced by ``***``, for printing and for server.json."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def check_store(uri: str) -> str:
    """``uri`` when MLflow can use it as its backend store here; TrackingServerError naming what is wrong otherwise."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "sqlite":
        path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            raise TrackingServerError(f"--backend-store-uri {uri}: an in-memory SQLite store loses every run when the server "
                                      "stops; give a file, sqlite:///PATH/mlflow.db")
        if not Path(path).parent.is_dir():
            raise TrackingServerError(f"--backend-store-uri {uri}: the folder {Path(path).parent} does not exist")
        return uri
    if scheme not in DRIVERS:
        known = ", ".join(sorted({s.split("+")[0] for s in DRIVERS} | {"sqlite"}))
        raise TrackingServerError(f"--backend-store-uri {masked(uri)}: expected a database URL (sqlite:///PATH, postgresql://USER@HOST/DB, "
                                  f"mysql+pymysql://..., mssql://...); {scheme or 'no scheme'!r} is not one of {known}")
    module, package = DRIVERS[scheme]
    if importlib.util.find_spec(module) is None:
        raise TrackingServerError(f"--backend-store-uri {masked(uri)}: its database driver {module!r} is not installed in this "
                                  f"environment: `pip install {package}` (or name another driver, e.g. {scheme.split('+')[0]}+DRIVER://...)")
    if not urlsplit(uri).hostname and scheme.split("+")[0] != "mssql":
        raise TrackingServerError(f"--backend-store-uri {masked(uri)}: no database host in the URL")
    return uri


@dataclass(frozen=True)
class ServerConfig:
    """What a tracking server runs with: its backend ``store`` URI, the ``artifacts`` folder it serves, ``host`` and ``port``."""

    store: str
    artifacts: Path
    host: str = "127.0.0.1"
    port: int = 5001

    @property
    def url(self) -> str:
        """The URL clients on this machine use (a wildcard bind is reached on 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def command(self) -> list[str]:
        """The ``mlflow server`` command line: one worker, artifacts uploaded and downloaded through the server, and its
        UI's page opening experiments on "Model training" where the ``mlflow.app`` entry point is installed."""
        from ._mlflow_page import mlflow_app_args

        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.store, "--serve-artifacts",
                "--artifacts-destination", str(self.artifacts), "--host", self.host, "--port", str(self.port), "--workers", "1",
                *mlflow_app_args()]


def config(store: str | None = None, *, host: str = "127.0.0.1", port: int = 5001,
           workspace_dir: str | os.PathLike | None = None) -> ServerConfig:
    """A checked :class:`ServerConfig`: ``store`` (default SQLite in ``workspace/tracking-server``) and the port free on ``host``."""
    folder = server_dir(workspace_dir)
    folder.mkdir(parents=True, exist_ok=True)
    store = check_store(store or f"sqlite:///{folder / 'mlflow.db'}")
    if not port_free(host, port):
        running = read_record(workspace_dir)
        if running and running["running"] and int(running.get("port", 0)) == port:
            raise TrackingServerError(already_running(running))
        raise TrackingServerError(f"port {port} on {host} is in use (another server answers there): choose another with --port")
    return ServerConfig(store, folder / "artifacts", host, port)


def server_env() -> dict:
    """The server's environment: no job runner (one process fewer, PLATFORM.md), no telemetry."""
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether an MLflow server answers ``url``/health."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live MLflow server process (not a reused PID of something else, not a zombie)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and b"mlflow" in cmdline and b"server" in cmdline


def already_running(record: dict) -> str:
    """The message for a second start while the recorded server runs: its URL and PID, and what to do."""
    return (f"a tracking server of this workspace already runs at {record['url']} (PID {record['pid']}): use it "
            "(export MLFLOW_TRACKING_URI=" + record["url"] + "), `mlaas tracking-server --status` shows it, "
            "`mlaas tracking-server --stop` stops it")


def read_record(workspace_dir: str | os.PathLike | None = None) -> dict | None:
    """The detached server's record (url, pid, store, artifacts, log, started), with ``running``; None when there is none."""
    path = server_dir(workspace_dir) / RECORD
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise TrackingServerError(f"{path}: not a tracking server record ({exc}); remove it") from None
    record["running"] = _alive(int(record.get("pid", 0)))
    return record


def _write_record(folder: Path, record: dict) -> None:
    from .._atomic import atomic_write

    atomic_write(folder / RECORD, lambda tmp: tmp.write_text(json.dumps(record, indent=1)))


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not answers(url):
        if proc.poll() is not None:
            raise TrackingServerError(f"the tracking server exited with code {proc.returncode} before answering:\n"
                                      + log.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            _terminate(proc.pid)
            raise TrackingServerError(f"the tracking server did not answer {url}/health within {timeout:.0f} s (stopped it); "
                                      f"its log: {log}")
        time.sleep(0.25)  # waiting for the server process to bind and migrate its store


def start_detached(cfg: ServerConfig, *, timeout: float = 120.0, workspace_dir: str | os.PathLike | None = None) -> dict:
    """Start ``cfg``'s server in the background (its own session), wait until it answers, record it in server.json; the record."""
    folder = server_dir(workspace_dir)
    running = read_record(workspace_dir)
    if running and running["running"]:
        raise TrackingServerError(already_running(running))
    log = folder / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cfg.command(), env=server_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _wait_ready(proc, cfg.url, log, timeout)
    record = {"url": cfg.url, "pid": proc.pid, "store": masked(cfg.store), "artifacts": str(cfg.artifacts), "host": cfg.host,
              "port": cfg.port, "log": str(log), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _write_record(folder, record)
    return {**record, "running": True}


def _terminate(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM ``pid`` (MLflow's CLI stops its uvicorn child with it), SIGKILL its process group if it lingers; True if it ran."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)  # started with start_new_session: the group is the server's own
    return True


def stop(*, workspace_dir: str | os.PathLike | None = None) -> dict:
    """Stop the detached server by the PID server.json names and remove the record; returns the record (``running``: whether
    it was still running). TrackingServerError when this workspace has no record."""
    folder = server_dir(workspace_dir)
    record = read_record(workspace_dir)
    if record is None:
        raise TrackingServerError(f"no detached tracking server recorded in {folder / RECORD} "
                                  "(`mlaas tracking-server --detach` starts one; a foreground server stops with Ctrl+C)")
    if record["running"]:
        _terminate(int(record["pid"]))
    (folder / RECORD).unlink(missing_ok=True)
    return record


def for_step(tracking_uri: str = "", *, workspace_dir: str | os.PathLike | None = None) -> tuple[str | None, bool]:
    """The tracking server a ``tracked-experiments`` step notebook logs to, and whether it was started here.

    ``tracking_uri`` (the pipeline passes the server step's) wins, then ``$MLFLOW_TRACKING_URI``. Run alone, a step
    uses the workspace's recorded server when it answers; else, when that server's store exists (the pipeline ran
    here before and stopped its server), it starts one on it as the server step does (detached, a free port: stop it
    with :func:`stop` when done); else None: no server has runs, and the workspace's own store is used.
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri:
        return uri, False
    record = read_record(workspace_dir)
    if record and record["running"]:
        if not answers(record["url"], timeout=10):
            raise TrackingServerError(f"the tracking server recorded at {record['url']} (PID {record['pid']}) runs but does not answer "
                                      "/health: `mlaas tracking-server --stop`, then run this again")
        return record["url"], False
    folder = server_dir(workspace_dir)
    if not (folder / "mlflow.db").exists():
        return None, False
    (folder / RECORD).unlink(missing_ok=True)  # a record of a server that has stopped
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = start_detached(config(port=port, workspace_dir=workspace_dir), workspace_dir=workspace_dir)["url"]
    atexit.register(_stop_quietly, workspace_dir)  # a failing cell still stops it when the kernel exits
    return url, True


def use_for_step(tracking_uri: str = "", *, workspace_dir: str | os.PathLike | None = None) -> tuple[str | None, bool]:
    """:func:`for_step`, then this process's MLflow pointed at that server (``$MLFLOW_TRACKING_URI``), as a step
    notebook starts; returns what :func:`for_step` does. The pipeline's own MLflow run is in another store, so a
    server other than the one already set drops ``$MLAAS_PIPELINE_MLFLOW_RUN`` (no parent link to a run it lacks)."""
    server, started_here = for_step(tracking_uri, workspace_dir=workspace_dir)
    if server:
        if os.environ.get("MLFLOW_TRACKING_URI") != server:
            os.environ.pop("MLAAS_PIPELINE_MLFLOW_RUN", None)
        os.environ["MLFLOW_TRACKING_URI"] = server
    if started_here:
        print(f"started this workspace's tracking server at {server} on its store (workspace/{SERVER_DIR}/); stopped at the end")
    return server, started_here


def _stop_quietly(workspace_dir) -> None:
    try:
        stop(workspace_dir=workspace_dir)
    except TrackingServerError:
        pass  # already stopped (the notebook's last cell)


NO_SERVER_RUNS = ("no tracking server of this workspace has runs yet: run the pipeline first, `mlaas pipeline run tracked-experiments` "
                  "(it starts a server, logs its runs and registers the best), or give tracking_uri")
