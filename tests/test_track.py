"""Tracking: the store made ahead of need, quiet logs, truthful run status, failures shown and delivered."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import free_port

torch = pytest.importorskip("torch")

from mlaas_kernel import track  # noqa: E402
from mlaas_kernel.train import ImageClassifier  # noqa: E402


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (64, 28, 28), dtype=np.uint8), np.arange(64) % 2


@pytest.fixture
def local_store(workspace, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return workspace


def test_prepare_store_makes_it_in_another_process_and_setup_waits_for_it(local_store):
    proc = track.prepare_store()
    assert proc is not None  # a separate process does the migrations (what mlaas lab would start)
    client, exp_id = track.setup()  # meanwhile: waits on the lock, never opens a half-made store
    assert client.get_experiment(exp_id).name == "mlaas"
    assert proc.wait(timeout=120) == 0
    assert (local_store / "mlflow.db").exists()
    assert not list(local_store.glob(".mlflow.db.*.tmp"))  # made aside, renamed into place
    assert track.prepare_store() is None  # once per workspace


def test_prepare_readies_the_client_in_a_thread_that_setup_joins(local_store):
    thread = track.prepare()
    assert thread is not None and track.prepare() is None  # one preparation at a time
    client, exp_id = track.setup()  # joins the thread rather than doing the work twice
    assert not thread.is_alive() and track.setup() == (client, exp_id)
    assert (local_store / "mlflow.db").exists() and track.prepare() is None  # ready: nothing left to do


def test_a_first_run_logs_no_info_lines(local_store, tmp_path, jupyter_env):
    code = ("import numpy as np, logging; from mlaas_kernel.track import Tracker; from mlaas_kernel.train import ImageClassifier;"
            "x = np.random.default_rng(0).integers(0, 255, (32, 28, 28), dtype=np.uint8);"
            "ImageClassifier(epochs=1, device='cpu', callbacks=[Tracker(tensorboard=False)]).fit(x, np.arange(32) % 2);"
            "logging.getLogger('mlflow.store').warning('a warning still shows')")
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(local_store)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_LOGGING_LEVEL", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert " INFO " not in out.stderr and "INFO  [alembic" not in out.stderr, out.stderr  # store creation, migrations
    assert "a warning still shows" in out.stderr


class FailAt:
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, progress):
        if progress.epoch == self.epoch:
            raise RuntimeError("disk full (a test)")


def test_a_training_error_ends_the_run_failed(local_store, tiny):
    x, y = tiny
    tracker = track.Tracker(run_name="broken", tensorboard=False)
    with pytest.raises(RuntimeError, match="disk full"):
        ImageClassifier(epochs=3, device="cpu", callbacks=[tracker, FailAt(2)]).fit(x, y)
    run = tracker.client.get_run(tracker.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["mlaas.error"] == "RuntimeError: disk full (a test)"


class BadMetric:
    """Adds a metric whose name MLflow refuses: a real error, not "the server is away"."""

    def on_epoch_end(self, progress):
        progress.history[-1]["bad metric?!"] = 1.0


def test_a_real_tracking_error_is_raised_not_buffered(local_store, tiny):
    x, y = tiny
    tracker = track.Tracker(run_name="bad-metric", tensorboard=False)
    with pytest.raises(track.TrackingError, match=r"tracking run \w+ failed: MlflowException: .*bad metric"):
        ImageClassifier(epochs=2, device="cpu", callbacks=[BadMetric(), tracker]).fit(x, y)
    run = tracker.client.get_run(tracker.run_id)
    assert run.info.status == "FAILED" and "TrackingError" in run.data.tags["mlaas.error"]
    assert not (local_store / "runs" / tracker.run_id / "pending_metrics.jsonl").exists()  # refused metrics are not retried forever


def test_unreachable_means_connection_trouble_only(local_store, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    away = MlflowClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Exception) as refused:
        away.search_experiments()
    assert track._pending.unreachable(refused.value)
    client, _ = track.setup()
    with pytest.raises(Exception) as missing:
        client.log_metric("0" * 32, "loss", 1.0)  # no such run: a real error
    assert not track._pending.unreachable(missing.value)
