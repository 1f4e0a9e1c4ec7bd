"""The digits, image-classifier and platform pipelines run headless (`mlaas pipeline run NAME`) in a fresh workspace.

Each runs as a user runs it, a real process on a temporary workspace with its own MLflow store; the
assertions read what the steps published (run.json), the saved notebooks and the stores themselves.
The digits pipeline first fails in its train step, then is resumed: the steps before train are kept.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from _cli import mlaas
from _pipelines import assert_succeeded, check_steps, expected_datasets, outputs, run_pipeline, workspace_datasets
from conftest import REPO

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def _without_limits(tmp_path, name: str) -> Path:
    """A pipelines folder with a copy of pipeline ``name`` whose ``limits:`` are dropped (its notebooks are the
    repository's), so a test can make a middle step fail on a value the real spec refuses before anything runs."""
    import yaml

    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "notebooks").symlink_to(REPO / "notebooks")
    spec = yaml.safe_load((REPO / "pipelines" / f"{name}.yaml").read_text())
    assert spec.pop("limits")
    (project / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return project / "pipelines"


def test_digits_fails_in_train_then_resumes(env, workspace, tmp_path):
    from mlaas_kernel import track
    from mlaas_kernel.labels import load_snapshot

    small = {"simulate": 30, "n_items": 300, "holdout": 200, "embedding_samples": 200}
    refused = mlaas("pipeline", "run", "digits", "-p", "epochs", "0", env=env, cwd=REPO)
    assert refused.returncode == 2 and "parameter 'epochs' must be at least 1 (got 0)" in refused.stderr  # at once
    assert not (workspace / "pipelines" / "digits").exists()  # nothing ran

    env = {**env, "MLAAS_PIPELINES": str(_without_limits(tmp_path, "digits"))}  # train itself refuses -1, a minute in
    proc, failed_dir, failed = run_pipeline(env, "digits", epochs=-1, **small)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert failed["status"] == "failed"
    assert [failed["steps"][s]["status"] for s in ("ingest", "explore", "label", "train", "dashboard")] == \
        ["succeeded", "succeeded", "succeeded", "failed", "skipped"]
    error = failed["steps"]["train"]["error"]
    assert "total_steps" in error["evalue"] or "epochs" in error["evalue"], error
    assert error["evalue"] in proc.stdout + proc.stderr and "await monitor.finished()" in proc.stdout + proc.stderr  # the failing cell, printed
    kept = {s: (failed_dir / f"{s}.ipynb").read_bytes() for s in ("ingest", "explore", "label")}

    # 2 epochs (of 30 labelled digits: no time), so the dashboard's curves show a history, not one point
    proc, folder, record = run_pipeline(env, "digits", "--resume", failed["run"], epochs=2, **small)
    assert_succeeded(proc, folder, record, statuses=("succeeded", "cached"))
    assert failed["run"] in (record["resumed_from"] or "") and record["parameters"]["epochs"] == 2
    for step, before in kept.items():  # the steps before train come from the failed run, not from a new execution
        saved = (folder / f"{step}.ipynb").read_bytes()
        meta = nbformat.reads(saved.decode(), as_version=4).metadata.get("mlaas", {})
        assert saved == before or meta.get("cached_from"), step
        assert record["steps"][step]["status"] in ("succeeded", "cached")
    assert record["steps"]["train"]["cached_from"] is None

    label, train = outputs(record, "label"), outputs(record, "train")
    assert label["labelled"] == 30 and label["snapshot"].startswith("mnist@sha256:")
    assert len(load_snapshot(label["snapshot"])) == 30  # the simulated annotator's labels, as a snapshot
    client, _ = track.setup()
    run = client.get_run(train["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["mlaas.labels.snapshot"] == label["snapshot"]
    assert run.data.metrics["val_accuracy"] == pytest.approx(train["metrics"]["val_accuracy"]) and train["epochs_run"] == 2
    assert train["run_id"] in outputs(record, "dashboard")["shown"]  # the dashboard rendered headless shows the run
    # every step notebook shows what it shows run alone (test_notebooks' checks), the dashboard this run's curves
    dashboard = {"run": (train["run_id"], run.info.run_name, 2)}
    assert check_steps(folder, record, dashboard=dashboard) == ["ingest", "explore", "label", "train", "dashboard"]
    assert workspace_datasets(workspace) == expected_datasets(record) == {"mnist", "gpu-benchmarks"}  # 02 reads the GPU table


def test_image_classifier_blue_green_and_batch_validation(env, workspace):
    from mlaas_kernel import registry

    proc, folder, record = run_pipeline(env, "image-classifier", nproc=2, epochs=1, batch_size=512, request_size=250)
    assert_succeeded(proc, folder, record)
    check_steps(folder, record)
    first, second = outputs(record, "train"), outputs(record, "train_challenger")
    assert first["world_size"] == second["world_size"] == 2 and first["run_id"] != second["run_id"]
    evaluated = nbformat.read(folder / "evaluate.ipynb", as_version=4)
    figures = [o for c in evaluated.cells for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert figures  # the confusion matrix and ROC, drawn

    (model,) = [m for m in registry.list_models() if m.name == "ic-cnn"]
    assert sorted(v.version for v in model.versions) == [1, 2]
    assert model.aliases.get("champion") == 2 and "challenger" not in model.aliases
    assert [h["version"] for h in registry.alias_history("ic-cnn", "champion")][-2:] == [1, 2]
    assert registry.resolve("ic-cnn@champion").run_id == second["run_id"]

    switch = outputs(record, "bluegreen")
    assert switch["errors"] == 0 and switch["old_answers"] > 0 and switch["new_answers"] > 0, switch
    assert switch["requests"] == switch["old_answers"] + switch["new_answers"]

    batch, offline = outputs(record, "batch_validate"), outputs(record, "evaluate_challenger")
    assert batch["version"] == 2 and batch["n"] == offline["n_items"] and batch["batches"] == -(-batch["n"] // 250)
    assert batch["accuracy"] == pytest.approx(offline["accuracy"], abs=0.5 / batch["n"])


def test_platform_tensorboard_optuna_mlflow_onnx_serving(env, workspace):
    proc, folder, record = run_pipeline(env, "platform", epochs=1, n_trials=2, n_items=100)
    assert_succeeded(proc, folder, record)
    assert check_steps(folder, record) == list(record["steps"])  # 04 (1 epoch on every digit) and 05 as run alone
    assert workspace_datasets(workspace) == expected_datasets(record) == {"mnist"}  # 04 ingests what it trains on
    assert record["missing"] and "TensorRT" in record["missing"][0]
    board = outputs(record, "tensorboard")
    assert board["run_id"] == outputs(record, "train")["run_id"] and {"loss", "val_accuracy", "val_loss"} <= set(board["tags"])
    assert all(Path(f).stat().st_size > 0 for f in board["event_files"])

    tune, best = outputs(record, "tune"), outputs(record, "mlflow")
    assert tune["complete"] + tune["pruned"] == 2 and best["n_trials"] == 2
    assert best["best_run_id"] == tune["best_run_id"] and best["best_value"] == pytest.approx(tune["best_value"])

    onnx = outputs(record, "onnx")
    assert onnx["run_id"] == best["best_run_id"] and onnx["same_class"] and onnx["max_abs_diff"] < 1e-4
    assert set(onnx["latency_ms"]) == {"1", "32", "256"}
    assert all(t["onnxruntime"] > 0 and t["torch"] > 0 for t in onnx["latency_ms"].values())

    served = outputs(record, "serve")
    assert served["n"] == 100 and served["accuracy"] > 0.5 and outputs(record, "register")["run_id"] == best["best_run_id"]
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # the endpoint was stopped
        urllib.request.urlopen(served["url"] + "/health", timeout=5)
