"""mlaas_kernel.tune: real studies in a temporary workspace (SQLite storage, MLflow store, worker processes)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

N_DIGITS = 1500  # real MNIST digits: 1,200 to train on, 300 to validate on
GOOD = {"max_lr": 3e-3, "width": 8, "dropout": 0.0, "batch_size": 64, "epochs": 2}
TERRIBLE = {**GOOD, "max_lr": 1e4}  # diverges: chance accuracy after its first epoch


@pytest.fixture(scope="module")
def digits_ws(tmp_path_factory):
    """A workspace with ``digits``: the first real MNIST test digits as an image folder."""
    from PIL import Image

    from mlaas_kernel import data

    root = tmp_path_factory.mktemp("tune")
    ws = root / "workspace"
    mnist = data.ingest("mnist", workspace_dir=ws, progress=False)
    images, labels = mnist.images()[:N_DIGITS], mnist.labels()[:N_DIGITS]
    for i, (img, label) in enumerate(zip(images, labels)):
        folder = root / "digits" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(img).reshape(28, 28).astype(np.uint8)).save(folder / f"{i}.png")
    data.ingest(str(root / "digits"), name="digits", workspace_dir=ws, progress=False)
    return ws


def test_space_overrides_and_their_errors():
    from mlaas_kernel.tune import CNN_SPACE, Param, SearchSpace, TuneError

    space = CNN_SPACE.override(["max_lr=1e-4:1e-2:log", "batch_size=32,64", "epochs=3:3"])
    assert space.params["max_lr"] == Param("float", 1e-4, 1e-2, log=True)
    assert space.params["batch_size"] == Param("choice", choices=(32, 64))
    assert space.params["epochs"] == Param("int", 3, 3)
    assert list(space.params) == list(CNN_SPACE.params)  # overrides keep the order
    assert SearchSpace.from_json(space.to_json()) == space
    for spec, message in [("lr=1:2", "cnn has no parameter 'lr'; it has max_lr, width"), ("max_lr", "write NAME=LOW:HIGH"),
                          ("max_lr=0.1:0.01", "LOW must not be above HIGH"), ("max_lr=0:1:log", "log range needs LOW above 0"),
                          ("width=8:x", "'x' is not a number"), ("width=8.5:16", "width takes whole numbers"),
                          ("max_lr=1:2:lin", "NAME=LOW:HIGH:log")]:
        with pytest.raises(TuneError, match=message):
            CNN_SPACE.override([spec])


def _client(ws):
    from mlaas_kernel import track

    return track.setup(workspace_dir=ws)[0]


@pytest.mark.slow
def test_study_prunes_tracks_parent_and_children_and_resumes(digits_ws):
    """One study: a good trial, a diverging one the median pruner stops after its first epoch, one sampled;
    then --resume adds a trial; a reuse of the name with another space is refused naming both."""
    from optuna.trial import TrialState

    from mlaas_kernel.tune import TuneError, load_study, study_figures, tune

    space = ["epochs=1:2", "width=8:12", "batch_size=64,128"]
    res = tune("digits", n_trials=3, study="s1", space=space, enqueue=[GOOD, TERRIBLE], startup_trials=1,
               workspace_dir=digits_ws, progress=False)
    assert res.complete + res.pruned == 3 and res.failed == 0, res.notes
    study = load_study("s1", workspace_dir=digits_ws)
    assert study.trials[0].state == TrialState.COMPLETE  # the sampled trial 2 may be pruned too: TPE draws it
    pruned = study.trials[1]
    assert pruned.state == TrialState.PRUNED and pruned.params["max_lr"] == 1e4
    assert sorted(pruned.intermediate_values) == [1] and pruned.user_attrs["epochs_run"] == 1  # stopped after epoch 1 of 2
    assert study.trials[0].intermediate_values[1] > 0.5 > pruned.intermediate_values[1]

    client = _client(digits_ws)
    parent = client.get_run(res.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["mlaas.study"] == "s1"
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{res.parent_run_id}'")
    assert sorted(int(r.data.tags["mlaas.trial.number"]) for r in children) == [0, 1, 2]
    by_number = {int(r.data.tags["mlaas.trial.number"]): r for r in children}
    assert by_number[1].info.status == "KILLED" and by_number[1].data.tags["mlaas.trial.state"] == "PRUNED"
    assert "pruned by study s1 after epoch 1" in by_number[1].data.tags["mlaas.stopped"]
    best = res.best
    assert best["value"] == max(t.value for t in study.trials if t.state == TrialState.COMPLETE)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(best["value"])
    assert parent.data.params["best.max_lr"] == str(best["params"]["max_lr"]) and parent.data.tags["mlaas.best.trial"] == str(best["number"])
    assert [f.path for f in client.list_artifacts(res.parent_run_id, "model")] == ["model/model.pt"]

    figures = study_figures(study)
    assert set(figures) == {"history", "importances", "parallel", "intermediate"}
    assert "trial 1 (pruned)" in [t.name for t in figures["intermediate"].data]
    assert study.metric_names == ["val_accuracy"] and figures["history"].layout.yaxis.title.text == "val_accuracy"
    assert figures["history"].layout.xaxis.tickformat == "d"  # trial numbers, not 0.2 ... 0.8
    epochs = figures["intermediate"].layout.xaxis
    assert (epochs.tick0, epochs.dtick, tuple(epochs.range)) == (1, 1, (0.5, 2.5))  # whole epochs 1 and 2
    for key, value in best["params"].items():  # printed to 3 significant digits
        shown = re.search(rf"^  {key} +(\S+)$", res.summary(), re.M).group(1)
        if isinstance(value, float):
            assert float(shown) == pytest.approx(value, rel=5e-3) and len(shown.split("e")[0].replace(".", "").lstrip("0")) <= 3, shown

    again = tune("digits", n_trials=1, study="s1", resume=True, workspace_dir=digits_ws, progress=False)
    assert again.parent_run_id == res.parent_run_id and len(load_study("s1", workspace_dir=digits_ws).trials) == 4
    assert again.complete + again.pruned == 1
    with pytest.raises(TuneError, match=r"study 's1' searches dataset digits, cnn: max_lr=.*epochs=1:2; this asks for dataset digits, cnn: .*epochs=2:6"):
        tune("digits", n_trials=1, study="s1", resume=True, space=["max_lr=1e-3:1e-2"], workspace_dir=digits_ws, progress=False)
    with pytest.raises(TuneError, match="study 's1' exists .*--resume continues it"):
        tune("digits", n_trials=1, study="s1", space=space, workspace_dir=digits_ws, progress=False)
    with pytest.raises(TuneError, match="no study 'nope' to resume in this workspace; studies: s1"):
        tune("digits", n_trials=1, study="nope", resume=True, workspace_dir=digits_ws, progress=False)


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_it_failed_and_the_study_goes_on(digits_ws):
    from optuna.trial import TrialState

    from mlaas_kernel.tune import load_study, tune

    long = {**GOOD, "epochs": 40}  # trial 0 runs long enough to be killed in the middle
    out = {}
    runner = threading.Thread(target=lambda: out.update(res=tune(
        "digits", n_trials=3, workers=2, study="k", space=["epochs=1:1"], enqueue=[long], pruner="none",
        workspace_dir=digits_ws, progress=False)))
    runner.start()
    deadline = time.monotonic() + 120
    while True:  # wait until trial 0 has reported an epoch: it is mid-training
        assert time.monotonic() < deadline and runner.is_alive()
        trials = load_study("k", workspace_dir=digits_ws).trials if "k" in _names(digits_ws) else []
        if trials and trials[0].intermediate_values:
            break
        time.sleep(0.2)
    host, pid = trials[0].user_attrs["mlaas.worker"].rsplit(":", 1)
    os.kill(int(pid), signal.SIGKILL)
    runner.join(timeout=180)
    res = out["res"]
    study = load_study("k", workspace_dir=digits_ws)
    assert study.trials[0].state == TrialState.FAIL
    assert [t.state for t in study.trials[1:]] == [TrialState.COMPLETE] * 3  # the other worker did the 3 trials
    assert (res.complete, res.failed) == (3, 1)
    assert any(f"pid {pid}) ended: killed by SIGKILL; its trial 0 is marked FAIL" in n for n in res.notes), res.notes
    run = _client(digits_ws).get_run(study.trials[0].user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["mlaas.trial.state"] == "FAIL"


def _names(ws):
    from mlaas_kernel.tune import study_names

    return study_names(ws)


@pytest.mark.slow
def test_ctrl_c_stops_the_study_cleanly_and_says_how_to_resume(digits_ws):
    """SIGINT to the CLI's process group, as a terminal's Ctrl-C: exit 130 and one block saying what was
    stopped and how to go on, no worker traceback; the trials FAIL (tagged interrupted), their runs and the parent run KILLED."""
    from optuna.trial import TrialState

    from mlaas_kernel.tune import load_study

    env = {**os.environ, "MLAAS_WORKSPACE": str(digits_ws), "MLAAS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "mlaas_kernel", "tune", "digits", "--trials", "4", "--workers", "2", "--study", "ctrl-c",
           "--space", "epochs=40:40", "--pruner", "none"]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        deadline = time.monotonic() + 120
        while True:  # until both workers train (their trials have MLflow runs)
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            trials = load_study("ctrl-c", workspace_dir=digits_ws).trials if "ctrl-c" in _names(digits_ws) else []
            if sum("mlflow_run_id" in t.user_attrs for t in trials) == 2:
                break
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, (out, err)
    assert ("interrupted: 2 trial(s) stopped (their runs KILLED); the study keeps its 0 finished trials; "
            "continue with `mlaas tune digits --study ctrl-c --resume`") in out, out
    assert "0 failed, 2 stopped" in out and "note: worker" not in out and "Traceback" not in out + err
    study = load_study("ctrl-c", workspace_dir=digits_ws)
    assert [(t.state, t.user_attrs.get("mlaas.interrupted")) for t in study.trials] == [(TrialState.FAIL, True)] * 2
    client = _client(digits_ws)
    assert [client.get_run(t.user_attrs["mlflow_run_id"]).info.status for t in study.trials] == ["KILLED"] * 2
    assert client.get_run(study.user_attrs["mlaas.parent_run_id"]).info.status == "KILLED"
