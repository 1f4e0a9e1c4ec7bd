"""The MLflow, TensorBoard and Optuna launchers in JupyterLab started by ``mlaas lab``, in Chromium:
each program runs behind Lab's proxy on the workspace, and none outlives Lab."""

from __future__ import annotations

import sys
import time

import pytest

from _browser import ConsoleErrors
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


def _one_run() -> tuple[str, str]:
    """A finished run in the workspace's MLflow store (an estimator: no training)."""
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from mlaas_kernel import track

    run_id = track.log_estimator(DummyClassifier().fit(np.zeros((2, 1)), [0, 1]), name=RUN_NAME, metrics={"accuracy": 0.5})
    return run_id, track.setup()[1]


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


def _tab(page, base: str, path: str):
    """A new tab of the same browser on ``path`` (failing the test on its console errors too)."""
    tab = page.context.new_page()
    tab.set_default_navigation_timeout(180_000)  # a cold start on a busy machine, as browser_page allows
    tab.console_errors = ConsoleErrors()
    tab.console_errors.attach(tab)
    tab.goto(base + path)
    return tab


def test_launchers_open_mlflow_tensorboard_and_optuna_through_the_proxy(browser_page, project_copy, jupyter_env, workspace, port, artifacts):
    page = browser_page
    run_id, exp_id = _one_run()
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

        started = time.perf_counter()
        with page.context.expect_page(timeout=180_000) as opened:  # the tab shows once MLflow answers (a cold start)
            cards["MLflow"].first.click()
        mlflow = opened.value
        mlflow.set_default_navigation_timeout(180_000)
        mlflow.console_errors = ConsoleErrors()
        mlflow.console_errors.attach(mlflow)
        mlflow.wait_for_url("**/mlflow/**", timeout=180_000)
        mlflow.goto(f"{base}/mlflow/#/experiments/{exp_id}/runs/{run_id}", timeout=180_000)  # the overview's link to the run
        mlflow.get_by_text(RUN_NAME).first.wait_for(timeout=180_000)
        print(f"MLflow's run page through the proxy {time.perf_counter() - started:.1f} s after the click (cold start)")
        mlflow.screenshot(path=str(artifacts / "mlflow-run.png"))

        tensorboard = _tab(page, base, "/tensorboard/")
        tensorboard.get_by_text("No dashboards are active").first.wait_for(timeout=120_000)  # its app ran and asked its data API
        tensorboard.screenshot(path=str(artifacts / "tensorboard.png"))

        optuna = _tab(page, base, "/optuna-dashboard/dashboard")
        optuna.get_by_text(STUDY).first.wait_for(timeout=120_000)  # its bundle loaded and its API answered with the workspace's study
        optuna.screenshot(path=str(artifacts / "optuna.png"))

        for tab in (mlflow, tensorboard, optuna):
            errors = [e for e in tab.console_errors if not e.endswith(NOT_OURS)]
            tab.close()
            assert not errors, f"{tab.url}: {errors}"
        page.goto("about:blank")
        servers = [p.pid for p in _process(lab.pid).children(recursive=True)]
        assert len(servers) >= 3, f"expected MLflow, TensorBoard and optuna-dashboard under Lab, found {servers}"
    left = _stopped(servers, 30)
    assert not left, f"processes Lab started outlived it (killed now): {left}"
