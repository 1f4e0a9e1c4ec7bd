"""The labeling apps in Voilà, in Debian's Chromium: keyboard only, durable, fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from _servers import serving

pytestmark = [pytest.mark.browser]


LATENCY_PROBE = """
() => {
  window.__mlaas = { pressed: null, latencies: [] };
  document.addEventListener("keydown", () => { window.__mlaas.pressed = performance.now(); }, true);
  const root = document.querySelector(".mlaas-labeler");
  new MutationObserver(() => {
    if (window.__mlaas.pressed !== null) {
      window.__mlaas.latencies.push(performance.now() - window.__mlaas.pressed);
      window.__mlaas.pressed = null;
    }
  }).observe(root, { attributes: true, attributeFilter: ["data-item"] });
}
"""


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


def test_voila_label_app_keyboard_only_survives_sigkill(browser_page, project_copy, jupyter_env, workspace, artifacts):
    import signal

    import numpy as np

    from conftest import free_port
    from mlaas_kernel import data
    from mlaas_kernel.labels import LabelStore

    page = browser_page
    truth = data.ingest("mnist", workspace_dir=workspace, progress=False).labels()
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
            page.wait_for_function(f"document.querySelector('.mlaas-labeler').dataset.item !== '{item}'", timeout=30_000)
            labeled.append(item)
        page.keyboard.press("Backspace")  # undo the last one: it shows again
        page.wait_for_function(f"document.querySelector('.mlaas-labeler').dataset.item === '{labeled[-1]}'", timeout=30_000)
        expect(page.locator(".mlaas-labeler-progress")).to_have_text("19 / 1000 labeled")
        page.screenshot(path=str(artifacts / "label-app.png"))
        latencies = page.evaluate("window.__mlaas.latencies")
        p50, p95 = np.percentile(latencies, [50, 95])
        report = f"key press to next image, {len(latencies)} presses: p50 {p50:.0f} ms, p95 {p95:.0f} ms"
        print(report)
        (artifacts / "latency.txt").write_text(report + "\n")
        # SIGKILL the server and its kernels: no chance to flush or clean up
        victims = [server.pid, *_children(server.pid)]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        server.wait(timeout=30)

    store = LabelStore(workspace / "labels.db")
    rows = store.current("mnist", annotator="tester")
    assert [r["item"] for r in rows] == labeled[:-1]
    assert all(r["label"] == str(truth[r["item"]]) and r["seconds"] is not None and r["seconds"] >= 0 for r in rows)
    assert [e["kind"] for e in store.events("mnist")].count("undo") == 1

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd[cmd.index("--port") + 1] = str(port)
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila-2.log"):
        _start_labeling(page, base, "tester")
        expect(page.locator(".mlaas-labeler-progress")).to_have_text("19 / 1000 labeled")
        page.screenshot(path=str(artifacts / "label-app-after-restart.png"))


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


def test_grid_and_table_labelers_wiring_in_voila(browser_page, tmp_path, jupyter_env, workspace, port, artifacts):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from mlaas_kernel.labels import LabelStore

    nb = new_notebook(cells=[new_code_cell(WIRING_NOTEBOOK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "wiring.ipynb")
    page = browser_page
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
    store = LabelStore(workspace / "labels.db")
    assert store.labels("grid", annotator="ana") == {int(item): "b"}
    assert store.labels("gpus", annotator="ana") == {0: "Mobile", 1: "Workstation"}
