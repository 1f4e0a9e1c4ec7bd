"""JupyterLab and Voilà in Debian's Chromium, driven by Playwright, as people use them."""

from __future__ import annotations

import re
import sys

import pytest
from playwright.sync_api import expect

from _servers import serving

pytestmark = [pytest.mark.browser]


def test_lab_runs_the_explore_notebook(browser_page, project_copy, jupyter_env, workspace, port, artifacts):
    page = browser_page
    env = {**jupyter_env, "JUPYTER_TOKEN": "workbench-test", "MLAAS_WORKSPACE": str(workspace)}
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "lab", "--port", str(port), "--no-browser"]
    with serving(cmd, f"{base}/api/status?token=workbench-test", env=env, cwd=project_copy, log=artifacts / "lab.log"):
        page.goto(f"{base}/?token=workbench-test")  # redirects to the default URL mlaas lab sets
        # mlaas lab opens the file browser on notebooks/
        page.locator(".jp-DirListing-item[title*='02_explore.ipynb']").dblclick(timeout=60_000)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
        page.locator(".jp-NotebookPanel .jp-Notebook").click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        # Only a kernel round trip can produce these: the fallback print, the widget, the charts.
        page.locator(".jp-OutputArea-output:has-text('backend: cpu'), .jp-OutputArea-output:has-text('backend: gpu')").wait_for(timeout=180_000)
        badge = page.locator(".mlaas-badge")
        badge.wait_for(timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == 4
        device = badge.get_attribute("data-device")
        assert device in ("cpu", "gpu")
        badge.scroll_into_view_if_needed()  # JupyterLab skips painting cells out of view
        expect(badge.locator(".mlaas-badge-pill")).to_have_text(re.compile("^" + device.upper()))
        badge.locator(".mlaas-badge-pill").click()  # opens the fallback list, a round trip through the model
        expect(badge.locator(".mlaas-badge-list li").first).to_be_visible()
        page.screenshot(path=str(artifacts / "lab-02_explore.png"), full_page=False)
        page.locator(".js-plotly-plot").nth(1).scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "lab-02_explore-chart.png"), full_page=False)
        assert (workspace / "datasets" / "gpu-benchmarks" / "manifest.json").exists()


def test_voila_dashboard_renders_the_explore_notebook(browser_page, project_copy, jupyter_env, workspace, port, artifacts):
    page = browser_page
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "notebooks/02_explore.ipynb", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila.log", timeout=120):
        page.goto(base + "/")
        badge = page.locator(".mlaas-badge")
        badge.wait_for(timeout=180_000)
        page.locator(".js-plotly-plot").nth(3).wait_for(timeout=180_000)
        page.locator("text=/backend: (cpu|gpu)/").wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts / "voila-02_explore.png"), full_page=False)
        page.locator(".js-plotly-plot").nth(3).scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "voila-02_explore-embedding.png"), full_page=False)
        assert page.locator(".js-plotly-plot").count() == 4
        assert badge.get_attribute("data-device") in ("cpu", "gpu")
        assert page.locator(".cm-editor, .CodeMirror").count() == 0  # outputs only, no code


def test_training_dashboard_shows_a_runs_curve(browser_page, project_copy, jupyter_env, workspace, port, artifacts, monkeypatch):
    from mlaas_kernel import data
    from mlaas_kernel.train import train_dataset

    monkeypatch.setenv("MLAAS_WORKSPACE", str(workspace))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data.ingest("mnist", progress=False)
    result = train_dataset("mnist", epochs=2, device="cpu")
    page = browser_page
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "training", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila.log"):
        page.goto(base + "/")
        page.locator(".jp-RenderedPlotly").first.wait_for(timeout=120_000)
        # the run's curves are drawn: one legend entry per metric of the selected run
        expect(page.locator(".jp-RenderedPlotly .legendtext").first).to_contain_text(f"mnist-cnn ({result.run_id[:6]})", timeout=60_000)
        expect(page.locator(".mlaas-runs")).to_contain_text("FINISHED")
        assert page.locator(".jp-RenderedPlotly .scatterlayer .trace").count() == 3
        assert page.locator(".jp-RenderedPlotly .scatterlayer .trace .point").count() == 6  # 3 metrics x 2 epochs
        assert result.run_id[:6] in page.locator("select").first.inner_text()
        page.screenshot(path=str(artifacts / "training-dashboard.png"), full_page=True)
