"""The labeling apps in Voilà, in Debian's Chromium: keyboard only, durable, fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from _browser import lab_run_all
from _servers import serving

pytestmark = [pytest.mark.browser]


@pytest.fixture
def page(browser_page):
    """The browser page. Nothing is routed: the workbench's Voilà template links no CDN, so a
    request beyond loopback would show as a console error and fail the test."""
    return browser_page


def _leave(page) -> None:
    """Close the Voilà page before its server stops, so it does not log a lost connection."""
    page.goto("about:blank")


LATENCY_PROBE = """
() => {
  window.__mlaas = { pressed: null, latencies: [], duringRetrain: 0 };
  const root = document.querySelector(".mlaas-labeler");
  let retrainSeen = false;  // the model retrained at some point between this press and the next item
  document.addEventListener("keydown", () => {
    window.__mlaas.pressed = performance.now();
    retrainSeen = root.dataset.retraining === "true";
  }, true);
  new MutationObserver((changes) => {
    if (root.dataset.retraining === "true") retrainSeen = true;
    if (window.__mlaas.pressed !== null && changes.some((c) => c.attributeName === "data-item")) {
      window.__mlaas.latencies.push(performance.now() - window.__mlaas.pressed);
      window.__mlaas.duringRetrain += retrainSeen ? 1 : 0;
      window.__mlaas.pressed = null;
    }
  }).observe(root, { attributes: true, attributeFilter: ["data-item", "data-retraining"] });
}
"""


def _retrain_often(project_copy: Path, every: int) -> None:
    """Make the copied label app retrain every ``every`` labels, so the measured presses meet retrains."""
    import nbformat

    path = project_copy / "notebooks" / "dashboards" / "label_app.ipynb"
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert "retrain_every = 10" in cell.source
    cell.source = cell.source.replace("retrain_every = 10", f"retrain_every = {every}")
    nbformat.write(nb, path)


def _children(pid: int) -> list[int]:
    """PIDs of every descendant of ``pid`` (Linux /proc)."""
    found, frontier = [], [pid]
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in stats.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def _start_labeling(page, base, name):
    page.goto(base + "/")
    box = page.locator(".widget-text input")
    box.wait_for(timeout=120_000)
    for _ in range(10):  # the keyboard alone: Tab to the name box
        if page.evaluate("document.activeElement && document.activeElement.matches('.widget-text input')"):
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('.widget-text input')")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    labeler = page.locator(".mlaas-labeler")
    labeler.wait_for(timeout=60_000)
    return labeler


def _item(page) -> str:
    return page.locator(".mlaas-labeler").get_attribute("data-item")


def _wait_item(page, test: str) -> None:
    page.wait_for_function(f"document.querySelector('.mlaas-labeler').dataset.item {test}", timeout=30_000)


def test_voila_label_app_keyboard_only_survives_sigkill(page, project_copy, jupyter_env, workspace, artifacts):
    import signal
    import time

    import numpy as np

    from conftest import free_port
    from mlaas_kernel import data
    from mlaas_kernel.labels import LabelStore

    truth = data.ingest("mnist", workspace_dir=workspace, progress=False).labels()
    _retrain_often(project_copy, 5)
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "label", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila-1.log") as server:
        labeler = _start_labeling(page, base, "tester")
        page.evaluate(LATENCY_PROBE)
        labeled = []
        for _ in range(20):
            item = int(labeler.get_attribute("data-item"))
            page.keyboard.press(str(truth[item]))
            _wait_item(page, f"!== '{item}'")
            labeled.append(item)
        expect(page.locator(".mlaas-labeler-model")).to_contain_text("model: ")  # retrains ran and reported
        probe = page.evaluate("window.__mlaas")
        page.keyboard.press("Backspace")  # undo the last one: it shows again
        _wait_item(page, f"=== '{labeled[-1]}'")
        expect(page.locator(".mlaas-labeler-progress")).to_have_text("19 / 1000 labeled")
        page.keyboard.press("s")  # skip it: counted apart ...
        expect(page.locator(".mlaas-labeler-skipped")).to_contain_text("1 skipped")
        expect(page.locator(".mlaas-labeler-progress")).to_have_text("19 / 1000 labeled")
        page.keyboard.press("Shift+R")  # ... and brought back
        _wait_item(page, f"=== '{labeled[-1]}'")
        expect(page.locator(".mlaas-labeler-skipped")).to_have_text("")
        page.screenshot(path=str(artifacts / "label-app.png"))
        p50, p95 = np.percentile(probe["latencies"], [50, 95])
        report = (f"key press to next image, {len(probe['latencies'])} presses ({probe['duringRetrain']} of them while the "
                  f"model retrained): p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        print(report)
        (artifacts / "latency.txt").write_text(report + "\n")
        # SIGKILL the server and its kernels: no chance to flush or clean up
        shown = _item(page)
        victims = [server.pid, *_children(server.pid)]
        killed = time.monotonic()
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        server.wait(timeout=30)
        expect(page.locator(".mlaas-labeler-offline")).to_be_visible(timeout=10_000)
        banner = f"connection-lost banner {time.monotonic() - killed:.1f} s after the SIGKILL"
        print(banner)
        (artifacts / "latency.txt").write_text(report + "\n" + banner + "\n")
        expect(page.locator(".mlaas-labeler-offline")).to_contain_text("Connection to the kernel lost")
        page.keyboard.press(str(truth[int(shown)]))  # nobody can save it now: pending, never done
        expect(page.locator(".mlaas-labeler-pending")).to_have_text(f"pending, not saved: {truth[int(shown)]} on #{shown}")
        assert _item(page) == shown
        page.screenshot(path=str(artifacts / "label-app-connection-lost.png"))
        _leave(page)
        # The refused websocket and shutdown requests of the killed server, provoked on purpose here.
        page.console_errors.clear()

    store = LabelStore(workspace / "labels.db")
    rows = store.current("mnist", annotator="tester")
    assert [r["item"] for r in rows] == labeled[:-1]
    assert all(r["label"] == str(truth[r["item"]]) and r["seconds"] is not None and r["seconds"] >= 0 for r in rows)
    kinds = [e["kind"] for e in store.events("mnist")]
    assert (kinds.count("undo"), kinds.count("skip")) == (2, 1)  # the label's undo, and the skip's

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd[cmd.index("--port") + 1] = str(port)
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila-2.log"):
        _start_labeling(page, base, "tester")
        expect(page.locator(".mlaas-labeler-progress")).to_have_text("19 / 1000 labeled")
        expect(page.locator(".mlaas-labeler-offline")).to_be_hidden()
        page.screenshot(path=str(artifacts / "label-app-after-restart.png"))
        _leave(page)


WIRING_NOTEBOOK = """
import numpy as np, pandas as pd, ipywidgets as W
from mlaas_kernel.labels import LabelStore
from mlaas_widgets import GridLabeler, TableLabeler
store = LabelStore()
images = (np.arange(6 * 8 * 8) % 255).astype("uint8").reshape(6, 8, 8)
grid = GridLabeler(images, store=store, dataset="grid", annotator="ana", classes=["a", "b"], rows=1, cols=3)
table = TableLabeler(pd.DataFrame({"gpuName": ["X1", "X2"], "category": ["Unknown", "Mobile"]}), store=store, dataset="gpus",
                     annotator="ana", classes=["Desktop", "Mobile", "Workstation"], label_column="category")
W.VBox([grid, table])
"""


def test_grid_and_table_labelers_wiring_in_voila(page, tmp_path, jupyter_env, workspace, port, artifacts):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from mlaas_kernel.labels import LabelStore

    nb = new_notebook(cells=[new_code_cell(WIRING_NOTEBOOK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "wiring.ipynb")
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "wiring.ipynb", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=tmp_path, log=artifacts / "voila.log"):
        page.goto(base + "/")
        tile = page.locator(".mlaas-grid-tile").first
        tile.wait_for(timeout=120_000)
        item = tile.get_attribute("data-item")
        tile.click()
        expect(page.locator(f".mlaas-grid-tile.mlaas-selected[data-item='{item}']")).to_be_visible()
        page.keyboard.press("b")
        expect(page.locator(f".mlaas-grid-tile.mlaas-fixed[data-item='{item}']")).to_have_text("b")
        page.keyboard.press("Enter")  # accept the page: only the fixed tile has a label
        expect(page.locator(".mlaas-grid-msg").first).to_have_text("accepted 1 labels")
        page.locator(".mlaas-labeler").click()
        expect(page.locator(".mlaas-labeler-row")).to_contain_text("X1")
        page.keyboard.press("2")
        expect(page.locator(".mlaas-labeler-row")).to_contain_text("X2")
        page.locator(".mlaas-labeler-buttons button[data-label='Workstation']").click()
        expect(page.locator(".mlaas-labeler-progress")).to_have_text("2 / 2 labeled")
        expect(page.locator(".mlaas-labeler-stage")).to_have_text("Nothing left to label.")
        page.screenshot(path=str(artifacts / "grid-and-table.png"), full_page=True)
        _leave(page)
    store = LabelStore(workspace / "labels.db")
    assert store.labels("grid", annotator="ana") == {int(item): "b"}
    assert store.labels("gpus", annotator="ana") == {0: "Mobile", 1: "Workstation"}


def test_lab_labeler_shows_a_dead_kernel_and_keeps_keys_pending(page, project_copy, jupyter_env, workspace, port, artifacts):
    import signal

    from mlaas_kernel import data

    truth = data.ingest("mnist", workspace_dir=workspace, progress=False).labels()
    env = {**jupyter_env, "JUPYTER_TOKEN": "workbench-test", "MLAAS_WORKSPACE": str(workspace)}
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "lab", "--port", str(port), "--no-browser"]
    with serving(cmd, f"{base}/api/status?token=workbench-test", env=env, cwd=project_copy, log=artifacts / "lab.log") as server:
        page.goto(f"{base}/lab/tree/notebooks/03_label.ipynb?token=workbench-test")
        lab_run_all(page)
        labeler = page.locator(".mlaas-labeler")
        labeler.wait_for(timeout=180_000)
        page.locator(".jp-OutputArea-output:has-text('label snapshot:')").wait_for(timeout=180_000)  # Run All has ended
        labeler.scroll_into_view_if_needed()
        labeler.click()  # in a notebook the labeler takes keys once it has the focus
        shown = labeler.get_attribute("data-item")
        page.keyboard.press(str(truth[int(shown)]))
        expect(page.locator(".mlaas-labeler-progress")).to_have_text("1 / 2000 labeled")
        assert labeler.get_attribute("data-connection") == "ok"
        shown = labeler.get_attribute("data-item")
        for pid in _children(server.pid):  # the kernel only; JupyterLab stays up
            os.kill(pid, signal.SIGKILL)
        expect(page.locator(".mlaas-labeler-offline")).to_be_visible(timeout=10_000)
        # JupyterLab restarts a dead kernel and says so in a dialog (the new kernel knows nothing
        # of this labeler, so the banner stays): close it, then press a key in the labeler.
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=60_000)
        dialog.locator(".jp-mod-accept").click()
        dialog.wait_for(state="detached")
        labeler.click()
        page.keyboard.press(str(truth[int(shown)]))
        expect(page.locator(".mlaas-labeler-pending")).to_have_text(f"pending, not saved: {truth[int(shown)]} on #{shown}")
        assert labeler.get_attribute("data-item") == shown
        page.screenshot(path=str(artifacts / "lab-labeler-kernel-killed.png"))
        _leave(page)
        # JupyterLab's own reports of the dead kernel, provoked on purpose here.
        page.console_errors.clear()
