"""The gpu-specs and tracked-experiments pipelines run headless (`mlaas pipeline run NAME`) in a fresh workspace.

A real process on a temporary workspace, as a user runs it; the assertions read what the steps published
(run.json), the saved notebooks, the workspace's MLflow store and the tracking server's own SQLite file.
Every server a step starts is stopped by its PID (the teardown stops a tracking server a failure left).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from _cli import mlaas
from _pipelines import assert_succeeded, check_steps, expected_datasets, run_folders, run_pipeline, workspace_datasets

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def run(env, name: str, *, statuses=("succeeded",), **params) -> tuple[Path, dict]:
    """``mlaas pipeline run NAME -p K V ...`` in a fresh workspace: its one run's folder and run.json, once it succeeded
    (every step with a status in ``statuses``, its notebook saved and showing what the notebook's own checks ask)."""
    proc, folder, record = run_pipeline(env, name, **params)
    assert run_folders(env["MLAAS_WORKSPACE"], name) == [folder]
    assert_succeeded(proc, folder, record, statuses=statuses)
    check_steps(folder, record)
    return folder, record


def out(record: dict, step: str) -> dict:
    return record["steps"][step]["outputs"]


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=3).close()
    except (urllib.error.URLError, ConnectionError, OSError):
        return False
    return True


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute(sql).fetchall()


def test_gpu_specs_cleans_trains_both_tasks_registers_and_serves(env, workspace):
    import pandas as pd

    from mlaas_kernel import registry, track

    folder, record = run(env, "gpu-specs", n_estimators=20, n_items=60)
    assert workspace_datasets(workspace) == expected_datasets(record, made={"gpu-specs-clean"}) == {"gpu-benchmarks", "gpu-specs-clean"}
    clean = out(record, "clean")
    table = pd.read_parquet(clean["table"])
    assert table.shape == (clean["rows"], len(clean["columns"])) == (2317, 12)  # every GPU kept; 14 columns - 7 dropped + 5 derived
    assert {"gpuValue", "powerPerformance", "category", "gpuName"} <= set(clean["dropped_columns"]) and not set(clean["dropped_columns"]) & set(table.columns)
    assert {"log_price", "age", "has_price", "has_tdp", "g2d_per_watt"} <= set(table.columns)
    assert "G3Dmark" not in clean["features_regression"] and "primary_category" not in clean["features_classification"]
    category, g3dmark = out(record, "train_category"), out(record, "train_g3dmark")
    assert 0.6 < category["accuracy"] <= 1 and 0.7 < g3dmark["r2"] <= 1 and g3dmark["mae"] > 0
    ran = [(record["steps"][s]["started"], record["steps"][s]["ended"]) for s in ("train_category", "train_g3dmark")]
    assert max(start for start, _ in ran) < min(end for _, end in ran)  # the two trainings ran at once

    finished = {r.info.run_id: r for r in track.runs(workspace_dir=workspace)}
    for train_step, name, metric in (("train_category", "gpu-category", "accuracy"), ("train_g3dmark", "gpu-g3dmark", "r2")):
        run_id = out(record, train_step)["run_id"]
        assert finished[run_id].info.status == "FINISHED" and finished[run_id].data.tags["mlaas.dataset"] == "gpu-specs-clean"
        version = registry.resolve(f"{name}@champion", workspace_dir=workspace)
        assert (version.version, version.run_id) == (1, run_id) and out(record, f"register_{train_step[6:]}")["ref"] == f"{name}/1"
        assert version.key_metric == (metric, pytest.approx(out(record, train_step)[metric]))
    served_category, served_g3dmark = out(record, "serve_category"), out(record, "serve_g3dmark")
    assert served_category["n"] == served_g3dmark["n"] == 60
    assert served_category["agreement"] == 1.0 and 0.5 < served_category["accuracy"] <= 1  # the endpoint's classes are the model's own
    assert served_g3dmark["max_rel_diff"] < 1e-5 and 0.5 < served_g3dmark["r2"] <= 1  # ONNX trees in float32 against scikit-learn's
    assert "pid" not in served_category and not answers(served_category["url"] + "/ready")  # stopped by its PID


def _stop_left_server(workspace: Path) -> None:
    try:
        pid = json.loads((workspace / "tracking-server" / "server.json").read_text())["pid"]
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError):
        pass


def test_tracked_experiments_log_to_their_own_server_and_stop_it(env, workspace):
    try:
        # two runs, not the default three, to keep the test short: the best of two is still a choice
        folder, record = run(env, "tracked-experiments", statuses=("succeeded", "unavailable"), epochs=1,
                             configs="[{width: 8, max_lr: 0.003}, {width: 16, max_lr: 0.01}]")
    finally:
        _stop_left_server(workspace)
    assert workspace_datasets(workspace) == expected_datasets(record) == {"mnist"}
    server = out(record, "server")
    assert server["started"] is True and server["store"] == f"sqlite:///{workspace / 'tracking-server' / 'mlflow.db'}"
    run_ids = out(record, "runs")["run_ids"]
    assert len(run_ids) == 2 and len(set(run_ids)) == 2
    on_server = {r for (r,) in rows(workspace / "tracking-server" / "mlflow.db", "select run_uuid from runs")}
    assert set(run_ids) <= on_server
    in_workspace = {r for (r,) in rows(workspace / "mlflow.db", "select run_uuid from runs")} if (workspace / "mlflow.db").exists() else set()
    assert not set(run_ids) & in_workspace  # the workspace's own store holds the pipeline's run at most

    best = out(record, "best")
    accuracies = dict(zip(run_ids, out(record, "runs")["val_accuracy"]))
    assert best["run_id"] == max(accuracies, key=accuracies.get) and best["value"] == pytest.approx(max(accuracies.values()))
    assert rows(workspace / "tracking-server" / "mlflow.db", "select name, version, run_id from model_versions") == \
        [("tracked-cnn", 1, best["run_id"])]
    onnx = out(record, "onnx")
    assert onnx["max_abs_diff"] < 1e-4 and onnx["same_class"] and onnx["n_checked"] == 1000 and Path(onnx["paths"][0]).is_file()
    assert onnx["logged"] == ["export/onnx/model.onnx"]
    conformal = out(record, "conformal")
    assert conformal["run_id"] == best["run_id"] and conformal["calibration_read_back"] is True
    assert 0.9 < conformal["coverage"]["lac"] <= 1 and 0.9 < conformal["coverage"]["aps"] <= 1
    assert list((workspace / "tracking-server" / "artifacts").rglob(f"{best['run_id']}/artifacts/conformal/calibration_lac.json"))

    tensorrt = record["steps"]["tensorrt"]
    if importlib.util.find_spec("tensorrt") is None:
        assert tensorrt["status"] == "unavailable" and tensorrt["reason"] == "needs the Python module 'tensorrt', which is not installed here"
        assert "tensorrt" in record["status_note"]
    assert out(record, "stop")["stopped"] is True and set(out(record, "stop")["run_ids"]) == set(run_ids)
    assert not (workspace / "tracking-server" / "server.json").exists() and not answers(server["tracking_uri"] + "/health")
    assert not Path(f"/proc/{server['pid']}/cmdline").exists() or b"mlflow" not in Path(f"/proc/{server['pid']}/cmdline").read_bytes()
    listed = mlaas("models", "list", env={k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"})
    assert listed.returncode == 0 and "tracked-cnn" not in listed.stdout.split("(registered on")[0]  # not in the workspace's store
    assert "(registered on this workspace's tracking server, in its own store: tracked-cnn;" in listed.stdout  # told where it is
