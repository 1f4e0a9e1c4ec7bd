"""The model registry on a real workspace store: registering real 1-epoch runs (a CNN, a CNN trained on a label
snapshot, a siamese embedding), lineage, aliases that promote and rollback move, the pyfunc ONNX model, and
``mlaas models``. (tests/test_registry.py tests the generic name registry, ``mlaas_kernel._registry``.)"""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from _cli import mlaas
from _workspace import module_workspace


@pytest.fixture(scope="module")
def runs(trained_workspace, tmp_path_factory):
    """A workspace with MNIST and three finished runs of one epoch: ``cnn`` (a copy of the session's trained
    workspace), ``snap`` (a CNN on a 300-label snapshot, so a weaker second version) and ``emb`` (an embedding on
    the same snapshot); exported as MLAAS_WORKSPACE."""
    from mlaas_kernel import data
    from mlaas_kernel.labels import LabelStore
    from mlaas_kernel.train import split_dataset, train_dataset, train_embedding

    with module_workspace(tmp_path_factory, "registry", copy_of=trained_workspace["root"]) as root, \
            pytest.MonkeyPatch.context() as mp:
        mp.chdir(root.parent)  # MLflow's fluent default (./mlflow.db) would land here, where a test looks for it
        ds = data.load("mnist")
        train, _ = split_dataset(ds)
        truth = ds.labels()
        store = LabelStore()
        for item in train[:300]:
            store.label("mnist", int(item), str(truth[item]), annotator="ana")
        snap = store.snapshot("mnist")
        out = {"root": root, "snapshot": snap.ref, "fingerprint": ds.manifest["fingerprint"],
               "cnn": trained_workspace["cnn"].run_id,
               "snap": train_dataset("mnist", epochs=1, labels=snap.ref, device="cpu").run_id,
               "emb": train_embedding("mnist", epochs=1, labels=snap.ref, device="cpu").run_id}
        yield out


@pytest.fixture(scope="module")
def registered(runs):
    """The CNN run registered (version 1, champion) and the snapshot run (version 2, challenger) of mnist-cnn."""
    from mlaas_kernel import registry

    first = registry.register(runs["cnn"][:10])
    second = registry.register(runs["snap"])
    return first, second


def _git_head() -> str | None:
    from pathlib import Path

    import mlaas_kernel

    out = subprocess.run(["git", "-C", str(Path(mlaas_kernel.__file__).parent), "rev-parse", "--short=12", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def test_first_version_is_champion_later_challenger_with_lineage(runs, registered):
    from mlaas_kernel import __version__, registry, track

    first, second = registered
    assert (first.name, first.version, first.aliases, first.run_id) == ("mnist-cnn", 1, ("champion",), runs["cnn"])
    assert (second.version, second.aliases, second.run_id) == (2, ("challenger",), runs["snap"])
    assert any("max |Δ probabilities|" in n and "the same predicted classes" in n for n in first.notes), first.notes
    head = _git_head()
    for version, run_id, snapshot in ((first, runs["cnn"], "none"), (second, runs["snap"], runs["snapshot"])):
        assert version.lineage["dataset"] == "mnist" and version.lineage["run_id"] == run_id
        assert version.lineage["dataset_fingerprint"] == runs["fingerprint"]
        assert version.lineage["label_snapshot"] == snapshot
        code = version.lineage["code_version"]
        assert code.startswith(__version__) and (head is None or f"+g{head}" in code), code
        assert version.key_metric == ("val_accuracy", pytest.approx(version.metrics["val_accuracy"]))
        assert float(version.tags["mlaas.onnx.max_abs_diff"]) < 1e-4 and version.tags["mlaas.onnx.n_checked"] == "1000"
    assert runs["snapshot"].startswith("mnist@sha256:")
    client, _ = track.setup()
    run = client.get_run(runs["cnn"])
    assert run.info.status == "FINISHED"  # logging the model onto it left it as it was
    assert "serving/serving.json" in {a.path for a in client.list_artifacts(runs["cnn"], "serving")}
    assert registry.resolve("mnist-cnn") == registry.resolve("mnist-cnn@champion") == registry.resolve("models:/mnist-cnn/1")


def test_registering_a_run_again_gives_its_version_back(runs, registered):
    from mlaas_kernel import registry

    again = registry.register(runs["cnn"])
    assert again.version == 1 and "is already version 1 of mnist-cnn: not registered again" in again.notes[0]
    assert [v.version for v in registry.list_models()[0].versions] == [2, 1]


def test_the_registered_pyfunc_runs_the_onnx_model_and_gives_the_cnns_probabilities(runs, registered, tmp_path):
    import mlflow
    import mlflow.pyfunc

    from mlaas_kernel import registry
    from mlaas_kernel.models import load_run_model

    x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    before = mlflow.get_tracking_uri()
    with registry.fluent_uri():
        model = mlflow.pyfunc.load_model("models:/mnist-cnn@champion")
    assert mlflow.get_tracking_uri() == before  # put back
    proba = model.predict(x)["probabilities"]
    assert proba.shape == (16, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    torch_proba = load_run_model(runs["cnn"]).model.predict_proba(x)
    assert np.abs(proba - torch_proba).max() < 1e-4
    assert model.metadata.flavors.keys() >= {"onnx", "python_function"}
    challenger = registry.load_pyfunc("mnist-cnn@challenger").predict(x)["probabilities"]
    assert np.abs(challenger - proba).max() > 1e-3  # the other version's model, not the same one again
    files = registry.download_model("mnist-cnn/2", tmp_path / "v2")
    assert json.loads((files / "extra_files" / "serving.json").read_text())["run_id"] == runs["snap"]
    assert not (runs["root"].parent / "mlflow.db").exists()  # nothing went to MLflow's default store


def test_promote_and_rollback_move_the_champion_and_keep_its_history(registered):
    from mlaas_kernel import registry

    promoted = registry.promote("mnist-cnn")  # the challenger, by default
    assert promoted.version == 2 and promoted.aliases == ("champion",) and registry.resolve("mnist-cnn").version == 2
    with pytest.raises(registry.RegistryError, match="no alias 'challenger'"):
        registry.resolve("mnist-cnn@challenger")  # it is the champion now
    back = registry.rollback("mnist-cnn")
    assert back.version == 1 and registry.resolve("mnist-cnn@champion").run_id == registered[0].run_id
    history = registry.alias_history("mnist-cnn", "champion")
    assert [(h["version"], h["action"]) for h in history[-3:]] == [(1, "register"), (2, "promote"), (1, "rollback")]
    assert "from" not in history[-3] and history[-2]["from"] == 1 and history[-1]["from"] == 2  # the version each move left
    assert history[-2]["was"] == "challenger"
    # version 2 was the challenger before the promote: the rollback gives it the alias back, and says so
    assert registry.resolve("mnist-cnn@challenger").version == 2
    last = registry.alias_history("mnist-cnn", "challenger")[-1]
    assert (last["version"], last["action"], last["of"]) == (2, "rollback", "champion")
    with pytest.raises(registry.RegistryError, match="has no earlier version to roll back to"):
        registry.rollback("mnist-cnn")
    with pytest.raises(registry.RegistryError, match="already its challenger"):
        registry.promote("mnist-cnn", 2, "challenger")
    # a version promoted by number (it was not the challenger) does not become the challenger on rollback
    registry.promote("mnist-cnn")  # 2, the challenger: no challenger now
    registry.promote("mnist-cnn", 1)
    assert registry.rollback("mnist-cnn").version == 2
    with pytest.raises(registry.RegistryError, match="no alias 'challenger'"):
        registry.resolve("mnist-cnn@challenger")
    assert registry.rollback("mnist-cnn").version == 1  # from 2, promoted as the challenger: as the fixture left it
    assert registry.resolve("mnist-cnn@challenger").version == 2


def test_best_by_metric_picks_embedding_runs_by_silhouette_and_classifiers_by_accuracy(runs, registered):
    from mlaas_kernel import registry

    emb = registry.register_best("silhouette")
    assert (emb.name, emb.run_id, emb.aliases, emb.key_metric[0]) == ("mnist-embedding", runs["emb"], ("champion",), "silhouette")
    assert emb.notes[0].startswith("best of 1 run(s) by silhouette (highest): " + runs["emb"])
    assert any("max |Δ embedding vectors|" in n and "the same classes by the kNN vote on the embeddings" in n for n in emb.notes), emb.notes
    best = registry.register_best("val_accuracy")  # the embedding's val_accuracy (kNN) is not in the running
    better = max(("cnn", "snap"), key=lambda k: registry.resolve(f"mnist-cnn/{1 if k == 'cnn' else 2}").metrics["val_accuracy"])
    assert best.run_id == runs[better] and "best of 2 run(s) by val_accuracy (highest)" in best.notes[0]
    worst = registry.register_best("val_accuracy", lower_is_better=True)
    assert worst.run_id != best.run_id and "(lowest)" in worst.notes[0]
    assert registry.lower_is_better("val_loss") and registry.lower_is_better("mae") and not registry.lower_is_better("silhouette")


def test_wrong_references_names_versions_runs_and_metrics_say_what_exists(runs, registered):
    from mlaas_kernel import registry, track

    R = registry.RegistryError
    where = re.escape(f"no registered model 'nope' in the workspace {runs['root']}; registered models: mnist-cnn")
    cases = [(lambda: registry.resolve("nope"), where + r".*\. Commands use the workspace \$MLAAS_WORKSPACE names, else \./workspace"),
             (lambda: registry.resolve("mnist-cnn@staging"), r"no alias 'staging' \(its aliases: challenger -> version 2, champion -> version 1\)"),
             (lambda: registry.resolve("mnist-cnn/9"), r"has no version 9 \(its versions: 1, 2\)"),
             (lambda: registry.promote("mnist-cnn", 9), r"has no version 9"),
             (lambda: registry.register_best("no_such_metric"), r"has a metric 'no_such_metric' \(metrics its finished runs have: .*val_accuracy"),
             (lambda: registry.register_best("accuracy", experiment="nope"), r"no experiment 'nope' \(experiments: .*mlaas"),
             (lambda: registry.register(runs["emb"], "mnist-cnn"), r"holds cnn models and run .* has an embedding model"),
             (lambda: registry.register("0123456789abcdef"), r"no run '0123456789abcdef' in the tracking store")]
    for call, message in cases:
        with pytest.raises(R, match=message):
            call()
    client, exp = track.setup()
    empty = client.create_run(exp, run_name="no-model").info.run_id
    client.set_terminated(empty, "FINISHED")
    with pytest.raises(R, match="has no usable model"):
        registry.register(empty)
    assert issubclass(R, LookupError) and issubclass(R, ValueError)


@pytest.mark.parametrize("ref, message", [("", "no model name"), ("a@", "nothing after '@'"), ("a/0", "whole number >= 1"),
                                          ("a/x", "whole number >= 1"), ("a b", "'a b' is not a model name"),
                                          ("a@v2", "not an alias"), ("a@3", "not an alias")])
def test_parse_ref_refuses_what_is_not_a_reference(ref, message):
    from mlaas_kernel.registry import RegistryError, parse_ref

    with pytest.raises(RegistryError, match=message):
        parse_ref(ref)


def test_parse_ref_forms():
    from mlaas_kernel.registry import Ref, parse_ref

    assert parse_ref("mnist-cnn") == Ref("mnist-cnn", alias="champion")
    assert parse_ref("models:/mnist-cnn@challenger") == Ref("mnist-cnn", alias="challenger")
    assert parse_ref("mnist-cnn/3").uri == "models:/mnist-cnn/3" and str(parse_ref("a.b_c@x")) == "a.b_c@x"


def test_cli_list_show_promote_rollback_and_errors(runs, registered, capsys):
    from mlaas_kernel.cli import main

    out = mlaas("models", "list", "--json")  # a real process, as a user runs it
    assert out.returncode == 0, out.stderr
    rows = {(r["name"], r["version"]): r for r in json.loads(out.stdout)}
    assert rows[("mnist-cnn", 1)]["aliases"] == ["champion"] and rows[("mnist-cnn", 2)]["aliases"] == ["challenger"]
    assert rows[("mnist-cnn", 2)]["lineage"]["label_snapshot"] == runs["snapshot"] and rows[("mnist-cnn", 1)]["metric"] == "val_accuracy"
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "VERSION", "ALIASES", "KEY", "METRIC", "RUN", "CREATED"]
    assert any(line.split()[:4] == ["mnist-cnn", "1", "champion", "val_accuracy"] and runs["cnn"][:12] in line for line in table)
    assert main(["models", "promote", "mnist-cnn"]) == 0
    assert "mnist-cnn@champion is version 2" in capsys.readouterr().out
    assert main(["models", "rollback", "mnist-cnn"]) == 0
    assert ("mnist-cnn@champion is back at version 1 (run " in (back := capsys.readouterr().out)
            and "; version 2, the challenger before its promote, is mnist-cnn@challenger again" in back), back
    assert main(["models", "show", "mnist-cnn"]) == 0
    shown = capsys.readouterr().out
    assert "champion history: 1 (register) -> 2 (promote) -> 1 (rollback)" in shown and f"lineage run_id: {runs['cnn']}" in shown
    assert "  model URI models:/mnist-cnn@champion = models:/mnist-cnn/1 (files at models:/m-" in shown, shown
    assert (f"  tracking URI sqlite:///{runs['root'] / 'mlflow.db'}: in Python `mlaas_kernel.registry.load_pyfunc('mnist-cnn@champion')`, "
            "or plain MLflow after `mlflow.set_tracking_uri(...)` with it") in shown, shown
    for argv, message in [(["models", "rollback", "mnist-cnn"], "no earlier version to roll back to"),
                          (["models", "show", "nope@champion"], f"no registered model 'nope' in the workspace {runs['root']}; registered models: mnist-cnn"),
                          (["models", "promote", "mnist-cnn", "--version", "7"], "has no version 7 (its versions: 1, 2)"),
                          (["models", "register"], "give a RUN to register, or --best"),
                          (["models", "register", runs["cnn"], "--lower-is-better"], "they go with --best"),
                          (["models", "register", "--best", "f1"], "has a metric 'f1'"),
                          (["models", "export", "mnist-cnn/x"], "the version after '/' must be a whole number")]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("mlaas: error: ") and message in err and len(err.strip().splitlines()) == 1, err


def test_a_command_run_from_another_folder_names_the_workspace_it_looked_in(registered, tmp_path, monkeypatch, capsys):
    from mlaas_kernel.cli import main

    monkeypatch.delenv("MLAAS_WORKSPACE")  # as in a new shell, in another folder: ./workspace there
    monkeypatch.chdir(tmp_path)
    assert main(["models", "promote", "mnist-cnn"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    err = out.err.strip()
    assert err == (f"mlaas: error: no registered model 'mnist-cnn' in the workspace {tmp_path / 'workspace'}; no model is registered there "
                   "yet (`mlaas models register RUN`). Commands use the workspace $MLAAS_WORKSPACE names, else ./workspace in the "
                   "current folder: set MLAAS_WORKSPACE to use another"), err


def test_cli_register_best_and_export(runs, registered, capsys):
    from mlaas_kernel.cli import main

    assert main(["models", "register", "--best", "--model", "embedding"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"registered mnist-embedding version 1 (champion) from run {runs['emb']}") and "silhouette" in out
    assert main(["models", "export", "mnist-cnn@champion", "--format", "onnx", "--check", "100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mnist-cnn version 1 ") and "parity on 100 held-out items" in out and "held-out accuracy" in out, out
    assert float(re.search(r"max \|Δ\| of the probabilities ([0-9.e+-]+)", out).group(1)) < 1e-4, out


def test_cli_export_formats_are_the_libraries():
    from mlaas_kernel.cli.models import EXPORT_FORMATS
    from mlaas_kernel.export._version import FORMATS

    assert EXPORT_FORMATS == FORMATS


def test_versions_figure_puts_each_item_above_each_versions_bars():
    from mlaas_kernel.registry import answer_probabilities, versions_figure

    rng = np.random.default_rng(1)

    def answer(version):
        return {"model": "m", "version": version, "predictions": [
            {"class": "0", "probabilities": {str(c): float(p) for c, p in enumerate(rng.dirichlet(np.ones(10)))}} for _ in range(3)]}

    a, b = answer(1), answer(2)
    classes, proba = answer_probabilities(a)
    assert classes == [str(c) for c in range(10)] and proba.shape == (3, 10) and np.allclose(proba.sum(axis=1), 1)
    fig = versions_figure(rng.random((3, 1, 28, 28)), {"version 1": a, "version 2": b}, truth=[7, 2, 1])
    kinds = [t.type for t in fig.data]
    assert kinds.count("heatmap") == 3 and kinds.count("bar") == 6
    assert [t.name for t in fig.data if t.type == "bar" and t.showlegend] == ["version 1", "version 2"]
    np.testing.assert_allclose(fig.data[3 + 3].y, answer_probabilities(b)[1][0])  # version 2's first item
    assert [a.text for a in fig.layout.annotations][:3] == ["true 7", "true 2", "true 1"]


def test_a_run_calibrated_after_registering_has_its_sets_in_the_bundle_from_the_next_start(runs, registered, capsys):
    import time

    from mlaas_kernel import conformal, export
    from mlaas_kernel.cli import main
    from mlaas_kernel.serve import OnnxPredictor

    first = export.bundle("mnist-cnn/2")  # the snapshot run: registered without a calibration
    assert json.loads((first / "serving.json").read_text())["conformal"] is None and not OnnxPredictor(first).has_sets
    stamp = (first / "model.onnx").stat().st_mtime_ns
    assert main(["conformal", runs["snap"], "--significance", "0.1"]) == 0
    said = capsys.readouterr().out.splitlines()[-1]
    assert said == ("the registered versions of this run (mnist-cnn/2) serve these sets (at significance 0.1 unless a request asks "
                    "another): an endpoint serving them now picks them up within 10 s, a new `mlaas serve` at its start"), said
    assert export.bundle("mnist-cnn/2") == first and (first / "model.onnx").stat().st_mtime_ns == stamp  # serving.json only
    meta = json.loads((first / "serving.json").read_text())
    assert meta["conformal"] == conformal.load_calibration(runs["snap"]).to_dict() and len(meta["conformal_sha256"]) == 64
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    assert OnnxPredictor(first).has_sets and len(OnnxPredictor(first).predict(x)["sets"]) == 4
    held, started = (first / "serving.json").stat().st_mtime_ns, time.perf_counter()
    assert export.bundle("mnist-cnn/2") == first and (first / "serving.json").stat().st_mtime_ns == held  # unchanged: not rewritten
    with capsys.disabled():
        print(f"\ncached bundle with its calibration check: {1000 * (time.perf_counter() - started):.0f} ms")
    assert main(["conformal", runs["snap"], "--significance", "0.1", "--seed", "1"]) == 0  # calibrated again: another split
    capsys.readouterr()
    export.bundle("mnist-cnn/2")
    again = json.loads((first / "serving.json").read_text())
    assert again["conformal_sha256"] != meta["conformal_sha256"] and again["conformal"] == conformal.load_calibration(runs["snap"]).to_dict()
    assert main(["conformal", runs["snap"], "--score", "aps", "--significance", "0.1"]) == 0  # not the sets an endpoint serves
    said = capsys.readouterr().out.splitlines()[-1]
    assert said == ("endpoints serve LAC sets only (conformal/calibration_lac.json): this aps calibration is not served by mnist-cnn/2; "
                    f"`mlaas conformal {runs['snap'][:8]}` makes the one they use"), said
