"""Conformal calibration of a real tracked run (a 1-epoch CNN on the bundled MNIST): library and ``mlaas conformal``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _cli import mlaas
from _workspace import module_workspace


@pytest.fixture(scope="module")
def trained(trained_workspace, tmp_path_factory):
    """A workspace with MNIST, one tracked CNN run (a copy of the session's trained workspace) and one siamese
    embedding run (1 epoch each), exported as MLAAS_WORKSPACE."""
    from mlaas_kernel.train import train_embedding

    with module_workspace(tmp_path_factory, "conformal", copy_of=trained_workspace["root"]) as root:
        embedding_id = train_embedding("mnist", epochs=1).run_id
        yield root, trained_workspace["cnn"].run_id, embedding_id


def _artifact(client, run_id, path, tmp_path):
    return client.download_artifacts(run_id, path, str(tmp_path))


def test_calibrate_run_logs_sets_metrics_and_a_calibration_that_reloads(trained, tmp_path):
    import pandas as pd

    from mlaas_kernel import conformal, track

    root, run_id, _ = trained
    result = conformal.calibrate_run(run_id[:10], significance=0.05, score="lac", workspace_dir=root)
    s = result.summary
    assert result.run_id == run_id and result.n_calibration == 1000 and s["n"] == 1000
    # One 1,000/1,000 split: coverage varies by about 1 point (sd); the guarantee itself is tested over
    # 100 splits in test_conformal.py, so this only bounds it within 5 sd.
    assert 0.90 <= s["coverage"] <= 1.0 and 0.5 < s["mean_set_size"] < 10
    text = result.summary_text(n_splits=20)
    assert f"{s['coverage']:.2%} on this split (1,000 items: one split of 1,000 + 1,000 items varies by about ±1.0%)" in text
    mean = result.over_splits((0.05,), n_splits=20)["coverage"].iloc[0]  # the mean over splits is printed beside it
    assert f"over 20 splits  {mean:.2%} (mean over random calibration/evaluation splits of the same 2,000 items: " \
           "the guarantee is on this average, ≥ 95.0%)" in text, text
    assert ("empty sets (" in text) == (s["empty"] > 0) and "calibrated on 1,000 of the validation split of mnist" in result.notes[0]
    loose = conformal.calibrate_run(run_id, significance=0.3, log=False, workspace_dir=root)  # a 1-epoch CNN is right > 70 %
    assert loose.summary["empty"] > 0 and f"empty sets ({loose.summary['empty']:.1%}): no class is typical enough" in loose.summary_text()
    client, _ = track.setup(workspace_dir=root)
    run = client.get_run(run_id)
    assert run.data.metrics["conformal_coverage_lac_0.05"] == pytest.approx(s["coverage"])
    assert run.data.metrics["conformal_mean_set_size_lac_0.05"] == pytest.approx(s["mean_set_size"])
    sets = pd.read_parquet(_artifact(client, run_id, "conformal/sets_lac_0.05.parquet", tmp_path))
    assert len(sets) == 1000 and {"item", "set", "size", "label", "covered", "p_0", "p_9"} <= set(sets.columns)
    assert (sets["size"] == sets["set"].map(len)).all() and sets["covered"].mean() == pytest.approx(s["coverage"])
    saved = json.loads(open(_artifact(client, run_id, "conformal/calibration_lac.json", tmp_path)).read())
    assert saved["score"] == "lac" and len(saved["calibration_scores"]) == 1000 and saved["mondrian"] is False
    frame = result.over_splits((0.05, 0.1), n_splits=50)  # the split above is one draw; over 50 the mean meets the target
    se = frame["coverage_sd"] / np.sqrt(50)
    assert ((frame["coverage"] - frame["target"]).abs() < 4 * se + 1 / 1001).all() and (frame["coverage_sd"] < 0.03).all(), frame
    again = conformal.load_calibration(run_id[:12], name="lac", workspace_dir=root)
    np.testing.assert_array_equal(again.cal_scores_, result.predictor.cal_scores_)
    proba = np.asarray(result.scores[:5])  # LAC scores of held-out items: 1 - p, so p = 1 - score
    np.testing.assert_array_equal(again.predict_set(1 - proba, 0.05).shape, (5, 10))
    from mlaas_kernel.models import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match=r"has no conformal/calibration_aps-mondrian.json \(calibrations it has: lac"):
        conformal.load_calibration(run_id, name="aps-mondrian", workspace_dir=root)


def test_knn_mondrian_on_the_training_items(trained):
    from mlaas_kernel import conformal

    root, run_id, _ = trained
    result = conformal.calibrate_run(run_id, significance=0.1, score="knn", mondrian=True, log=False, workspace_dir=root)
    assert result.name == "knn-mondrian" and "PCA (50 components) of the pixels" in result.features
    assert 0.83 <= result.summary["coverage"] <= 0.97 and min(result.summary["class_coverage"].values()) > 0.75
    held_out = set(result.table.index)
    from mlaas_kernel import data
    from mlaas_kernel.train import split_dataset

    train, _ = split_dataset(data.load("mnist", workspace_dir=root))
    assert held_out.isdisjoint(train.tolist())  # the evaluation items are not among the kNN reference items


def test_mlaas_conformal_with_the_siamese_embedding_prints_and_logs(trained, jupyter_env):
    from mlaas_kernel import conformal, track

    root, run_id, embedding_id = trained
    assert conformal.newest_run("mnist", workspace_dir=root) == run_id  # not the newer embedding run
    assert conformal.newest_run("mnist", model="embedding", workspace_dir=root) == embedding_id
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(root)}
    out = mlaas("conformal", run_id, "--significance", "0.1", "--score", "knn", "--embedding", embedding_id[:8], env=env)
    assert out.returncode == 0, out.stderr
    assert f"run {run_id}: knn sets at significance 0.1 (target coverage 90.0%)" in out.stdout
    assert f"kNN distances on the 16-d siamese embedding of run {embedding_id[:8]}" in out.stdout
    assert "coverage" in out.stdout and "conformal/sets_knn_0.1.parquet" in out.stdout
    client, _ = track.setup(workspace_dir=root)
    assert 0.83 <= client.get_run(run_id).data.metrics["conformal_coverage_knn_0.1"] <= 0.97
    wrong = mlaas("conformal", embedding_id, env=env)  # an embedding run has no classifier to calibrate: where it goes instead
    assert wrong.returncode == 1 and f"run {embedding_id} holds a siamese embedding" in wrong.stderr, wrong.stderr
    assert f"take it as --embedding RUN: mlaas conformal {run_id[:8]} --score knn --embedding {embedding_id[:8]}" in wrong.stderr
    assert "embedding=" not in wrong.stderr, wrong.stderr  # the library's words stay in the library
    swapped = mlaas("conformal", run_id, "--score", "knn", "--embedding", run_id, "--no-log", env=env)
    assert swapped.returncode == 1 and "Traceback" not in swapped.stderr, swapped.stderr
    assert (f"mlaas: error: --embedding needs an embedding run (`mlaas train mnist --model siamese`); run {run_id} is a CNN "
            "classifier") in swapped.stderr, swapped.stderr
    with pytest.raises(conformal.ConformalInputError, match=r"take it as embedding=RUN: calibrate_run\("):
        conformal.calibrate_run(embedding_id, workspace_dir=root)
    with pytest.raises(conformal.ConformalInputError, match=f"^embedding=RUN needs an embedding run .*; run {run_id} is a CNN classifier$"):
        conformal.calibrate_run(run_id, score="knn", embedding=run_id, log=False, workspace_dir=root)


@pytest.mark.parametrize("args, code, message", [
    (["--significance", "0"], 2, "--significance: significance 0.0 is outside (0, 1)"),
    (["--significance", "much"], 2, "'much' is not a number"),
    (["--k", "0"], 2, "argument --k: 0 must be at least 1"),
    (["--embedding", "abc12345"], 2, "--embedding is for --score knn (the lac score uses the model's probabilities)"),
])
def test_mlaas_conformal_refuses_bad_input(trained, jupyter_env, args, code, message):
    root, run_id, _ = trained
    out = mlaas("conformal", run_id, "--no-log", *args, env={**jupyter_env, "MLAAS_WORKSPACE": str(root)})
    assert out.returncode == code and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_too_small_a_calibration_half_is_refused(trained):
    from mlaas_kernel import conformal

    root, run_id, _ = trained
    with pytest.raises(conformal.ConformalInputError, match="1000 calibration items, fewer than the 1999 needed at significance 0.0005"):
        conformal.calibrate_run(run_id, significance=0.0005, log=False, workspace_dir=root)
    with pytest.raises(conformal.ConformalInputError, match="score 'hinge' is not one of lac, aps, knn"):
        conformal.calibrate_run(run_id, score="hinge", log=False, workspace_dir=root)


def test_mlaas_conformal_names_a_missing_run(trained, jupyter_env):
    root, _, _ = trained
    out = mlaas("conformal", "0123456789abcdef", env={**jupyter_env, "MLAAS_WORKSPACE": str(root)})
    assert out.returncode == 1 and "mlaas: error: no run '0123456789abcdef'" in out.stderr, out.stderr
