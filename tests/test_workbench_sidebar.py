"""The Workbench sidebar (the prebuilt labextension mlaas-workbench) in JupyterLab started by ``mlaas lab``,
over a real workspace: an ingested dataset with labels, a tracked MLflow run and a pipeline run made by
the engine; and a check that the committed build is complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from _servers import serving

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "extensions" / "workbench"
BUILT = REPO / "mlaas_kernel" / "cli" / "_jupyter" / "labextensions" / "mlaas-workbench"
STEP_NOTEBOOK = Path(__file__).parent / "data" / "pipelines" / "notebooks" / "step.ipynb"

SPEC = """name: sidebar
description: One step that succeeds and one that fails, for the Workbench sidebar's test.
steps:
  fine:
    notebook: notebooks/pipeline-test/step.ipynb
  broken:
    notebook: notebooks/pipeline-test/step.ipynb
    parameters: {fail: true, label: broken}
"""


def test_the_committed_build_is_complete():
    """Users and CI get the sidebar without node: the built files are in the package, of this source's version."""
    source = json.loads((SOURCE / "package.json").read_text())
    built = json.loads((BUILT / "package.json").read_text())
    assert built["name"] == source["name"] == "mlaas-workbench"
    assert built["version"] == source["version"], "rebuild the extension (extensions/workbench/README.md): the build is of another version"
    load = built["jupyterlab"]["_build"]["load"]
    assert load.startswith("static/remoteEntry.") and (BUILT / load).is_file(), load
    static = BUILT / "static"
    assert not list(static.glob("*.map")), "a production build has no source maps"
    assert sum(f.stat().st_size for f in static.iterdir()) < 1_000_000
    # Every chunk the entry names is there (a partial copy of static/ would load an empty sidebar).
    entry = (BUILT / load).read_text()
    for chunk in static.glob("*.js"):
        if chunk.name not in (Path(load).name, "style.js"):
            assert chunk.name.split(".")[1] in entry, f"{chunk.name} is not named by {load}: stale file in static/"


def _tracked_run(client, exp_id: str, name: str, accuracy: float) -> str:
    from mlflow.entities import Metric

    from mlaas_kernel.track._mlrun import create_run

    run_id = create_run(client, exp_id, name, {"mlaas.dataset": "mnist", "mlaas.model": "cnn"})
    client.log_batch(run_id, metrics=[Metric("val_accuracy", accuracy, int(time.time() * 1000), 1)])
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _project(project_copy: Path) -> Path:
    """The notebooks, the engine's tiny step notebook, and a two-step pipeline spec."""
    (project_copy / "notebooks" / "pipeline-test").mkdir()
    shutil.copy(STEP_NOTEBOOK, project_copy / "notebooks" / "pipeline-test" / "step.ipynb")
    (project_copy / "pipelines").mkdir()
    (project_copy / "pipelines" / "sidebar.yaml").write_text(SPEC)
    return project_copy


def _open_sidebar(page, base: str):
    page.goto(f"{base}/lab?token=workbench-test")
    tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='mlaas-workbench']")
    tab.wait_for(timeout=60_000)
    assert tab.get_attribute("title").startswith("Workbench")
    tab.click()
    panel = page.locator("#mlaas-workbench")
    expect(panel).to_be_visible()
    return panel


class _Workspace(threading.Thread):
    """Ingests MNIST, labels three items and makes a tracked run, while Lab starts (MLflow's first
    import and store take seconds); ``join_checked`` hands back the store, client and run."""

    def __init__(self):
        super().__init__(daemon=True)
        self.error: BaseException | None = None

    def run(self):
        from mlaas_kernel import data, track
        from mlaas_kernel.labels import LabelStore

        try:
            data.ingest("mnist", progress=False)
            self.store = LabelStore()
            for item in range(3):
                self.store.label("mnist", item, str(item), annotator="ana")
            self.client, self.exp_id = track.setup()
            self.first = _tracked_run(self.client, self.exp_id, "sidebar-cnn", 0.875)
        except BaseException as exc:  # re-raised in the test's thread
            self.error = exc

    def join_checked(self, timeout: float) -> "_Workspace":
        self.join(timeout)
        assert not self.is_alive(), f"the workspace was not ready in {timeout:.0f} s"
        if self.error is not None:
            raise self.error
        return self


def _lists_the_workspace(panel, made: _Workspace, pipeline, workspace: Path, log: Path):
    """The dataset with its labelled count, the run with its metric and status, the failed pipeline run; the row of the latter."""
    dataset = panel.locator("[data-section='datasets'] .mlaas-row[data-key='mnist']")
    expect(dataset.locator(".mlaas-labelled")).to_have_text("3 / 10,000", timeout=30_000)
    expect(dataset).to_contain_text("1 annotator")
    run = panel.locator(f"[data-section='runs'] .mlaas-row[data-key='{made.first}']")
    expect(run).to_contain_text("sidebar-cnn", timeout=30_000)  # the server's first MLflow read imports MLflow (seconds under load)
    expect(run).to_contain_text("val_accuracy 0.875")
    expect(run.locator(".mlaas-status")).to_have_text("finished")
    assert pipeline.wait(timeout=120) == 1, log.read_text()[-2000:]  # a step failed: exit status 1
    record = json.loads(next((workspace / "pipelines" / "sidebar").glob("*/run.json")).read_text())
    row = panel.locator(f"[data-section='pipelines'] .mlaas-row[data-key='sidebar/{record['run']}']")
    expect(row.locator(".mlaas-failed-step")).to_have_text("failed at broken", timeout=15_000)  # polled, no reload
    expect(row.locator(".mlaas-steps")).to_have_text("1/2")
    expect(row.locator(".mlaas-status")).to_have_text("failed")
    # The pipeline's name takes the width; the run id shows its time of day, in full in the tooltip.
    run = record["run"]
    expect(row.locator(".mlaas-runid")).to_have_text(f"{run[9:11]}:{run[11:13]}")
    expect(row.locator(".mlaas-runid")).to_have_attribute("title", f"run {run}")
    expect(row.locator(".mlaas-name")).to_have_attribute("title", f"sidebar/{run}")
    expect(dataset).to_have_attribute("title", "Open notebooks/03_label.ipynb (on mnist)")  # the notebook starts on this dataset
    return dataset, row


def _follows_new_labels_and_runs(panel, dataset, made: _Workspace) -> float:
    """A label by a second annotator and a new run appear without a reload; returns how long that took."""
    changed = time.monotonic()
    made.store.label("mnist", 3, "3", annotator="bo")
    second = _tracked_run(made.client, made.exp_id, "sidebar-cnn-2", 0.9)
    expect(dataset.locator(".mlaas-labelled")).to_have_text("4 / 10,000", timeout=15_000)
    expect(dataset).to_contain_text("2 annotators")
    expect(panel.locator(f"[data-section='runs'] .mlaas-row[data-key='{second}']")).to_contain_text("val_accuracy 0.900", timeout=15_000)
    made.store.close()
    return time.monotonic() - changed


def _sessions(base: str) -> list:
    with urllib.request.urlopen(f"{base}/api/sessions?token=workbench-test", timeout=30) as r:
        return json.load(r)


def _opens_and_stops_polling_when_hidden(page, base: str, row, polls: list, artifacts: Path):
    """A pipeline row opens the failed step's executed notebook without a kernel; a hidden panel asks nothing;
    shown again, it asks at once."""
    row.click()
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text("broken.ipynb", timeout=30_000)
    page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="ValueError: asked to fail broken").first.wait_for(state="attached", timeout=30_000)
    page.screenshot(path=str(artifacts / "workbench-opened.png"))
    tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='mlaas-workbench']")
    tab.click()  # collapse the sidebar
    expect(page.locator("#mlaas-workbench")).to_be_hidden()
    hidden, asked = time.monotonic(), len(polls)
    page.wait_for_timeout(max(0.0, 6.0 - (time.monotonic() - hidden)) * 1000)  # longer than one 5 s interval: no request may come
    assert len(polls) == asked, f"{len(polls) - asked} overview requests while the panel was hidden"
    # An executed step is a record to read: seconds after it opened, still no kernel (Lab would have started one by now).
    assert _sessions(base) == [], "opening an executed pipeline notebook started a kernel"
    # ipywidgets 8.1's notebook plugin reads the kernel of every notebook once its session context is ready, and
    # throws in a promise of its own for a notebook without one (as after Lab's "No Kernel" choice): nothing shows.
    page.console_errors[:] = [e for e in page.console_errors if e != "uncaught: Cannot read properties of null (reading 'kernel')"]
    with page.expect_request(lambda r: "/mlaas/api/overview" in r.url, timeout=3_000):  # at once, not after 5 s
        tab.click()
    expect(page.locator("#mlaas-workbench")).to_be_visible()


def test_sidebar_lists_the_workspace_and_follows_it(browser_page, project_copy, env, port, artifacts, monkeypatch):
    project = _project(project_copy)
    workspace = project / "workspace"  # under Lab's root, as with `mlaas lab` in a clone: its notebooks open as documents
    monkeypatch.setenv("MLAAS_WORKSPACE", str(workspace))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    env = {**env, "MLAAS_WORKSPACE": str(workspace), "JUPYTER_TOKEN": "workbench-test", "MLAAS_PIPELINES": str(project / "pipelines")}
    env.pop("MLFLOW_TRACKING_URI", None)
    polls: list[str] = []
    browser_page.on("request", lambda r: "/mlaas/api/overview" in r.url and polls.append(r.url))
    log = artifacts / "pipeline.log"
    # The engine runs the pipeline, and a thread makes the workspace, while Lab starts.
    with open(log, "wb") as out:
        pipeline = subprocess.Popen([sys.executable, "-m", "mlaas_kernel", "pipeline", "run", "sidebar", "--no-track", "--workers", "2"],
                                    env=env, cwd=project, stdout=out, stderr=subprocess.STDOUT)
    made = _Workspace()
    made.start()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "lab", "--port", str(port), "--no-browser"]
    try:
        with serving(cmd, f"{base}/api/status?token=workbench-test", env=env, cwd=project, log=artifacts / "lab.log"):
            panel = _open_sidebar(browser_page, base)
            made.join_checked(120)
            dataset, row = _lists_the_workspace(panel, made, pipeline, workspace, log)
            panel.screenshot(path=str(artifacts / "workbench-sidebar.png"))
            seconds = _follows_new_labels_and_runs(panel, dataset, made)
            print(f"a new label and a new run showed in the sidebar {seconds:.1f} s after they were written")
            _opens_and_stops_polling_when_hidden(browser_page, base, row, polls, artifacts)
            browser_page.goto("about:blank")  # leave before the server stops, or the page logs its lost websocket
    finally:
        if pipeline.poll() is None:
            pipeline.kill()
            pipeline.wait()
