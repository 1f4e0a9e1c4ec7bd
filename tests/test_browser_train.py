"""04_train in Debian's Chromium: Run All, then Stop ends the run within seconds and the cells after it run."""

from __future__ import annotations

import sys

import nbformat
import pytest
from playwright.sync_api import expect

from _browser import lab_run_all
from _servers import serving

pytestmark = [pytest.mark.browser]

STOP = "button.widget-button[title='end after the current step']"


def _long_run(project_copy) -> None:
    """Give the copy's parameters cell a run far longer than the test waits."""
    path = project_copy / "notebooks" / "04_train.ipynb"
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert "epochs = 3" in cell.source
    cell.source = cell.source.replace("epochs = 3", "epochs = 500")
    nbformat.write(nb, path)


def _assert_killed_by_stop(workspace) -> str:
    from mlaas_kernel import track

    [run] = track.runs(workspace_dir=workspace)
    assert run.info.status == "KILLED" and run.data.tags["mlaas.stopped"].startswith("by user, after epoch ")
    return run.info.run_id


def _stop_when_training(page) -> None:
    stop = page.locator(STOP)
    expect(stop).to_be_enabled(timeout=240_000)
    page.locator("text=/epoch 1\\/500 · step \\d+\\//").wait_for(timeout=240_000)  # steps are being made
    stop.click()
    expect(page.locator("text=/stopped by you (during|after) epoch \\d+ of 500/")).to_have_count(1, timeout=120_000)


def test_lab_run_all_then_stop(browser_page, project_copy, jupyter_env, workspace, port, artifacts, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _long_run(project_copy)
    page = browser_page
    env = {**jupyter_env, "JUPYTER_TOKEN": "workbench-test", "MLAAS_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "lab", "--port", str(port), "--no-browser"]
    with serving(cmd, f"{base}/api/status?token=workbench-test", env=env, cwd=project_copy, log=artifacts / "lab.log"):
        page.goto(f"{base}/?token=workbench-test")
        page.locator(".jp-DirListing-item[title*='04_train.ipynb']").dblclick(timeout=60_000)
        lab_run_all(page)
        _stop_when_training(page)
        # the waiting cell ends and prints the result: only the kernel, once training has ended, can write it
        result = page.locator(".jp-OutputArea-output:has-text('run id:')")
        expect(result).to_contain_text("(stopped)", timeout=120_000)
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
        result.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "lab-04_train-stopped.png"), full_page=False)
        run_id = _assert_killed_by_stop(workspace)
        expect(result).to_contain_text(run_id)
        page.goto("about:blank")  # leave before the server stops, or the page logs its refused polls


def test_voila_stop_then_the_cells_after_it_run(browser_page, project_copy, jupyter_env, workspace, port, artifacts, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _long_run(project_copy)
    page = browser_page
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    base = f"http://127.0.0.1:{port}"
    # as a user types it: 04's metadata asks mlaas dashboard to run it live (a preheated kernel would
    # train before anyone could press Stop), cell by cell as the page watches
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "notebooks/04_train.ipynb", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila.log"):
        page.goto(base + "/")
        _stop_when_training(page)
        expect(page.locator("text=/run id: \\w+ \\(stopped\\)/")).to_have_count(1, timeout=120_000)
        page.screenshot(path=str(artifacts / "voila-04_train-stopped.png"), full_page=True)
        run_id = _assert_killed_by_stop(workspace)
        expect(page.locator(f"text=/run id: {run_id}/")).to_have_count(1)
        page.goto("about:blank")
