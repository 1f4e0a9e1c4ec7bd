"""The MLflow, TensorBoard and Optuna launchers in JupyterLab started by ``mlaas lab``, in Chromium:
each program runs behind Lab's proxy on the workspace, and none outlives Lab."""

from __future__ import annotations

import sys
import time

import pytest

from _servers import serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TOKEN = "launchers-test"
RUN_NAME = "launcher-run"
STUDY = "launcher-study"
# MLflow 3.17's UI asks for the signed-in user; a server without basic-auth answers 404 (through
# the proxy or not: `mlaas mlflow` logs the same), which Chromium logs as a console error.
NOT_OURS = ("/ajax-api/2.0/mlflow/users/current)",)


def _one_study() -> None:
    """An Optuna study in the workspace's study storage, as ``mlaas tune`` keeps them (no trials)."""
    import optuna

    from mlaas_kernel.tune import storage

    optuna.create_study(study_name=STUDY, storage=storage(heartbeat=False))


def _one_run() -> tuple[str, str, str]:
    """A finished run in the workspace's MLflow store (an estimator: no training)."""
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from mlaas_kernel import track

    run_id = track.log_estimator(DummyClassifier().fit(np.zeros((2, 1)), [0, 1]), name=RUN_NAME, metrics={"accuracy": 0.5})
    client, exp_id = track.setup()
    return run_id, exp_id, client.get_experiment(exp_id).name


def _stopped(pids: list[int], seconds: float) -> list[int]:
    """The processes of ``pids`` still alive after ``seconds`` (each then killed, so none is left behind)."""
    import psutil

    procs = [p for p in (_process(pid) for pid in pids) if p is not None]
    _, alive = psutil.wait_procs(procs, timeout=seconds)
    for p in alive:
        p.kill()
    return [p.pid for p in alive]


def _process(pid: int):
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _in_lab(page, card, path: str):
    """Click a launcher card: the program opens in a Lab tab (jupyter-server-proxy's iframe), not a browser tab;
    returns the iframe's frame, once on ``path`` (under base_url)."""
    card.click()
    iframe = page.locator(f".jp-ServerProxy iframe[src*='{path}']")
    iframe.wait_for(timeout=60_000)
    frame = iframe.element_handle().content_frame()
    frame.wait_for_url(f"**{path}**", timeout=180_000)  # a cold start on a busy machine, as browser_page allows
    return frame


def test_launchers_open_mlflow_tensorboard_and_optuna_through_the_proxy(browser_page, project_copy, jupyter_env, workspace, port, artifacts):
    page = browser_page
    run_id, exp_id, experiment = _one_run()
    _one_study()
    env = {**jupyter_env, "JUPYTER_TOKEN": TOKEN, "MLAAS_WORKSPACE": str(workspace)}
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "lab", "--port", str(port), "--no-browser"]
    with serving(cmd, f"{base}/api/status?token={TOKEN}", env=env, cwd=project_copy, log=artifacts / "lab.log") as lab:
        page.goto(f"{base}/lab?token={TOKEN}")
        cards = {title: page.locator(".jp-LauncherCard", has_text=title) for title in ("MLflow", "TensorBoard", "Optuna")}
        for title, card in cards.items():
            card.first.wait_for(timeout=120_000)
            assert card.first.locator("img").get_attribute("src"), f"the {title} launcher has no icon"
        page.screenshot(path=str(artifacts / "launcher.png"))

        pages = len(page.context.pages)  # a persistent context also has its first blank page
        started = time.perf_counter()
        mlflow = _in_lab(page, cards["MLflow"].first, "/mlflow/")
        mlflow.wait_for_url("**/mlflow/#/experiments?workflowType=machine_learning", timeout=180_000)  # not the GenAI home page
        mlflow.get_by_text(experiment).first.wait_for(timeout=180_000)
        page.screenshot(path=str(artifacts / "mlflow-experiments.png"))
        print(f"MLflow's experiments in a Lab tab {time.perf_counter() - started:.1f} s after the click (cold start)")
        mlflow.goto(f"{base}/mlflow/#/experiments/{exp_id}/runs/{run_id}?workflowType=machine_learning", timeout=180_000)  # the overview's link to the run
        mlflow.get_by_text(RUN_NAME).first.wait_for(timeout=180_000)
        page.screenshot(path=str(artifacts / "mlflow-run.png"))

        page.get_by_role("menuitem", name="File", exact=True).click()
        page.get_by_role("menuitem", name="New Launcher").click()
        tensorboard = _in_lab(page, page.locator(".jp-LauncherCard:visible", has_text="TensorBoard").first, "/tensorboard/")
        tensorboard.get_by_text("No dashboards are active").first.wait_for(timeout=120_000)  # its app ran and asked its data API
        page.screenshot(path=str(artifacts / "tensorboard.png"))

        page.get_by_role("menuitem", name="File", exact=True).click()
        page.get_by_role("menuitem", name="New Launcher").click()
        optuna = _in_lab(page, page.locator(".jp-LauncherCard:visible", has_text="Optuna").first, "/optuna-dashboard/dashboard")
        optuna.get_by_text(STUDY).first.wait_for(timeout=120_000)  # its bundle loaded and its API answered with the workspace's study
        page.screenshot(path=str(artifacts / "optuna.png"))
        assert len(page.context.pages) == pages, "a launcher opened a browser tab"
        # The iframes' console is the page's: MLflow's request for a signed-in user is expected (NOT_OURS).
        page.console_errors[:] = [e for e in page.console_errors if not e.endswith(NOT_OURS)]
        page.goto("about:blank")
        servers = [p.pid for p in _process(lab.pid).children(recursive=True)]
        assert len(servers) >= 3, f"expected MLflow, TensorBoard and optuna-dashboard under Lab, found {servers}"
    left = _stopped(servers, 30)
    assert not left, f"processes Lab started outlived it (killed now): {left}"
