"""The workbench's Jupyter Server extension: ``/mlaas/api/overview`` of a real workspace, served by
a JupyterLab that ``mlaas lab`` started, over real HTTP with and without the token."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from _servers import serving
from _workspace import module_workspace
from conftest import free_port

TOKEN = "server-ext-test"
RUN_NAME = "overview-forest"


def _track_one_run() -> tuple[str, str]:
    """A finished estimator run on mnist (seconds), registered as version 1 of ``overview-model`` (champion)."""
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from mlaas_kernel import track

    est = DummyClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1])
    run_id = track.log_estimator(est, name=RUN_NAME, metrics={"accuracy": 0.75, "loss": 0.5}, tags={"mlaas.dataset": "mnist"})
    client, exp_id = track.setup()
    client.create_registered_model("overview-model")
    client.create_model_version("overview-model", f"runs:/{run_id}/model", run_id=run_id, tags={"mlaas.key_metric": "accuracy"})
    client.set_registered_model_alias("overview-model", "champion", "1")
    return run_id, exp_id


def _study_and_pipeline_runs(ws) -> dict:
    """A study's parent run and its trial 3 (tagged as ``mlaas tune`` tags them), and a pipeline's own MLflow run made
    by the engine's tracking (experiment ``pipelines``); their run ids by role."""
    from mlaas_kernel import track
    from mlaas_kernel.pipelines._mlflow import PipelineTracking
    from mlaas_kernel.track._mlrun import create_run

    client, exp_id = track.setup()
    study = "mnist-cnn-20261201-153000"
    parent = create_run(client, exp_id, study, {"mlaas.kind": "study", "mlaas.study": study, "mlaas.dataset": "mnist"})
    trial = create_run(client, exp_id, f"{study}-3", {"mlaas.study": study, "mlaas.trial.number": "3", "mlflow.parentRunId": parent,
                                                       "mlaas.dataset": "mnist", "mlaas.model": "cnn"})
    pipeline = PipelineTracking(workspace_dir=ws).start(pipeline="digits", run="20261201-153000-a1b2", params={}, description="", existing=None)
    assert pipeline, "the engine's tracking made no pipeline run"
    return {"study": parent, "trial": trial, "pipeline": pipeline}


def _pipeline_run(ws, name: str, run: str, status: str, steps: dict, pid=None, reasons=None) -> None:
    """A run.json as the engine writes it (interfaces11.md), with the executed notebook of each step (``reasons``: a step's ``reason``)."""
    folder = ws / "pipelines" / name / run
    folder.mkdir(parents=True)
    for step in steps:
        (folder / f"{step}.ipynb").write_text("{}")
    record = {"pipeline": name, "run": run, "status": status, "started": "2026-12-01T15:30:00+00:00", "ended": None,
              "parameters": {}, "mlflow_run_id": None, "resumed_from": None, "missing": [], "pid": pid,
              "steps": {s: {"status": st, "output_notebook": f"{s}.ipynb", "reason": (reasons or {}).get(s)} for s, st in steps.items()}}
    (folder / "run.json").write_text(json.dumps(record))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, request):
    """``mlaas lab`` in a project folder whose workspace has mnist, 3 labels by 2 annotators, one run
    (registered), a study with a trial, a pipeline's MLflow run, and pipeline runs (failed, interrupted, running, one with an
    unavailable step); yields (base URL, workspace, run id, experiment id, {role: run id} of _study_and_pipeline_runs)."""
    from mlaas_kernel.labels import LabelStore

    with module_workspace(tmp_path_factory, "server-ext", datasets=("mnist",)) as ws:
        project = ws.parent
        shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "notebooks"), project / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        store = LabelStore()
        store.label("mnist", 0, "7", annotator="ana")
        store.label("mnist", 1, "2", annotator="ana")
        store.label("mnist", 1, "2", annotator="bo")
        store.close()
        run_id, exp_id = _track_one_run()
        _pipeline_run(ws, "digits", "20261201-153000-a1b2", "failed", {"ingest": "succeeded", "label": "cached", "train": "failed", "render": "skipped"})
        _pipeline_run(ws, "digits", "20261201-160000-c3d4", "running", {"ingest": "running"}, pid=2**22 + 1)  # no such pid
        _pipeline_run(ws, "tracked-experiments", "20261201-150000-e5f6", "succeeded",
                      {"train": "succeeded", "onnx": "cached", "tensorrt": "unavailable"}, reasons={"tensorrt": "needs gpu: no NVIDIA GPU here"})
        _pipeline_run(ws, "digits", "20261201-170000-a7b8", "running", {"ingest": "succeeded", "explore": "running", "label": "running",
                                                                       "train": "pending"}, pid=os.getpid())  # alive: this test
        made = _study_and_pipeline_runs(ws)
        env = dict(os.environ)
        for var, sub in [("JUPYTER_CONFIG_DIR", "jconfig"), ("JUPYTER_DATA_DIR", "jdata"), ("JUPYTER_RUNTIME_DIR", "jruntime")]:
            (project / sub).mkdir()
            env[var] = str(project / sub)
        (project / "user-settings").mkdir()  # the user's own Lab settings: nothing of ours may be written there
        env.update(JUPYTER_TOKEN=TOKEN, MLAAS_WORKSPACE=str(ws), PYTHONUNBUFFERED="1", JUPYTERLAB_SETTINGS_DIR=str(project / "user-settings"))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "mlaas_kernel", "lab", "--port", str(port), "--no-browser"]
        with serving(cmd, f"{base}/api/status?token={TOKEN}", env=env, cwd=project, log=project / "lab.log"):
            yield base, ws, run_id, exp_id, made


def _get(url: str, *, token: str | None = TOKEN) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:  # Jupyter's own 404 page is HTML
        return exc.code, json.loads(exc.read()) if "json" in exc.headers.get("Content-Type", "") else {}


def test_the_api_needs_the_token(lab):
    base = lab[0]
    for path in ("/mlaas/api/overview", "/mlaas/api/runs"):
        status, _ = _get(base + path, token=None)
        assert status in (401, 403), f"{path} answered {status} without the token"
        assert _get(base + path, token="wrong")[0] in (401, 403)


def test_overview_reads_the_workspace(lab):
    base, ws, run_id, exp_id, _ = lab
    status, body = _get(base + "/mlaas/api/overview")
    assert status == 200
    assert body["errors"] == {"datasets": None, "runs": None, "models": None, "pipelines": None}
    assert body["workspace"] == "workspace"  # relative to the server's root_dir
    (mnist,) = [d for d in body["datasets"] if d["name"] == "mnist"]
    assert (mnist["kind"], mnist["n_items"], mnist["labelled"], mnist["annotators"]) == ("images", 10_000, 2, 2)
    assert mnist["open"] == "notebooks/03_label.ipynb" and mnist["open_note"] == "Open notebooks/03_label.ipynb (on mnist)"
    (run,) = [r for r in body["runs"] if r["run_id"] == run_id]
    assert (run["name"], run["status"], run["dataset"], run["kind"]) == (RUN_NAME, "FINISHED", "mnist", "estimator")
    assert run["metric"] == {"name": "accuracy", "value": 0.75}
    assert run["open"] == f"/mlflow/#/experiments/{exp_id}/runs/{run_id}?workflowType=machine_learning"  # MLflow's Model training view
    (model,) = body["models"]
    assert model["name"] == "overview-model" and model["open"] == "/mlflow/#/models/overview-model"
    assert model["versions"] == [{"version": 1, "aliases": ["champion"], "run_id": run_id, "created": model["versions"][0]["created"],
                                  "metric": {"name": "accuracy", "value": 0.75}}]
    runs = {p["run"]: p for p in body["pipelines"]}
    assert list(runs) == ["20261201-170000-a7b8", "20261201-160000-c3d4", "20261201-153000-a1b2", "20261201-150000-e5f6"]  # newest first
    failed = runs["20261201-153000-a1b2"]
    assert (failed["pipeline"], failed["status"], failed["failed_step"], failed["steps_done"], failed["steps_total"]) == ("digits", "failed", "train", 2, 4)
    assert failed["open"] == "workspace/pipelines/digits/20261201-153000-a1b2/train.ipynb"
    assert runs["20261201-160000-c3d4"]["status"] == "interrupted"  # running, but its pid is dead
    assert failed["unavailable"] == {} and failed["steps_unavailable"] == 0 and failed["running_steps"] == []


def test_a_pipeline_row_names_every_running_step_and_the_unavailable_ones(lab):
    """Parallel workers run several steps at once: all of them are listed; a step this machine cannot run is
    counted apart from the done ones, with its reason (``mlaas pipeline status`` says "2/3 steps (1 unavailable)")."""
    runs = {p["run"]: p for p in _get(lab[0] + "/mlaas/api/pipelines")[1]["pipelines"]}
    running = runs["20261201-170000-a7b8"]
    assert (running["status"], running["running_steps"], running["running_step"]) == ("running", ["explore", "label"], "explore")
    assert (running["steps_done"], running["steps_total"], running["failed_step"]) == (1, 4, None)
    done = runs["20261201-150000-e5f6"]
    assert (done["status"], done["steps_done"], done["steps_total"], done["steps_unavailable"]) == ("succeeded", 2, 3, 1)
    assert done["unavailable"] == {"tensorrt": "needs gpu: no NVIDIA GPU here"}


def test_runs_leave_out_pipeline_runs_and_tell_trials_apart(lab):
    """A pipeline's own MLflow run is the Pipelines section's, not a run to list under Runs; a study's trial carries its
    study and number (the sidebar shows those, since a study's runs share the first 25 characters of their names)."""
    made = lab[4]
    rows = {r["run_id"]: r for r in _get(lab[0] + "/mlaas/api/runs")[1]["runs"]}
    assert made["pipeline"] not in rows, "the pipeline's own MLflow run is listed under Runs"
    assert {made["study"], made["trial"], lab[2]} <= set(rows)
    trial, study = rows[made["trial"]], rows[made["study"]]
    assert (trial["study"], trial["trial"], trial["parent"], trial["name"]) == ("mnist-cnn-20261201-153000", 3, made["study"], "mnist-cnn-20261201-153000-3")
    assert (study["kind"], study["study"], study["trial"]) == ("study", "mnist-cnn-20261201-153000", None)
    assert rows[lab[2]]["trial"] is None and rows[lab[2]]["study"] is None


def test_one_section_alone(lab):
    base, _, run_id, _, _ = lab
    status, body = _get(base + "/mlaas/api/runs")
    assert status == 200 and set(body) == {"runs", "errors"} and body["errors"] == {"runs": None}
    assert run_id in {r["run_id"] for r in body["runs"]}
    assert _get(base + "/mlaas/api/nothing")[0] == 404


def test_a_broken_store_is_reported_in_errors_and_the_rest_still_answers(lab):
    base, ws, run_id, _, _ = lab
    db = ws / "labels.db"
    saved = {p: p.read_bytes() for p in ws.glob("labels.db*")}
    try:
        for p in saved:
            p.unlink()
        db.write_bytes(b"this is not a SQLite database" * 200)
        status, body = _get(base + "/mlaas/api/overview")
        assert status == 200
        assert "labels.db" in body["errors"]["datasets"] and "not a database" in body["errors"]["datasets"]
        (mnist,) = body["datasets"]  # the datasets still list, without their progress
        assert mnist["labelled"] is None
        assert body["errors"]["runs"] is None and run_id in {r["run_id"] for r in body["runs"]}
    finally:
        db.unlink(missing_ok=True)
        for p, data in saved.items():
            p.write_bytes(data)


def test_lab_has_the_workbench_settings_and_labextension_without_writing_user_settings(lab):
    """The shipped settings are defaults of Lab's settings API (read through it), the user's folder
    stays empty, and Lab finds the mlaas-workbench labextension (JUPYTER_PATH)."""
    base, ws = lab[0], lab[1]
    status, body = _get(base + "/lab/api/settings/@jupyterlab/notebook-extension:tracker")
    assert status == 200
    props = body["schema"]["properties"]
    assert props["autoStartDefaultKernel"]["default"] is True and props["recordTiming"]["default"] is True
    status, body = _get(base + "/lab/api/settings/@jupyterlab/apputils-extension:notification")
    props = body["schema"]["properties"]
    assert props["checkForUpdates"]["default"] is False and props["fetchNews"]["default"] == "false"
    assert list((ws.parent / "user-settings").rglob("*")) == []
    with urllib.request.urlopen(f"{base}/lab?token={TOKEN}", timeout=60) as r:
        page = r.read().decode()
    assert '"name": "mlaas-workbench"' in page or '"name":"mlaas-workbench"' in page


def test_a_launcher_whose_program_is_missing_says_what_to_install(tmp_path):
    """The page a launcher serves in place of a program that is not installed (real HTTP, its own PID)."""
    from mlaas_kernel.server_ext import _proxies

    assert _proxies._missing("mlflow", "mlflow", "MLflow") is None  # installed here
    cmd = _proxies._missing("no_such_program_here", "no-such-program", "No Such Program")
    port = free_port()
    proc = subprocess.Popen([part.format(port=port) for part in cmd], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:  # waiting for the process to bind its port
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
            except urllib.error.HTTPError as exc:
                status, page = exc.code, exc.read().decode()
                break
            except urllib.error.URLError:
                assert proc.poll() is None and time.monotonic() < deadline, "the notice server did not start"
                time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    assert status == 503 and "pip install no-such-program" in page and "No Such Program is not installed" in page


def test_mlflow_allows_the_lab_origin_that_mlaas_lab_exports(monkeypatch):
    from mlaas_kernel.server_ext import _proxies

    monkeypatch.setenv("MLAAS_LAB_ORIGIN", "http://127.0.0.1:8123")
    conf = _proxies.mlflow()
    cmd = conf["command"]
    hosts, origins = cmd[cmd.index("--allowed-hosts") + 1].split(","), cmd[cmd.index("--cors-allowed-origins") + 1].split(",")
    assert {"127.0.0.1:8123", "localhost:8123"} <= set(hosts) and "http://127.0.0.1:8123" in origins
    assert conf["request_headers_override"] == {} and conf["absolute_url"] is False and cmd[cmd.index("--workers") + 1] == "1"
    monkeypatch.delenv("MLAAS_LAB_ORIGIN")
    conf = _proxies.mlflow()  # a plain `jupyter lab`: MLflow is shown the origin it allows by default
    assert "--allowed-hosts" not in conf["command"] and conf["request_headers_override"]["Host"] == "127.0.0.1:{port}"


def test_a_study_parent_shows_its_best_value_never_its_best_trial_number():
    """``mlaas_kernel.tune`` logs ``best_<metric>``, ``best_trial`` (a trial number) and ``trials_<state>`` on a study's parent run."""
    from mlaas_kernel.server_ext._runs import key_metric

    logged = {"best_trial": 0.0, "best_val_accuracy": 0.81, "trials_complete": 3.0}
    assert key_metric(logged, "study") == {"name": "best_val_accuracy", "value": 0.81}
    assert key_metric({"best_trial": 0.0, "best_value": -1.5}, "study") == {"name": "best_value", "value": -1.5}
    assert key_metric({"trials_fail": 2.0}, "study") is None  # no trial completed: nothing rather than a count
    assert key_metric({"best_trial": 0.0}, "cnn") == {"name": "best_trial", "value": 0.0}  # other kinds unchanged


def test_a_dataset_row_says_which_dataset_its_notebook_opens_on(tmp_path):
    """The notebook a table row opens starts on its ``table_source`` default: a row for another table says so."""
    from mlaas_kernel.server_ext._datasets import open_note

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    own = open_note("gpu-benchmarks", "table", notebooks, "notebooks/02_explore.ipynb")
    other = open_note("my-table", "table", notebooks, "notebooks/02_explore.ipynb")
    assert own == "Open notebooks/02_explore.ipynb (on gpu-benchmarks)"
    assert "opens on 'gpu-benchmarks'" in other and "set table_source = 'my-table'" in other
    assert open_note("mnist", "images", notebooks, "notebooks/03_label.ipynb") == "Open notebooks/03_label.ipynb (on mnist)"
    assert open_note("mnist", "images", notebooks, None) is None  # nothing to open, nothing to say
