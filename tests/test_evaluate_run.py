"""``evaluate_run`` and ``mlaas evaluate`` on real runs in a temporary workspace: a CNN trained on the
bundled MNIST digits, random forests on the real GPU table, read back with MlflowClient."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from _cli import mlaas
from _workspace import module_workspace
from mlaas_kernel.cli import main


@pytest.fixture(scope="module")
def runs(trained_workspace, tmp_path_factory):
    """One workspace for the module: MNIST and the GPU table, a 1-epoch CNN run (a copy of the session's trained
    workspace) and two forest runs."""
    from mlaas_kernel.evaluate import TabularTask
    from mlaas_kernel.train import TabularClassifier, TabularRegressor

    with module_workspace(tmp_path_factory, "evaluate", copy_of=trained_workspace["root"]) as root:
        cnn = trained_workspace["cnn"]
        reg, reg_metrics = TabularTask.gpu_g3dmark().fit_and_log(TabularRegressor(n_estimators=20, random_state=0), name="g3d")
        clf, clf_metrics = TabularTask.gpu_category().fit_and_log(TabularClassifier(n_estimators=20, random_state=0), name="cat")
        yield {"root": root, "cnn": cnn, "reg": reg, "reg_metrics": reg_metrics, "clf": clf, "clf_metrics": clf_metrics}


@pytest.fixture
def client(runs):
    from mlaas_kernel import track

    return track.setup(workspace_dir=runs["root"])[0]


def test_a_cnn_run_is_evaluated_on_its_validation_split_and_gets_metrics_and_artifacts(runs, client, tmp_path):
    from mlaas_kernel.evaluate import evaluate_run

    run_id = runs["cnn"].run_id
    ev = evaluate_run(run_id[:10], top_wrong=8, png=False, out=tmp_path / "ev")
    assert ev.run_id == run_id and ev.metrics.n_items == 2000  # the 8,000 / 2,000 split of the bundled digits
    assert ev.metrics.accuracy == pytest.approx(runs["cnn"].metrics["val_accuracy"])  # what training measured on the same items
    assert list(ev.table["class"]) == [str(c) for c in range(10)] and ev.table["support"].sum() == 2000
    assert len(ev.wrong) == 8 and (ev.wrong["true"] != ev.wrong["predicted"]).all()
    assert ev.wrong["confidence"].is_monotonic_decreasing
    logged = client.get_run(run_id).data.metrics
    for key, value in ev.scalars().items():
        assert logged[key] == pytest.approx(value), key
    assert {"eval_accuracy", "eval_macro_f1", "eval_ece", "eval_roc_auc_macro", "eval_pr_auc_macro", "eval_f1_0", "eval_f1_9"} <= set(logged)
    names = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert names == {f"evaluation/{n}.html" for n in ("confusion_matrix", "roc", "precision_recall", "reliability", "confidently_wrong")} | {"evaluation/metrics.json"}
    numbers = json.loads(open(client.download_artifacts(run_id, "evaluation/metrics.json", str(tmp_path))).read())
    assert numbers["accuracy"] == ev.metrics.accuracy and numbers["confusion_matrix"] == ev.metrics.confusion.tolist()
    assert [w["item"] for w in numbers["confidently_wrong"]] == ev.wrong.index.tolist()
    assert "<table" in ev._repr_html_() and "weakest classes" in ev.summary()
    worst = f"{ev.wrong['confidence'].iloc[0]:.1%}"  # one rounding in the summary and the figure
    assert f"the worst at {worst} confidence" in ev.summary()
    assert ev.figures["confidently_wrong"].layout.annotations[0].text.endswith(f"({worst})")


@pytest.fixture(scope="module")
def embedding(runs):
    """A 1-epoch siamese embedding of the digits, newer than the CNN run."""
    from mlaas_kernel.train import train_embedding

    return train_embedding("mnist", epochs=1, batch_size=256, device="cpu").run_id


def test_the_newest_run_to_evaluate_is_a_classifier_not_an_embedding_nor_a_study_without_a_model(runs, embedding, client, capsys):
    from mlaas_kernel import conformal, track
    from mlaas_kernel.evaluate import latest_run

    cnn = runs["cnn"].run_id
    assert latest_run(dataset="mnist") == conformal.newest_run("mnist") == cnn  # the embedding run is newer
    assert latest_run(dataset="mnist", model="embedding") == embedding
    _, exp_id = track.setup()
    study = client.create_run(exp_id, run_name="mnist-cnn-study", tags={"mlaas.kind": "study", "mlaas.dataset": "mnist",
                                                                         "mlaas.model": "cnn", "mlaas.study": "s"}).info.run_id
    client.set_terminated(study, "FINISHED")  # every trial pruned: no best model
    assert latest_run(dataset="mnist") == cnn
    client.set_tag(study, "mlaas.best.model", f"runs:/{cnn}/model")  # what close_parent tags once it copied the best model
    assert latest_run(dataset="mnist") == study
    client.delete_run(study)
    assert main(["evaluate", embedding[:8]]) == 1
    err = capsys.readouterr().err
    assert err == (f"mlaas: error: run {embedding} is an embedding (mlaas train --model siamese), not a classifier: evaluate a "
                   "classifier run (mlaas train, or notebook 04b's tabular runs); an embedding is judged by its silhouette "
                   f"(notebook 07) and used by mlaas conformal RUN --score knn --embedding {embedding}\n")


def test_the_gpu_table_regression_is_rebuilt_from_the_run(runs, client):
    from mlaas_kernel.evaluate import evaluate_run

    ev = evaluate_run(runs["reg"], png=False)
    m = ev.metrics
    assert m.r2 == pytest.approx(runs["reg_metrics"]["r2"]) and m.mae == pytest.approx(runs["reg_metrics"]["mae"])  # the same test rows
    assert m.n_items == 580 and set(ev.table["category"]) == {"Desktop", "Mobile", "Workstation", "Unknown"}  # 2,317 GPUs, a quarter
    assert ev.table["mae"].is_monotonic_decreasing and m.worst_category == ev.table["category"][0]
    assert f"<td>{ev.table['mae'][0]:,.1f}</td>" in ev._repr_html_() and f"MAE {ev.table['mae'][0]:,.1f} over" in ev.summary()
    assert not re.search(r"<td>-?[\d,]+\.\d\d", ev._repr_html_())  # errors to one decimal, as in the summary
    artifacts = client.get_run(runs["reg"]).info.artifact_uri.removeprefix("file://")
    assert ev.out_dir == Path(artifacts) / "evaluation" and (ev.out_dir / "residuals.html").is_file()  # where the summary says
    assert not (runs["root"] / "runs" / runs["reg"]).exists()  # no second copy
    logged = client.get_run(runs["reg"]).data.metrics
    assert logged["eval_r2"] == pytest.approx(m.r2) and logged[f"eval_mae_{m.worst_category}"] == pytest.approx(ev.table["mae"][0])


def test_the_gpu_category_classifier_shows_its_wrong_rows(runs):
    from mlaas_kernel.evaluate import evaluate_run

    folder = runs["root"] / "runs" / runs["clf"] / "evaluation"  # where an unlogged evaluation goes
    folder.mkdir(parents=True)
    (folder / "roc.png").write_bytes(b"an earlier evaluation's figure")
    ev = evaluate_run(runs["clf"], top_wrong=5, png=False, log=False)
    assert ev.out_dir == folder and (folder / "roc.html").is_file() and not (folder / "roc.png").exists()  # no stale PNG beside it
    assert ev.metrics.accuracy == pytest.approx(runs["clf_metrics"]["accuracy"])
    assert ev.metrics.classes == ["Desktop", "Mobile", "Workstation"] and ev.logged == []
    assert list(ev.wrong.columns) == ["true", "predicted", "confidence"] and len(ev.wrong) == 5
    table = ev.figures["confidently_wrong"].data[0]
    assert list(table.header.values)[:5] == ["item", "true", "predicted", "confidence", "G3Dmark"]


def test_a_label_snapshot_run_is_evaluated_on_the_validation_items_it_did_not_label(runs):
    from mlaas_kernel import data
    from mlaas_kernel.evaluate import evaluate_run
    from mlaas_kernel.labels import LabelStore
    from mlaas_kernel.train import split_dataset, train_dataset

    ds = data.load("mnist")
    train, val = split_dataset(ds)
    truth = ds.labels()
    store = LabelStore()
    picked = np.r_[train[:200], val[:150]]  # 150 of the validation items are labeled, so trained on
    for item in picked:
        store.label("mnist", int(item), str(truth[item]), annotator="ana")
    snap = store.snapshot("mnist")
    res = train_dataset("mnist", labels=snap.ref, epochs=1, device="cpu")
    ev = evaluate_run(res.run_id, png=False, log=False, top_wrong=0)
    assert ev.metrics.n_items == 2000 - 150 and "less the 350 items of label snapshot" in ev.data
    assert ev.metrics.accuracy == pytest.approx(res.metrics["val_accuracy"])


def test_cli_summary_and_png_figures(runs, tmp_path):
    env = dict(os.environ)
    out = mlaas("evaluate", runs["cnn"].run_id[:8], "--top-wrong", "4", "--no-log", "--out", str(tmp_path / "figs"), env=env)
    assert out.returncode == 0, out.stderr
    for text in ("accuracy", "macro F1", "ECE", "ROC AUC (macro)", "PR AUC (macro)", "weakest classes:", "confidently wrong: 4 shown",
                 f"figures: {tmp_path / 'figs'} (html, json, png)"):
        assert text in out.stdout, text
    assert "logged to run" not in out.stdout and "Downloading" not in out.stderr
    pngs = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    assert pngs == ["confidently_wrong.png", "confusion_matrix.png", "precision_recall.png", "reliability.png", "roc.png"]
    assert all((tmp_path / "figs" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_cli_without_a_browser_logs_html_and_says_why(runs, tmp_path, client):
    env = {**os.environ, "BROWSER_PATH": str(tmp_path / "no-chromium")}
    before = {a.path for a in client.list_artifacts(runs["clf"], "evaluation")}
    out = mlaas("evaluate", runs["clf"], "--out", str(tmp_path / "figs"), env=env)
    assert out.returncode == 0, out.stderr
    assert "note: PNG export failed (" in out.stdout and "the figures are logged as HTML only" in out.stdout
    assert "R²" not in out.stdout and "weakest classes:  Workstation" in out.stdout  # the smallest class is the hardest
    assert not list((tmp_path / "figs").glob("*.png")) and (tmp_path / "figs" / "reliability.html").is_file()
    after = {a.path for a in client.list_artifacts(runs["clf"], "evaluation")}
    assert before == set() and "evaluation/reliability.html" in after and not any(p.endswith(".png") for p in after)


def test_cli_errors_are_one_line(runs, client, capsys):
    from mlaas_kernel import track
    from mlaas_kernel.track import log_estimator
    from mlaas_kernel.train import TabularRegressor

    out = mlaas("evaluate", "0123456789abcdef", env=dict(os.environ))
    assert out.returncode == 1 and out.stderr.strip() == ("mlaas: error: no run '0123456789abcdef' in the tracking store "
                                                          "(`mlaas mlflow` lists the runs; a prefix needs 8 characters or more)")
    _, exp_id = track.setup()
    empty = client.create_run(exp_id, run_name="empty").info.run_id
    client.set_terminated(empty, "FINISHED")
    assert main(["evaluate", empty]) == 1
    assert f"mlaas: error: run {empty} (empty, FINISHED) has no usable model" in capsys.readouterr().err
    untasked = log_estimator(TabularRegressor(n_estimators=5).fit(np.arange(20.0).reshape(10, 2), np.arange(10.0)), name="untasked", metrics={})
    assert main(["evaluate", untasked]) == 1
    assert "does not record its dataset, target, features and split" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", empty, "--top-wrong", "-1"])
    assert "argument --top-wrong: -1 must be at least 0" in capsys.readouterr().err


def test_a_run_whose_dataset_is_not_in_the_workspace_is_named(tmp_path, monkeypatch, capsys):
    from mlaas_kernel.evaluate import TabularTask
    from mlaas_kernel.track import log_estimator
    from mlaas_kernel.train import TabularRegressor

    monkeypatch.setenv("MLAAS_WORKSPACE", str(tmp_path / "bare"))
    model = TabularRegressor(n_estimators=5).fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    run_id = log_estimator(model, name="elsewhere", metrics={}, tags=TabularTask.gpu_g3dmark().tags())
    assert main(["evaluate", run_id]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"mlaas: error: run {run_id} was trained on dataset 'gpu-benchmarks', which is not in this workspace "
                          "(ingest it first: mlaas ingest gpu-benchmarks)") and err.count("\n") == 1
