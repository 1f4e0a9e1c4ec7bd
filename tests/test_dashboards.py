"""The runs dashboard and its feed against a real MLflow store (SQLite in a scratch workspace),
and the "no data yet" charts; no browser."""

from __future__ import annotations

import json
import threading
import time

import pytest

from mlaas_kernel.run_feed import RunFeed
from mlaas_widgets import LearningCurve, RunsDashboard, TrainingMonitor
from mlaas_widgets._plot import PlotOutput

CURVES = {"loss": [0.9, 0.4, 0.25], "val_loss": [0.5, 0.3, 0.2], "val_accuracy": [0.85, 0.92, 0.95]}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """One workspace (and MLflow store) for the module: creating a store costs seconds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        root = tmp_path_factory.mktemp("ws")
        from mlaas_kernel import track

        track.setup("warm-up", workspace_dir=root)
        yield root


@pytest.fixture
def store(store_dir, monkeypatch, request):
    """(client, experiment id, experiment name, workspace): an experiment of its own per test."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from mlaas_kernel import track

    name = request.node.name
    client, exp_id = track.setup(name, workspace_dir=store_dir)
    return client, exp_id, name, store_dir


def log_run(client, exp_id, name, *, curves=CURVES, epochs=None, finished=True, start=None, metrics=None):
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    run = client.create_run(exp_id, run_name=name, start_time=start or now, tags={"mlaas.device": "cpu"})
    rows = [Metric(k, v, now, e + 1) for k, vs in curves.items() for e, v in enumerate(vs[:epochs])]
    rows += [Metric(k, v, now, 0) for k, v in (metrics or {}).items()]
    if rows:
        client.log_batch(run.info.run_id, metrics=rows)
    if finished:
        client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def wait_for(feed: RunFeed, condition, timeout: float = 30.0) -> None:
    """Wait until the feed's own thread has read something that makes ``condition()`` true."""
    seen = threading.Event()
    unsubscribe = feed.subscribe(lambda _f: condition() and seen.set())
    try:
        if not (condition() or seen.wait(timeout)):
            raise AssertionError("the feed never showed it")
    finally:
        unsubscribe()


def test_default_selection_is_the_newest_run_with_curves(store):
    client, exp_id, exp, ws = store
    now = int(time.time() * 1000)
    cnn = log_run(client, exp_id, "mnist-cnn", start=now - 60_000)
    tab = log_run(client, exp_id, "gpu-forest", curves={}, metrics={"accuracy": 0.91}, start=now)
    d = RunsDashboard(experiment=exp, workspace_dir=ws, follow=False)
    assert [v for _, v in d.picker.options] == [tab, cnn]  # newest first
    assert d.picker.value == (cnn,)  # not the newer tabular run: it has no curves
    assert cnn in d.summary.value and "nan" not in d.summary.value.lower()  # full run ids, no NaN
    d.select([cnn, tab])
    assert tab in d.summary.value and "accuracy 0.9100" in d.summary.value
    spec = json.loads(d.figure.to_json())
    assert {t["name"] for t in spec["data"]} == {f"mnist-cnn ({cnn[:6]})"}
    assert [t.get("showlegend") for t in spec["data"]] == [True, False, False]  # one legend entry per run
    assert len({t["line"]["color"] for t in spec["data"]}) == 1  # one colour in every chart
    d.close()


def test_each_run_keeps_its_colour_and_names_are_escaped(store):
    client, exp_id, exp, ws = store
    now = int(time.time() * 1000)
    a = log_run(client, exp_id, "<img src=x onerror=alert(1)>", start=now - 2000)
    b = log_run(client, exp_id, "second", start=now - 1000)
    d = RunsDashboard(experiment=exp, workspace_dir=ws, follow=False)
    d.select([a, b])
    spec = json.loads(d.figure.to_json())
    colours = {t["name"]: t["line"]["color"] for t in spec["data"]}
    assert len(set(colours.values())) == 2
    assert "<img" not in d.summary.value and "&lt;img src=x onerror=alert(1)&gt;" in d.summary.value
    assert all("<img" not in t["name"] for t in spec["data"])
    d.select([b])
    again = json.loads(d.figure.to_json())
    assert again["data"][0]["line"]["color"] == colours[f"second ({b[:6]})"]
    d.close()


def test_the_dashboard_follows_the_store_by_itself(store):
    client, exp_id, exp, ws = store
    from mlflow.entities import Metric

    old = log_run(client, exp_id, "finished-first")
    d = RunsDashboard(experiment=exp, workspace_dir=ws, poll_seconds=0.2)
    assert d.wait_ready(60) and d.picker.value == (old,)
    live = log_run(client, exp_id, "live", epochs=1, finished=False)
    wait_for(d.feed, lambda: d.picker.value == (live,))  # a new run appears and, being the newest, is shown
    assert "1 running" in d.status.value
    now = int(time.time() * 1000)
    client.log_batch(live, metrics=[Metric("loss", 0.3, now, 2), Metric("val_loss", 0.2, now, 2), Metric("val_accuracy", 0.9, now, 2)])
    wait_for(d.feed, lambda: len(d.figure.data[0].x) == 2)  # the running run's curves grow
    client.set_terminated(live, "FINISHED")
    wait_for(d.feed, lambda: "FINISHED" in d.summary.value and "running" not in d.status.value)
    d.close()


def test_finished_runs_are_not_read_again(store):
    client, exp_id, exp, ws = store
    from mlflow.entities import Metric

    done = log_run(client, exp_id, "done")
    live = log_run(client, exp_id, "live", epochs=1, finished=False)
    feed = RunFeed(exp, workspace_dir=ws)
    feed.poll()
    reads = feed.history_reads
    assert reads == 6  # three curves of each run, once
    assert feed.poll() is False and feed.history_reads == reads  # nothing changed: nothing read
    client.log_batch(live, metrics=[Metric("loss", 0.1, int(time.time() * 1000), 2)])
    assert feed.poll() is True and feed.history_reads == reads + 3  # only the run that moved
    assert [r.run_id for r in feed.runs] == [live, done]


def test_one_feed_per_store_stopped_with_the_last_dashboard(store):
    _client, _exp_id, exp, ws = store
    first = RunsDashboard(experiment=exp, workspace_dir=ws, poll_seconds=0.2)
    second = RunsDashboard(experiment=exp, workspace_dir=ws, poll_seconds=0.2)
    assert first.feed is second.feed and first.feed.following
    threads = [t for t in threading.enumerate() if t.name == f"mlaas-run-feed-{exp}"]
    assert len(threads) == 1
    first.close()
    assert second.feed.following  # still shown somewhere
    second.close()
    second.feed.join(10)
    assert not second.feed.following and not threads[0].is_alive()


def test_store_errors_are_shown_in_the_widget(store, monkeypatch):
    from conftest import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ana:s3cret@127.0.0.1:{free_port()}")  # nothing listens there
    d = RunsDashboard(experiment="unreachable", poll_seconds=0.2)
    assert d.wait_ready(60) is True
    assert "reading runs from http://ana:***@127.0.0.1:" in d.status.value and "failed" in d.status.value
    assert "s3cret" not in d.status.value  # the store's password stays out of the page
    assert "mlaas-runs-error" in d.status.value and d.feed.error
    d.close()


def _layout(plot: PlotOutput) -> dict:
    return plot.outputs[0]["data"]["application/vnd.plotly.v1+json"]["layout"]


def _no_data(layout: dict) -> list[str]:
    return [a["xref"] for a in layout.get("annotations", []) if a.get("text") == "no data yet"]


def test_empty_charts_say_no_data_yet(store):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    empty = PlotOutput(go.Figure(go.Scatter(x=[], y=[])))
    assert _no_data(_layout(empty)) == ["x domain"] and _layout(empty)["yaxis"]["visible"] is False
    full = PlotOutput(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))
    assert _no_data(_layout(full)) == []
    fig = make_subplots(rows=1, cols=2)
    fig.add_scatter(x=[1], y=[1], row=1, col=1)
    part = PlotOutput(fig)
    assert _no_data(_layout(part)) == ["x2 domain"] and "visible" not in _layout(part).get("xaxis", {})

    class NoHistory:
        history: list = []
        on_update: list = []

    assert _no_data(_layout(LearningCurve(NoHistory()))) == ["x domain"]  # not -100 %..400 %
    monitor = TrainingMonitor()
    assert _no_data(_layout(monitor.plot)) == ["x domain", "x2 domain"]
    _client, _exp_id, exp, ws = store
    d = RunsDashboard(experiment=exp, workspace_dir=ws, follow=False)  # no runs yet
    assert _no_data(_layout(d.plot)) == ["x domain", "x2 domain", "x3 domain"] and "No runs yet" in d.summary.value
    d.close()


def test_mlaas_dashboard_uses_the_offline_template_and_lets_options_replace_defaults():
    from mlaas_kernel.cli.lab import JUPYTER_DIR, dashboard_command, dashboard_env

    cold = dashboard_command(__import__("pathlib").Path("nb.ipynb"), 9999, open_browser=False, extra=["--preheat_kernel=False"])
    assert [a for a in cold if "preheat_kernel" in a] == ["--preheat_kernel=False"]  # Voilà refuses the option twice
    assert "--template=mlaas" in cold and "--pool_size=1" in cold
    env = dashboard_env({"JUPYTER_PATH": "/elsewhere"})
    assert env["JUPYTER_PATH"].split(__import__("os").pathsep) == [str(JUPYTER_DIR), "/elsewhere"]
    template = (JUPYTER_DIR / "voila" / "templates" / "mlaas" / "index.html.j2").read_text()
    assert "extends 'lab/index.html.j2'" in template and "cdn.jsdelivr.net" in template  # the links it removes
    assert json.loads((JUPYTER_DIR / "voila" / "templates" / "mlaas" / "conf.json").read_text()) == {"base_template": "lab"}


def test_accuracy_axes_are_shares_from_0_to_100_percent():
    """One epoch's accuracy must not draw on a -50 %..150 % axis (plotly's range for a single point)."""
    from mlaas_widgets import TrainingMonitor
    from mlaas_widgets.learning_curve import LearningCurve

    monitor = TrainingMonitor(title="t")
    assert tuple(monitor.figure.layout.yaxis2.range) == (0, 1.02)

    class Learner:
        history = [{"labels": 10, "accuracy": 0.4}]
        on_update: list = []

    curve = LearningCurve(Learner())
    assert tuple(curve.figure.layout.yaxis.range) == (0, 1.02) and curve.figure.layout.xaxis.rangemode == "tozero"
    monitor.close()
    curve.close()
