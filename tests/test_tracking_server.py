"""``mlaas tracking-server``: a real MLflow server on a free port of 127.0.0.1, runs logged through it, its errors."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import sqlite3

import pytest

from _cli import mlaas
from conftest import free_port


def _kill(record_path):
    """Teardown: the server a failed test left, stopped by the PID its record names."""
    try:
        pid = json.loads(record_path.read_text())["pid"]
    except (FileNotFoundError, ValueError, KeyError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _runs_in(db) -> dict[str, str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return dict(con.execute("select run_uuid, name from runs").fetchall())


def _log_a_run(url: str, tmp_path) -> str:
    """A run with a metric and an artifact, logged by a client pointed at ``url`` as MLFLOW_TRACKING_URI points one."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    exp = client.get_experiment_by_name("team")
    exp_id = exp.experiment_id if exp else client.create_experiment("team")
    run_id = client.create_run(exp_id, run_name="through-the-server").info.run_id
    client.log_metric(run_id, "accuracy", 0.9)
    (tmp_path / "notes.txt").write_text("logged through the server")
    client.log_artifact(run_id, str(tmp_path / "notes.txt"))
    client.set_terminated(run_id)
    return run_id


def test_detached_server_keeps_runs_in_its_own_store_and_stops_by_its_pid(env, workspace, tmp_path, monkeypatch):
    port = free_port()
    record_path = workspace / "tracking-server" / "server.json"
    try:
        out = mlaas("tracking-server", "--detach", "--port", str(port), env=env, timeout=150)
        assert out.returncode == 0, out.stderr
        url = f"http://127.0.0.1:{port}"
        assert f"MLflow tracking server on {url}/" in out.stdout and f"export MLFLOW_TRACKING_URI={url}" in out.stdout
        record = json.loads(record_path.read_text())
        db = workspace / "tracking-server" / "mlflow.db"
        assert record["url"] == url and record["store"] == f"sqlite:///{db}" and f"PID {record['pid']}" in out.stdout
        status = mlaas("tracking-server", "--status", env=env)
        assert status.returncode == 0 and f"running at {url} (PID {record['pid']}, answers)" in status.stdout

        run_id = _log_a_run(url, tmp_path)
        assert _runs_in(db) == {run_id: "through-the-server"}
        assert [p.read_text() for p in (workspace / "tracking-server" / "artifacts").rglob("notes.txt")] == ["logged through the server"]
        assert not (workspace / "mlflow.db").exists()  # the workspace's own store is left alone

        assert "waiting until it answers /health" in out.stdout  # a line while --detach waits for readiness
        again = mlaas("tracking-server", "--detach", "--port", str(free_port()), env=env)
        assert again.returncode == 1 and f"already runs at {url} (PID {record['pid']})" in again.stderr
        for args in (("--detach",), ()):  # the same port, detached or not: the running server is named, not "port in use"
            busy = mlaas("tracking-server", *args, "--port", str(port), env=env)
            assert busy.returncode == 1 and f"already runs at {url} (PID {record['pid']})" in busy.stderr, busy.stderr
            assert "`mlaas tracking-server --status` shows it" in busy.stderr and "is in use" not in busy.stderr

        stopped = mlaas("tracking-server", "--stop", env=env)
        assert stopped.returncode == 0 and f"stopped the tracking server at {url} (PID {record['pid']})" in stopped.stdout
        assert not os.path.exists(f"/proc/{record['pid']}") or "Z" in open(f"/proc/{record['pid']}/stat").read().rsplit(")", 1)[1][:3]
        assert not record_path.exists()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing answers on the port any more
        gone = mlaas("tracking-server", "--status", env=env)
        assert gone.returncode == 1 and "no detached tracking server recorded" in gone.stdout

        # a tracked-experiments step notebook run alone after the pipeline stopped its server: it starts one on the store
        from mlaas_kernel.track._server import for_step, stop

        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        assert for_step("http://127.0.0.1:1") == ("http://127.0.0.1:1", False)  # the pipeline's URI is taken as given
        again_url, started = for_step("")
        assert started and again_url != url and _log_a_run(again_url, tmp_path)  # it answers, on the same store
        assert len(_runs_in(db)) == 2 and for_step("") == (again_url, False)  # a running one is used, not started twice
        stop()
        assert not record_path.exists()
    finally:
        _kill(record_path)


def test_a_step_run_alone_in_a_fresh_workspace_uses_its_own_store(workspace, monkeypatch):
    from mlaas_kernel.track._server import for_step

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert for_step("") == (None, False) and not (workspace / "tracking-server" / "server.json").exists()


def test_a_step_notebook_points_its_mlflow_at_the_given_server_and_drops_the_pipeline_parent(workspace, monkeypatch):
    from mlaas_kernel.track import use_step_server

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLAAS_PIPELINE_MLFLOW_RUN", "a-run-in-the-workspace-store")
    assert use_step_server("") == (None, False)  # no server: the workspace's own store, the parent link kept
    assert "MLFLOW_TRACKING_URI" not in os.environ and os.environ["MLAAS_PIPELINE_MLFLOW_RUN"] == "a-run-in-the-workspace-store"
    assert use_step_server("http://127.0.0.1:1") == ("http://127.0.0.1:1", False)
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:1" and "MLAAS_PIPELINE_MLFLOW_RUN" not in os.environ
    monkeypatch.setenv("MLAAS_PIPELINE_MLFLOW_RUN", "a-run-on-that-server")
    use_step_server("http://127.0.0.1:1")  # already this process's server: its pipeline run is there, the link kept
    assert os.environ["MLAAS_PIPELINE_MLFLOW_RUN"] == "a-run-on-that-server"


def test_store_urls_are_checked_before_anything_starts(env, workspace):
    from mlaas_kernel.track._server import TrackingServerError, check_store

    bad = mlaas("tracking-server", "--backend-store-uri", "runs.db", env=env)
    assert bad.returncode == 1 and "--backend-store-uri runs.db: expected a database URL (sqlite:///PATH" in bad.stderr
    with pytest.raises(TrackingServerError, match="in-memory SQLite store loses every run"):
        check_store("sqlite://")
    with pytest.raises(TrackingServerError, match="the folder /no/such/folder does not exist"):
        check_store("sqlite:////no/such/folder/mlflow.db")
    with pytest.raises(TrackingServerError, match="'redis' is not one of mssql, mysql, postgresql, sqlite"):
        check_store("redis://host/0")
    if importlib.util.find_spec("psycopg2") is None:
        out = mlaas("tracking-server", "--backend-store-uri", "postgresql://ana:s3cret@db.example/mlflow", env=env)
        assert out.returncode == 1 and "its database driver 'psycopg2' is not installed" in out.stderr
        assert "`pip install psycopg2-binary`" in out.stderr and "postgresql://ana:***@db.example/mlflow" in out.stderr
        assert "s3cret" not in out.stderr
    assert not (workspace / "tracking-server" / "server.json").exists()


def test_a_host_beyond_loopback_is_warned_about(env, workspace):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = mlaas("tracking-server", "--host", "0.0.0.0", "--port", str(port), env=env)
    assert "warning: --host 0.0.0.0 opens the tracking server to other machines, with no authentication" in out.stderr
    assert out.returncode == 1 and f"port {port} on 0.0.0.0 is in use" in out.stderr
    stop = mlaas("tracking-server", "--stop", env=env)
    assert stop.returncode == 1 and "no detached tracking server recorded" in stop.stderr
