"""``mlaas mlflow``: the MLflow UI over the workspace's store, as a user opens it."""

import json
import subprocess
import sys
import urllib.request

from _servers import serving


def test_mlflow_ui_serves_the_workspaces_runs(jupyter_env, workspace, port, artifacts, tmp_path):
    from mlaas_kernel import track

    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    client, exp_id = track.setup("ui-check", workspace_dir=workspace)
    run = client.create_run(exp_id, run_name="seen-in-the-ui")
    client.log_metric(run.info.run_id, "accuracy", 0.5)
    client.set_terminated(run.info.run_id)
    cmd = [sys.executable, "-m", "mlaas_kernel", "mlflow", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with serving(cmd, base + "/health", env=env, cwd=tmp_path, log=artifacts / "mlflow.log", timeout=180):
        body = json.dumps({"experiment_ids": [exp_id]}).encode()
        req = urllib.request.Request(base + "/api/2.0/mlflow/runs/search", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            runs = json.loads(r.read())["runs"]
        assert [r["info"]["run_name"] for r in runs] == ["seen-in-the-ui"]
        with urllib.request.urlopen(base + "/", timeout=30) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    assert not (tmp_path / "mlflow.db").exists()  # the store is the workspace's, not the cwd's


def test_mlflow_ui_refuses_a_busy_port(jupyter_env, workspace):
    import socket

    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "mlaas_kernel", "mlflow", "--port", str(busy)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"port {busy} on 127.0.0.1 is in use" in out.stderr


def test_ingest_makes_the_tracking_store_ahead_of_the_first_run(jupyter_env, workspace, tmp_path):
    """The first `mlaas train` should not spend seconds creating MLflow's store: ingest starts it."""
    import time

    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run([sys.executable, "-m", "mlaas_kernel", "ingest", "gpu-benchmarks", "-q"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    store = workspace / "mlflow.db"
    deadline = time.monotonic() + 120
    while not store.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # waiting for another process's file, not for a UI
    assert store.exists(), "ingest did not start making the MLflow store"
    from mlaas_kernel import track

    client, exp_id = track.setup("mlaas", workspace_dir=workspace)  # a complete store: opens and serves an experiment
    assert client.get_experiment(exp_id).name == "mlaas"
    assert not (tmp_path / "mlflow.db").exists()
