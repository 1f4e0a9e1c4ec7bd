"""Experiments open on MLflow's "Model training" view, not GenAI: every experiment the workbench makes (or
opens, from an older workspace) is tagged as model training, and the MLflow page Lab's proxy serves seeds
the browser's view and leaves the Assistant panel closed (MLflow 3.17 reads the view from localStorage)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlaas_kernel.server_ext._rewrite import mlflow_defaults
from mlaas_kernel.track._mlflow_page import with_mlflow_defaults
from mlaas_kernel.track._kind import KIND_TAG, TRAINING

RUN_NAME = "kind-run"
# MLflow 3.17's UI asks for the signed-in user; a server without basic-auth answers 404 (test_lab_launchers)
NOT_OURS = ("/ajax-api/2.0/mlflow/users/current)",)


def _mlflow_page() -> bytes:
    """The page MLflow's server sends for ``/`` (its build's index.html)."""
    import mlflow.server

    return (Path(mlflow.server.__file__).parent / "js" / "build" / "index.html").read_bytes()


def test_setup_creates_experiments_as_model_training(workspace):
    from mlaas_kernel import track

    client, exp_id = track.setup("pipelines")
    assert client.get_experiment(exp_id).tags.get(KIND_TAG) == TRAINING
    assert client.get_experiment_by_name("Default").tags.get(KIND_TAG) == TRAINING  # made with the store


def test_setup_tags_an_older_workspaces_experiment_and_keeps_a_chosen_kind(workspace):
    from mlflow.tracking import MlflowClient

    from mlaas_kernel import track

    uri = track.tracking_uri()
    track.setup("mlaas")  # the store
    raw = MlflowClient(tracking_uri=uri)
    old = raw.create_experiment("tune-old", artifact_location=(workspace / "mlartifacts").as_uri())  # as before this change
    genai = raw.create_experiment("agents", tags={KIND_TAG: "genai_development"})
    assert KIND_TAG not in raw.get_experiment(old).tags
    _, exp_id = track.setup("tune-old")
    assert exp_id == old and raw.get_experiment(old).tags[KIND_TAG] == TRAINING
    track.setup("agents")
    assert raw.get_experiment(genai).tags[KIND_TAG] == "genai_development"  # someone's choice stays


class _Response:
    """What jupyter-server-proxy hands ``rewrite_response``: a body and its headers."""

    def __init__(self, body: bytes, headers: dict):
        self.body, self.headers = body, headers


def test_mlflow_page_seeds_storage_once_and_other_bodies_pass():
    page = _mlflow_page()
    zipped = _Response(gzip.compress(page), {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"})
    mlflow_defaults(zipped)
    seeded = gzip.decompress(zipped.body)
    assert seeded.startswith(page[: page.index(b"<head>") + 6] + b'<script data-mlaas="mlflow-defaults">')
    assert b'"mlflow.workflowType_v1": "\\"machine_learning\\""' in seeded
    assert zipped.headers["Content-Length"] == str(len(zipped.body))
    assert with_mlflow_defaults(seeded) == seeded  # never twice
    other = b"<html><head><title>TensorBoard</title></head></html>"
    assert with_mlflow_defaults(other) == other
    script = _Response(b"var x=1;", {"Content-Type": "application/javascript"})
    mlflow_defaults(script)
    assert script.body == b"var x=1;"


def _start_mlflow(uri: str, port: int, *extra: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`mlflow server` with one worker on 127.0.0.1:port, once it answers /health."""
    env = {**(env or os.environ), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", *extra], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).close()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"mlflow server on port {port} did not answer /health (exit {proc.poll()})")
            time.sleep(0.3)


@pytest.fixture
def mlflow_ui(workspace, port):
    """`mlflow server` (as Lab's launcher runs it: one worker) over a workspace with a finished run in the
    ``pipelines`` experiment; yields its URL. Stopped by its PID."""
    from mlaas_kernel import track

    client, exp_id = track.setup("pipelines")
    run = client.create_run(exp_id, run_name=RUN_NAME)
    client.log_metric(run.info.run_id, "accuracy", 0.5)
    client.set_terminated(run.info.run_id)
    proc, url = _start_mlflow(track.tracking_uri(), port)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.browser
def test_clicked_experiment_opens_runs_and_assistant_stays_closed(browser_page, mlflow_ui, artifacts):
    """The page goes through the proxy's rewrite (here Playwright's route, fed MLflow's real response): from
    the launcher's list, a click on an experiment shows its runs, not GenAI's Overview. Without the rewrite this
    fails (measured: Overview with "Detect Issues in Your Traces", and the Assistant panel open)."""
    page = browser_page

    def rewritten(route):
        response = route.fetch()
        # Playwright hands the body decoded, under lower-case header names (Tornado's headers ignore case)
        headers = {k.title(): v for k, v in response.headers.items() if k not in ("content-encoding", "content-length")}
        body = _Response(response.body(), headers)
        mlflow_defaults(body)
        route.fulfill(response=response, body=body.body, headers=body.headers)

    page.route(f"{mlflow_ui}/", rewritten)
    page.goto(f"{mlflow_ui}/#/experiments?workflowType=machine_learning")  # the launcher's start page
    page.get_by_role("link", name="pipelines", exact=True).click(timeout=30_000)
    page.get_by_role("link", name=RUN_NAME).first.wait_for(timeout=30_000)  # the Runs table
    assert page.get_by_text("Detect Issues").count() == 0
    page.locator("button[data-assistant-ui]").wait_for(timeout=10_000)  # the Assistant's button, its panel shut
    assert page.locator("[data-component-id='mlflow.assistant.chat_panel.close']").count() == 0
    page.screenshot(path=str(artifacts / "mlflow-experiment-runs.png"))
    page.console_errors[:] = [e for e in page.console_errors if not e.endswith(NOT_OURS)]


@pytest.mark.slow
def test_mlflow_server_app_name_mlaas_serves_the_seeded_page(workspace, port):
    """`mlflow server --app-name mlaas` (what `mlaas mlflow` runs when the entry point is installed): its page
    carries the seed, compressed or not, and its API answers as MLflow's own app does."""
    import json

    from mlaas_kernel import track

    track.setup("pipelines")
    # The entry point as pyproject.toml declares it is the one installed (make setup), and mlaas mlflow's arguments use it
    import importlib.metadata
    import tomllib

    from conftest import REPO

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["mlflow.app"]["mlaas"]
    installed = {e.name: e.value for e in importlib.metadata.entry_points(group="mlflow.app")}
    assert installed.get("mlaas") == declared == "mlaas_kernel.track._mlflow_page:mlflow_app"
    env = dict(os.environ)
    args = subprocess.run([sys.executable, "-c", "from mlaas_kernel.track._mlflow_page import mlflow_app_args as a; print(a())"],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert args == "['--app-name', 'mlaas']"
    proc, url = _start_mlflow(track.tracking_uri(), port, "--app-name", "mlaas", env=env)
    try:
        for encoding in ("identity", "gzip"):
            req = urllib.request.Request(url + "/", headers={"Accept-Encoding": encoding})
            with urllib.request.urlopen(req, timeout=10) as r:
                page = r.read()
                assert r.headers.get("Content-Length") == str(len(page))
            assert page.startswith(b'<!doctype html><html lang="en"><head><script data-mlaas="mlflow-defaults">'), page[:120]
        req = urllib.request.Request(url + "/ajax-api/2.0/mlflow/experiments/search", data=b'{"max_results": 10}',
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            names = {e["name"] for e in json.load(r)["experiments"]}
        assert names == {"Default", "pipelines"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
