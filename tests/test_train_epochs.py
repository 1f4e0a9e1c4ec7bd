"""epochs: None is the adaptive default, a whole number of at least 1 is that many, anything else is an error naming it
(``epochs or default`` once trained the default for 0)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlaas_kernel.train._inputs import TrainingInputError
from mlaas_kernel.train._loop import plan_schedule


@pytest.mark.parametrize("epochs, message", [(0, "epochs must be at least 1, or None for the default (got 0)"),
                                             (-1, "epochs must be at least 1, or None for the default (got -1)"),
                                             (1.5, "epochs must be a whole number of at least 1, or None for the default (got 1.5)"),
                                             ("2", "whole number of at least 1, or None for the default (got '2')"),
                                             (True, "whole number of at least 1, or None for the default (got True)")])
def test_epochs_below_one_or_not_whole_is_an_error_naming_it(epochs, message):
    with pytest.raises(TrainingInputError) as err:
        plan_schedule(8000, epochs=epochs)
    assert message in str(err.value)


def test_epochs_none_is_the_default_and_a_whole_number_is_kept():
    assert plan_schedule(8000).epochs == 5
    assert plan_schedule(8000, epochs=1).epochs == 1 and plan_schedule(8000, epochs=np.int64(3)).epochs == 3


# ---------------------------------------------------------------- a run never stays RUNNING after training raised


@pytest.fixture(scope="module")
def mnist_workspace(tmp_path_factory):
    """One workspace (its own MLflow store) with MNIST ingested; each test tracks into an experiment of its own."""
    from _workspace import module_workspace

    with module_workspace(tmp_path_factory, "train-inputs", ("mnist",)) as root:
        yield root


def _runs(experiment: str) -> list:
    """The runs of ``experiment`` in this workspace's store (none when the experiment was never made)."""
    from mlflow import MlflowClient

    from mlaas_kernel.track import tracking_uri

    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp is not None else []


@pytest.mark.parametrize("options, message", [
    ({"epochs": -3}, "epochs must be at least 1, or None for the default (got -3)"),
    ({"epochs": 0}, "epochs must be at least 1, or None for the default (got 0)"),
    ({"batch_size": 0}, "batch_size must be at least 1 (got 0)"),
    ({"max_lr": 0.0}, "max_lr must be above 0 (got 0.0)"),
    ({"max_lr": float("nan")}, "max_lr must be a number above 0 (got nan)"),
    ({"weight_decay": -1e-4}, "weight_decay must be at least 0 (got -0.0001)"),
    ({"dropout": 1.0}, "dropout must be at least 0 and below 1 (got 1.0)"),
    ({"width": 0}, "width must be at least 1 (got 0)"),
    ({"device": "tpu"}, "device 'tpu' is not one of auto, cpu, cuda"),
])
def test_bad_input_is_refused_before_a_run_exists(mnist_workspace, request, options, message):
    from mlaas_kernel.train import train_dataset

    experiment = f"refused-{request.node.callspec.id}"
    with pytest.raises(TrainingInputError) as err:
        train_dataset("mnist", experiment=experiment, **options)
    assert message in str(err.value)
    assert _runs(experiment) == []


@pytest.mark.parametrize("name", ["batch_size", "max_lr"])
def test_an_estimator_refuses_none_where_train_dataset_means_its_default(name):
    import numpy as np

    from mlaas_kernel.train import ImageClassifier

    images, labels = np.random.default_rng(0).random((8, 28, 28), dtype=np.float32), np.arange(8) % 2
    with pytest.raises(TrainingInputError, match=f"{name} must be a .* \\(got None\\)"):  # not a TypeError deep in the loop
        ImageClassifier(epochs=1, device="cpu", **{name: None}).fit(images, labels)


@pytest.mark.parametrize("options, message", [({"dim": 0}, "dim must be at least 1 (got 0)"),
                                              ({"margin": 0}, "margin must be above 0 (got 0)"),
                                              ({"loss": "hinge"}, "loss 'hinge' is not one of")])
def test_an_embedding_s_bad_input_is_refused_before_a_run_exists(mnist_workspace, request, options, message):
    from mlaas_kernel.train import train_embedding

    experiment = f"refused-embedding-{request.node.callspec.id}"
    with pytest.raises(TrainingInputError, match=re.escape(message)):
        train_embedding("mnist", experiment=experiment, **options)
    assert _runs(experiment) == []


def test_the_notebook_s_background_training_with_epochs_minus_3_leaves_no_running_run(mnist_workspace):
    """What notebook 04 does: the monitor runs train_dataset in a thread and ``await monitor.finished()`` re-raises."""
    import asyncio

    from mlaas_kernel.train import train_dataset
    from mlaas_widgets import TrainingMonitor

    monitor = TrainingMonitor(title="CNN on mnist")
    monitor.run(lambda: train_dataset("mnist", epochs=-3, batch_size=128, experiment="notebook", callbacks=[monitor]))
    with pytest.raises(TrainingInputError, match=r"epochs must be at least 1, or None for the default \(got -3\)"):
        asyncio.run(monitor.finished())
    assert [r.info.status for r in _runs("notebook")] == []


class _Raises:
    """A callback (as a person's own would be) that raises ``exc`` from ``hook``."""

    def __init__(self, hook: str, exc: BaseException):
        self.hook, self.exc, self.ended = hook, exc, None

    def __getattr__(self, name):
        if name == self.hook:
            def hook(*args):
                raise self.exc
            return hook
        raise AttributeError(name)

    def on_train_end(self, progress):
        self.ended = progress.error


@pytest.mark.parametrize("hook", ["on_train_begin", "on_step_end"])
def test_a_run_that_fails_after_it_was_created_ends_failed_with_the_error(mnist_workspace, hook):
    """The MLflow run exists (the tracker made it) when training raises: before the loop or in it, it ends FAILED."""
    from mlaas_kernel.train import train_dataset

    experiment = f"failed-{hook}"
    with pytest.raises(RuntimeError, match="the disk is full"):
        train_dataset("mnist", epochs=1, batch_size=2000, device="cpu", experiment=experiment,
                      callbacks=[_Raises(hook, RuntimeError("the disk is full"))])
    [run] = _runs(experiment)
    assert run.info.status == "FAILED"
    assert run.data.tags["mlaas.error"] == "RuntimeError: the disk is full"


def test_an_interrupt_in_on_train_begin_ends_the_run_killed(mnist_workspace):
    from mlaas_kernel.train import train_dataset

    with pytest.raises(KeyboardInterrupt):
        train_dataset("mnist", epochs=1, device="cpu", experiment="interrupted",
                      callbacks=[_Raises("on_train_begin", KeyboardInterrupt())])
    assert [r.info.status for r in _runs("interrupted")] == ["KILLED"]


def test_a_run_left_running_is_ended_once_failed_or_killed_and_an_ended_one_is_left_as_it_is(mnist_workspace):
    from mlaas_kernel.track import Tracker
    from mlaas_kernel.train._ended import end_if_running

    failed, killed = Tracker(experiment="left-running"), Tracker(experiment="left-running")
    failed.start(), killed.start()
    assert end_if_running(failed, TrainingInputError("y holds a single class")) == "FAILED"
    assert end_if_running(killed, KeyboardInterrupt()) == "KILLED"
    assert end_if_running(failed, RuntimeError("a second error")) is None
    runs = {r.info.run_id: r for r in _runs("left-running")}
    assert runs[failed.run_id].info.status == "FAILED"
    assert runs[failed.run_id].data.tags["mlaas.error"] == "TrainingInputError: y holds a single class"
    assert runs[killed.run_id].info.status == "KILLED"
    assert runs[killed.run_id].data.tags["mlaas.stopped"] == "interrupted before training began"


def test_callbacks_that_began_hear_the_end_when_a_later_one_raises_and_the_one_that_raised_does_not():
    from mlaas_kernel.train import ImageClassifier

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (64, 8, 8), dtype=np.uint8), np.arange(64) % 2
    first, second = _Raises("on_never", RuntimeError()), _Raises("on_train_begin", ValueError("bad callback"))
    with pytest.raises(ValueError, match="bad callback"):
        ImageClassifier(epochs=1, device="cpu", callbacks=[first, second]).fit(x, y)
    assert (first.ended, second.ended) == ("ValueError: bad callback", None)


def test_a_ddp_process_sent_sigterm_ends_its_run_failed(mnist_workspace, port):
    """torchrun sends SIGTERM to every process when one fails: rank 0's run ends FAILED instead of staying RUNNING."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1",
           "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}
    options = {"epochs": 50, "batch_size": 64, "device": "cpu", "experiment": "ddp-sigterm", "verbose": 1}
    proc = subprocess.Popen([sys.executable, "-m", "mlaas_kernel.train._ddp", "mnist", "--options", json.dumps(options)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not [r for r in _runs("ddp-sigterm") if r.data.params]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() is not None else "no run"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out
    [run] = _runs("ddp-sigterm")
    assert run.info.status == "FAILED", out
    assert run.data.tags["mlaas.error"].startswith("Terminated: stopped by signal SIGTERM"), run.data.tags
