"""JupyterLab and Voilà in Debian's Chromium, driven by Playwright, as people use them."""

from __future__ import annotations

import re
import sys

import pytest
from playwright.sync_api import expect

from _browser import lab_run_all
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
        lab_run_all(page)
        # Only a kernel round trip can produce these: the fallback print, the widget, the charts.
        page.locator(".jp-OutputArea-output:has-text('backend: cpu'), .jp-OutputArea-output:has-text('backend: gpu')").wait_for(timeout=180_000)
        badge = page.locator(".mlaas-badge")
        badge.wait_for(timeout=30_000)
        page.locator(".js-plotly-plot").nth(3).wait_for(timeout=60_000)  # the charts widget renders after its cell's output
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
        page.goto("about:blank")  # leave before the server stops, or the page logs its lost websocket


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
        assert page.locator("text=no data yet").count() == 0 and page.locator("text=model not found").count() == 0
        page.set_viewport_size({"width": 700, "height": 1000})  # wide tables scroll sideways instead of being cut off
        scrolled = page.evaluate("() => [...document.querySelectorAll('table.dataframe')].map(t => { t.parentElement.scrollLeft = 50; return t.parentElement.scrollLeft; })")
        assert len(scrolled) == 4 and all(x > 0 for x in scrolled), scrolled
        kernel = page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")
        page.goto("about:blank")  # leaving the page shuts its kernel down (once a 403 left every visit's kernel running)
        _wait_for_log(artifacts / "voila.log", f"Kernel shutdown: {kernel}")
        assert "403 POST /voila/api/shutdown" not in (artifacts / "voila.log").read_text()


def _wait_for_log(log, text, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{log.name} never said {text!r}:\n{log.read_text(errors='replace')[-2000:]}"
        time.sleep(0.2)  # reading a server's log file, not waiting on the UI


def _log_run(client, exp_id, name, *, epochs, finished=True, start=None):
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    run_id = client.create_run(exp_id, run_name=name, start_time=start or now).info.run_id
    metrics = [Metric(k, 1.0 / e, now, e) for k in ("loss", "val_loss", "val_accuracy") for e in range(1, epochs + 1)]
    client.log_batch(run_id, metrics=metrics or [Metric("accuracy", 0.9, now, 0)])
    if finished:
        client.set_terminated(run_id, "FINISHED")
    return run_id


def test_training_dashboard_follows_the_store_live(browser_page, project_copy, jupyter_env, workspace, port, artifacts, monkeypatch):
    """Runs appear, grow and finish in the page without Refresh; the newest run with curves is shown."""
    from mlflow.entities import Metric

    from mlaas_kernel import track

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, exp_id = track.setup()
    _log_run(client, exp_id, "older-cnn", epochs=2)
    tabular = _log_run(client, exp_id, "gpu-forest", epochs=0)  # newer, but nothing to plot
    page = browser_page
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "training", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila.log"):
        fresh = _log_run(client, exp_id, "mnist-cnn", epochs=2)  # after the preheated kernel started
        page.goto(base + "/")
        table = page.locator(".mlaas-runs")
        expect(table).to_contain_text(fresh, timeout=120_000)  # the list is current, with full run ids
        expect(page.locator(".jp-RenderedPlotly .legendtext")).to_have_text([f"mnist-cnn ({fresh[:6]})"])  # one entry per run
        expect(page.locator(".jp-RenderedPlotly .scatterlayer .trace .point")).to_have_count(6)  # 3 charts x 2 epochs
        assert tabular not in table.inner_text()
        live = _log_run(client, exp_id, "live-cnn", epochs=1, finished=False)
        expect(table).to_contain_text(live, timeout=30_000)  # appears by itself, and is shown: newest with a curve
        expect(table).to_contain_text("RUNNING")
        expect(page.locator(".jp-RenderedPlotly .scatterlayer .trace .point")).to_have_count(3)
        client.log_batch(live, metrics=[Metric(k, 0.4, 0, 2) for k in ("loss", "val_loss", "val_accuracy")])
        expect(page.locator(".jp-RenderedPlotly .scatterlayer .trace .point")).to_have_count(6, timeout=30_000)  # it grows
        client.set_terminated(live, "FINISHED")
        expect(table).to_contain_text("FINISHED", timeout=30_000)
        page.screenshot(path=str(artifacts / "training-dashboard.png"), full_page=True)
        page.goto("about:blank")  # leave before the server stops, or the page logs its lost websocket


def test_voila_evaluation_dashboard_shows_every_figure(browser_page, project_copy, jupyter_env, workspace, port, artifacts):
    """06 in Voilà: all eight charts (a walk found the later ones as "model not found" when preheated)."""
    page = browser_page
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace), "MLAAS_OFFLINE": "1"}
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "notebooks/06_evaluate.ipynb", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila-06.log", timeout=120):
        page.goto(base + "/")
        # a 1-epoch CNN and a small forest are trained first; the last cell's three charts end the page
        page.locator("text=Predicted against true").first.wait_for(timeout=240_000)
        expect(page.locator(".js-plotly-plot")).to_have_count(8, timeout=60_000)
        page.screenshot(path=str(artifacts / "voila-06_evaluate.png"), full_page=True)
        assert page.locator("text=model not found").count() == 0
        page.goto("about:blank")
