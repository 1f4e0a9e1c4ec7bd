"""``mlaas tune`` as users run it, against real stores in a temporary workspace."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from _cli import mlaas


@pytest.fixture
def tables(env, workspace):
    from mlaas_kernel import data

    data.ingest("gpu-benchmarks", workspace_dir=workspace, progress=False)
    data.ingest("mnist", workspace_dir=workspace, progress=False)
    return env


@pytest.mark.slow
def test_tune_a_forest_then_refuse_bad_input_and_show_the_dashboard(tables, workspace, port):
    res = mlaas("tune", "gpu-benchmarks", "--trials", "2", "--study", "f", "--space", "n_estimators=10:20", "--space", "max_depth=3:6", env=tables)
    assert res.returncode == 0, res.stderr
    assert "study f: 2 complete, 0 pruned, 0 failed" in res.stdout and "best trial: " in res.stdout and "n_estimators" in res.stdout
    parent_id = res.stdout.split("parent run id: ")[1].split()[0]
    from mlaas_kernel import track

    client, exp_id = track.setup(workspace_dir=workspace)
    parent = client.get_run(parent_id)
    assert parent.data.tags["mlaas.model"] == "forest" and "best_val_accuracy" in parent.data.metrics
    assert len(client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")) == 2
    assert [f.path for f in client.list_artifacts(parent_id, "model")] == ["model/model.pkl"]

    errors = {
        ("tune", "nope"): "mlaas: error: no dataset 'nope' in the workspace; ingested: gpu-benchmarks, mnist",
        ("tune", "mnist", "--space", "max_lr"): "mlaas: error: --space 'max_lr': write NAME=LOW:HIGH[:log] or NAME=A,B,C",
        ("tune", "mnist", "--space", "lr=1e-3:1e-2"): "cnn has no parameter 'lr'; it has max_lr, width, dropout, batch_size, epochs",
        ("tune", "mnist", "--study", "gone", "--resume"): "mlaas: error: no study 'gone' to resume in this workspace; studies: f",
        ("tune", "mnist", "--resume"): "mlaas: error: --resume needs --study NAME",
        ("tune", "gpu-benchmarks", "--model", "cnn"): "dataset 'gpu-benchmarks' is a table dataset: the CNN needs images",
        ("tune", "gpu-benchmarks", "--target", "nope"): "dataset 'gpu-benchmarks' has no column 'nope'; columns: gpuName",
        ("tune", "gpu-benchmarks", "--study", "f", "--resume", "--space", "max_depth=3:9"):
            "study 'f' searches dataset gpu-benchmarks -> primary_category, forest: n_estimators=10:20 max_depth=3:6",
        ("tune",): "mlaas: error: give a DATASET to tune",
    }
    for args, message in errors.items():
        res = mlaas(*args, env=tables)
        assert res.returncode != 0 and message in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr

    cmd = [sys.executable, "-m", "mlaas_kernel", "tune", "--dashboard", "--port", str(port)]
    with subprocess.Popen(cmd, env=tables, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() is not None else "no answer"
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                        studies = json.load(r)["study_summaries"]
                    break
                except OSError:
                    time.sleep(0.3)
            assert [s["study_name"] for s in studies] == ["f"]
        finally:
            proc.terminate()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        busy = mlaas("tune", "--dashboard", "--port", str(busy_port), env=tables, timeout=60)
    assert busy.returncode != 0 and f"port {busy_port} on 127.0.0.1 is in use; pick another with --port" in busy.stderr


def test_the_tune_notebook_runs_live_in_a_dashboard():
    """A preheated kernel (and the pool's refill) would each run a study nobody watches: 05 runs when a page opens."""
    from conftest import REPO

    from mlaas_kernel import cli

    command = cli.dashboard_command(REPO / "notebooks" / "05_tune.ipynb", 9999, open_browser=False)
    assert "--preheat_kernel=False" in command and "--preheat_kernel=True" not in command
