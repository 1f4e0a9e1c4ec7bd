"""The Workbench sidebar (the prebuilt labextension mlaas-workbench) in JupyterLab started by ``mlaas lab``,
over a real workspace: an ingested dataset with labels, a tracked MLflow run and a pipeline run made by
the engine; and a check that the committed build is complete."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from _servers import serving

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "extensions" / "workbench"
BUILT = REPO / "mlaas_kernel" / "cli" / "_jupyter" / "labextensions" / "mlaas-workbench"
STEP_NOTEBOOK = Path(__file__).parent / "data" / "pipelines" / "notebooks" / "step.ipynb"

SPEC = """name: sidebar
description: One step that succeeds, one that fails and one this machine cannot run, for the Workbench sidebar's test.
steps:
  fine:
    notebook: notebooks/pipeline-test/step.ipynb
  broken:
    notebook: notebooks/pipeline-test/step.ipynb
    parameters: {fail: true, label: broken}
  tensorrt:
    notebook: notebooks/pipeline-test/step.ipynb
    requires: [no_such_module_for_the_sidebar_test]
"""
PARALLEL = "tracked-experiments"
STUDY = "sidebar-cnn-20261201-153000"  # as `mlaas tune` names a study (DATASET-MODEL-YYYYMMDD-HHMMSS); trials add -N
# MLflow 3.17's UI asks for the signed-in user; a server without basic-auth answers 404 (test_lab_launchers.py's NOT_OURS).
NOT_OURS = ("/ajax-api/2.0/mlflow/users/current)",)


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


def _tracked_run(client, exp_id: str, name: str, accuracy: float, tags: dict | None = None) -> str:
    from mlflow.entities import Metric

    from mlaas_kernel.track._mlrun import create_run

    run_id = create_run(client, exp_id, name, {"mlaas.dataset": "mnist", "mlaas.model": "cnn", **(tags or {})})
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


def _parallel_run(workspace: Path) -> str:
    """A run.json (interfaces11.md) of a pipeline running two steps at once, by a live process (this test's), under the
    long name of the walk that found its time of day cut ("tracked-experiments 1."); its key."""
    run = time.strftime("%Y%m%d-%H%M%S-") + "beef"
    folder = workspace / "pipelines" / PARALLEL / run
    folder.mkdir(parents=True)
    steps = {"ingest": "succeeded", "explore": "running", "label": "running", "train": "pending"}
    record = {"pipeline": PARALLEL, "run": run, "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
              "pid": os.getpid(), "steps": {name: {"status": status} for name, status in steps.items()}}
    (folder / "run.json").write_text(json.dumps(record))
    return f"{PARALLEL}/{run}"


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
    """Ingests MNIST, labels three items and makes tracked runs (a pipeline's own run first, then a training run, a
    study's parent and two trials) while Lab starts (MLflow's first import and store take seconds);
    ``join_checked`` hands back the store, client and runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.error: BaseException | None = None

    def run(self):
        from mlaas_kernel import data, track
        from mlaas_kernel.labels import LabelStore
        from mlaas_kernel.pipelines._mlflow import PipelineTracking

        try:
            data.ingest("mnist", progress=False)
            self.store = LabelStore()
            for item in range(3):
                self.store.label("mnist", item, str(item), annotator="ana")
            self.pipeline_run = PipelineTracking().start(pipeline="sidebar", run="20261201-153000-a1b2", params={}, description="", existing=None)
            assert self.pipeline_run, "the engine's tracking made no pipeline run"  # else Runs' leaving it out proves nothing
            self.client, self.exp_id = track.setup()
            self.first = _tracked_run(self.client, self.exp_id, "sidebar-cnn", 0.875)
            self.study = _tracked_run(self.client, self.exp_id, STUDY, 0.5, {"mlaas.kind": "study", "mlaas.study": STUDY})
            self.trials = [_tracked_run(self.client, self.exp_id, f"{STUDY}-{n}", 0.5 + n / 10, {"mlaas.study": STUDY, "mlaas.trial.number": str(n),
                                                                                              "mlflow.parentRunId": self.study}) for n in (0, 1)]
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
    assert _whole(row.locator(".mlaas-failed-step")), "the failed step is cut at the sidebar's width"
    expect(row.locator(".mlaas-steps")).to_have_text("1/3 steps")
    expect(row.locator(".mlaas-unavailable")).to_have_text("1 unavailable: tensorrt")  # `mlaas pipeline status`: (1 unavailable)
    assert _whole(row.locator(".mlaas-unavailable")), "the unavailable step is cut at the sidebar's width"
    expect(row.locator(".mlaas-steps")).to_have_attribute("title", "1 of 3 steps done\ntensorrt unavailable here: needs the Python module "
                                                          "'no_such_module_for_the_sidebar_test', which is not installed here")
    expect(row.locator(".mlaas-status")).to_have_text("failed")
    # The pipeline's name takes the width; the run id shows its time of day, in full in the tooltip.
    run = record["run"]
    expect(row.locator(".mlaas-runid")).to_have_text(f"{run[9:11]}:{run[11:13]}")
    expect(row.locator(".mlaas-runid")).to_have_attribute("title", f"run {run}")
    expect(row.locator(".mlaas-name")).to_have_attribute("title", f"sidebar/{run}")
    expect(dataset).to_have_attribute("title", "Open notebooks/03_label.ipynb (on mnist)")  # the notebook starts on this dataset
    return dataset, row


def _whole(part) -> bool:
    """``part`` shows whole: not cut by its own ellipsis, nor pushed past the end of its line."""
    return part.evaluate("el => { const line = el.closest('.mlaas-line').getBoundingClientRect(), box = el.getBoundingClientRect();"
                         " return el.scrollWidth <= el.clientWidth && box.right <= line.right + 0.5; }")


def _tells_rows_apart(panel, made: _Workspace, parallel: str) -> None:
    """A study's trials read 'trial N' with the study's time of day, whole at the sidebar's default width (the shared
    name before it is what gets cut); a pipeline's own MLflow run is left out of Runs; a running pipeline lists
    every running step."""
    for n, trial in enumerate(made.trials):
        row = panel.locator(f"[data-section='runs'] .mlaas-row[data-key='{trial}']")
        expect(row.locator(".mlaas-tag")).to_have_text(f"15:30 · trial {n}", timeout=15_000)
        expect(row.locator(".mlaas-name")).to_have_text("sidebar-cnn")
        expect(row.locator(".mlaas-name")).to_have_attribute("title", f"{STUDY}-{n}\nrun {trial}")
        assert _whole(row.locator(".mlaas-tag")), f"trial {n}'s number is cut at the sidebar's width"
    study = panel.locator(f"[data-section='runs'] .mlaas-row[data-key='{made.study}']")
    expect(study.locator(".mlaas-tag")).to_have_text("15:30")
    expect(study).to_contain_text("mnist · study")
    # The trials were made after the pipeline's run: the list that shows them would show it too.
    expect(panel.locator(f"[data-section='runs'] .mlaas-row[data-key='{made.pipeline_run}']")).to_have_count(0)
    expect(panel.locator("[data-section='runs'] .mlaas-row")).to_have_count(4)
    running = panel.locator(f"[data-section='pipelines'] .mlaas-row[data-key='{parallel}']")
    expect(running.locator(".mlaas-running")).to_have_text("running: explore, label")
    expect(running.locator(".mlaas-steps")).to_have_text("1/4 steps")
    run = parallel.split("/")[1]
    expect(running.locator(".mlaas-runid")).to_have_text(f"{run[9:11]}:{run[11:13]}")  # whole, where the long name is cut
    for part in (running.locator(".mlaas-runid"), running.locator(".mlaas-steps")):
        assert _whole(part), f"{part} is cut at the sidebar's width"


def _in(request, page) -> bool:
    """``request`` is one of ``page``'s (its frames'); a new tab's first request has no frame yet."""
    try:
        return request.frame.page == page
    except PlaywrightError:
        return False


def _opens_mlflow_in_lab(page, panel, made: _Workspace) -> None:
    """A run row opens its MLflow page in Lab's MLflow tab (jupyter-server-proxy's iframe, as the launcher does), and
    the next row navigates that same tab; Ctrl-click opens the page in a browser tab instead."""
    pages = len(page.context.pages)  # a persistent context also has its first blank page
    for run_id in (made.first, made.trials[1]):
        panel.locator(f"[data-section='runs'] .mlaas-row[data-key='{run_id}']").click()
        frame = page.locator(".jp-ServerProxy iframe")
        expect(frame).to_have_count(1)  # one MLflow tab, navigated
        link = f"/mlflow/#/experiments/{made.exp_id}/runs/{run_id}?workflowType=machine_learning"  # the overview's link
        expect(frame).to_have_attribute("src", re.compile(re.escape(link) + "$"))
        expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text("MLflow")
    assert len(page.context.pages) == pages, "a run row opened a browser tab"
    # Playwright hands over a new tab once its page answers, and MLflow's cold start (started by the iframe just now)
    # takes 5-35 s here: that tab's page alone is answered by the test (MLflow's own pages, through the proxy, are
    # test_lab_launchers.py's; the iframe's requests still reach the real MLflow).
    page.context.route("**/mlflow/**", lambda route: route.continue_() if _in(route.request, page)
                       else route.fulfill(content_type="text/html", body="<title>MLflow</title>"))
    with page.context.expect_page(timeout=15_000) as opened:
        panel.locator(f"[data-section='runs'] .mlaas-row[data-key='{made.study}']").click(modifiers=["Control"])
    tab = opened.value
    assert f"/mlflow/#/experiments/{made.exp_id}/runs/{made.study}?workflowType=machine_learning" in tab.url, tab.url
    tab.close()
    page.context.unroute("**/mlflow/**")


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


@pytest.mark.browser
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
    parallel = _parallel_run(workspace)
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "lab", "--port", str(port), "--no-browser"]
    try:
        with serving(cmd, f"{base}/api/status?token=workbench-test", env=env, cwd=project, log=artifacts / "lab.log"):
            panel = _open_sidebar(browser_page, base)
            made.join_checked(120)
            dataset, row = _lists_the_workspace(panel, made, pipeline, workspace, log)
            _tells_rows_apart(panel, made, parallel)
            print(f"the sidebar is {panel.evaluate('el => el.getBoundingClientRect().width'):.0f} px wide (Lab's default)")
            panel.screenshot(path=str(artifacts / "workbench-sidebar.png"))
            seconds = _follows_new_labels_and_runs(panel, dataset, made)
            print(f"a new label and a new run showed in the sidebar {seconds:.1f} s after they were written")
            _opens_and_stops_polling_when_hidden(browser_page, base, row, polls, artifacts)
            _opens_mlflow_in_lab(browser_page, panel, made)
            # The iframe's console is the page's: MLflow's request for a signed-in user is expected (NOT_OURS).
            browser_page.console_errors[:] = [e for e in browser_page.console_errors if not e.endswith(NOT_OURS)]
            browser_page.goto("about:blank")  # leave before the server stops, or the page logs its lost websocket
    finally:
        if pipeline.poll() is None:
            pipeline.kill()
            pipeline.wait()
