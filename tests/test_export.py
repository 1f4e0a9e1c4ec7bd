"""Export of real tracked runs (a 1-epoch CNN on the bundled MNIST, random forests on the GPU table):
ONNX parity with the model, dynamic batch, serving.json, int8, TorchScript, tabular, the registered
version's serving bundle, and the clear messages of formats whose packages are missing."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from _workspace import module_workspace


@pytest.fixture(scope="module")
def runs(registered_workspace, tmp_path_factory):
    """A workspace with MNIST and the GPU table, one 1-epoch CNN run (with a LAC calibration, registered as
    mnist-cnn: a copy of the session's registered workspace), a forest regressor and classifier (notebook 04b's
    tasks) and a model skl2onnx cannot convert."""
    from sklearn.neighbors import NearestCentroid

    from mlaas_kernel import track
    from mlaas_kernel.evaluate import TabularTask
    from mlaas_kernel.train import TabularClassifier, TabularRegressor

    with module_workspace(tmp_path_factory, "export", copy_of=registered_workspace["root"]) as root:
        cnn, version = registered_workspace["cnn"].run_id, registered_workspace["v1"]
        reg, _ = TabularTask.gpu_g3dmark().fit_and_log(TabularRegressor(n_estimators=20, random_state=0), name="g3d")
        clf, _ = TabularTask.gpu_category().fit_and_log(TabularClassifier(n_estimators=20, random_state=0), name="category")
        X = np.random.default_rng(0).random((40, 3))
        odd = track.log_estimator(NearestCentroid().fit(X, X[:, 0] > 0.5), name="centroid", metrics={})
        yield {"root": root, "cnn": cnn, "version": version, "reg": reg, "clf": clf, "odd": odd}


def _load(runs, key):
    from mlaas_kernel.models import load_run_model

    return load_run_model(runs[key], workspace_dir=runs["root"])


def test_onnx_matches_torch_on_1000_held_out_images_at_batch_1_7_and_256(runs, tmp_path):
    import onnxruntime as ort

    from mlaas_kernel import export
    from mlaas_kernel.evaluate import held_out_items

    loaded = _load(runs, "cnn")
    ex = export.to_onnx(loaded, tmp_path / "model.onnx", workspace_dir=runs["root"])
    print("\n" + "\n".join(ex.notes))
    assert ex.n_checked == 1000 and ex.max_abs_diff < 1e-4 and ex.same_class, ex
    assert (ex.input_name, ex.output_name) == ("input", "probabilities") and {1, 256} <= set(ex.batch_sizes)
    sess = ort.InferenceSession(str(ex.path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "input" and isinstance(inp.shape[0], str) and inp.shape[1:] == [1, 28, 28], inp.shape  # batch axis is symbolic
    assert out.name == "probabilities" and out.shape[1] == 10
    images = held_out_items(loaded, runs["root"])[0]
    start = 0
    for n in (1, 7, 256):  # graph input is 0..1; the model's own path takes the uint8 images and normalises them
        x = images[start : start + n]
        got = sess.run(None, {"input": (x[:, None] / 255.0).astype(np.float32)})[0]
        want = loaded.model.predict_proba(x)
        assert got.shape == (n, 10) and np.abs(got - want).max() < 1e-4 and (got.argmax(1) == want.argmax(1)).all()
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)  # softmax inside the graph
        start += n


def test_an_export_that_disagrees_with_its_model_is_refused_and_removed(runs, tmp_path, monkeypatch):
    from mlaas_kernel import export

    loaded = _load(runs, "cnn")
    honest = loaded.model.predict_proba
    monkeypatch.setattr(loaded.model, "predict_proba", lambda X: np.roll(honest(X), 1, axis=1))  # a model whose graph says otherwise
    with pytest.raises(export.ExportError, match=r"the export differs from the model by .* \(tolerance 0.0001\) on 200 items"):
        export.to_onnx(loaded, tmp_path / "bad.onnx", check_n=200, workspace_dir=runs["root"])
    assert not (tmp_path / "bad.onnx").exists()


def test_serving_metadata_carries_the_contract_and_the_runs_lac_calibration(runs, tmp_path):
    from mlaas_kernel import conformal, export

    loaded = _load(runs, "cnn")
    ex = export.to_onnx(loaded, tmp_path / "model.onnx", check_n=64, workspace_dir=runs["root"])
    meta = export.serving_metadata(loaded, ex, workspace_dir=runs["root"])
    json.dumps(meta)  # serving.json must be plain JSON
    assert meta["kind"] == "image" and meta["task"] == "classification" and meta["input_shape"] == [1, 28, 28]
    assert meta["classes"] == [str(i) for i in range(10)] and meta["run_id"] == runs["cnn"] and meta["dataset"] == "mnist"
    assert meta["parity"]["n_checked"] == 64 and meta["conformal_significance"] == 0.1
    assert meta["normalisation"]["mean"] == pytest.approx(loaded.model.mean_)
    cal = conformal.ConformalClassifier.from_dict(meta["conformal"])
    assert meta["conformal"]["score"] == "lac" and len(cal.cal_scores_) == 1000
    proba = loaded.model.predict_proba(np.zeros((2, 28, 28), np.uint8))
    assert cal.predict_set(proba, 0.1).shape == (2, 10)


def test_a_forest_classifier_exports_through_skl2onnx_with_parity_on_its_test_rows(runs, tmp_path):
    import onnxruntime as ort

    from mlaas_kernel import export
    from mlaas_kernel.evaluate import TabularTask

    loaded = _load(runs, "clf")
    ex = export.to_onnx(loaded, tmp_path / "clf.onnx", workspace_dir=runs["root"])
    print("\n" + "\n".join(ex.notes))
    _, X_test, _, _ = TabularTask.from_run(loaded.run).split(workspace_dir=runs["root"])
    assert ex.n_checked == len(X_test) == 242 and ex.max_abs_diff < 1e-4 and ex.same_class
    sess = ort.InferenceSession(str(ex.path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["probabilities"]  # zipmap off, the label output dropped
    meta = export.serving_metadata(loaded, ex, workspace_dir=runs["root"])
    assert meta["kind"] == "tabular" and meta["classes"] == ["Desktop", "Mobile", "Workstation"] and meta["conformal"] is None
    x = export.encode_rows(meta, X_test.to_dict(orient="records"))  # raw rows -> the graph's input, without pandas
    np.testing.assert_array_equal(x, loaded.model._features(X_test))
    got = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, loaded.model.predict_proba(X_test), atol=1e-4)


def test_a_forest_regressor_exports_with_a_relative_tolerance_and_rows_are_checked(runs, tmp_path):
    import onnxruntime as ort

    from mlaas_kernel import export

    loaded = _load(runs, "reg")
    ex = export.to_onnx(loaded, tmp_path / "reg.onnx", workspace_dir=runs["root"])
    print("\n" + "\n".join(ex.notes))
    assert ex.output_name == "prediction" and ex.n_checked == 580 and "float32 trees against float64, tolerance 1e-05 relative" in ex.notes[0]
    sess = ort.InferenceSession(str(ex.path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["prediction"]
    meta = export.serving_metadata(loaded, ex, workspace_dir=runs["root"])
    assert meta["task"] == "regression" and meta["raw_features"][-2:] == ["brand", "primary_category"]
    row = {"G2Dmark": 500.0, "log_price": None, "TDP": "75", "age": 3, "brand": "NVIDIA", "primary_category": "Spaceship"}
    (x,) = export.encode_rows(meta, [row])
    named = dict(zip(meta["features"], x))
    assert named["log_price"] == pytest.approx(meta["encoding"]["numeric"]["log_price"]) and named["TDP"] == 75  # median fills a gap
    assert named["brand_NVIDIA"] == 1 and not any(v for k, v in named.items() if k.startswith("primary_category_"))  # unseen: zeros
    with pytest.raises(export.ExportError, match=r"row 0 lacks column\(s\) \['age'\]"):
        export.encode_rows(meta, [{k: v for k, v in row.items() if k != "age"}])
    with pytest.raises(export.ExportError, match=r"row 1: 'TDP' is 'hot', expected a number"):
        export.encode_rows(meta, [row, {**row, "TDP": "hot"}])


def test_a_model_skl2onnx_cannot_convert_is_an_export_error_naming_its_type(runs, tmp_path):
    from mlaas_kernel import export

    with pytest.raises(export.ExportError, match=r"skl2onnx cannot convert a sklearn\.neighbors\._nearest_centroid\.NearestCentroid to ONNX"):
        export.to_onnx(_load(runs, "odd"), tmp_path / "odd.onnx", workspace_dir=runs["root"])
    assert not (tmp_path / "odd.onnx").exists()


def test_int8_dynamic_onnx_loses_under_2_points_and_is_logged_to_the_version_run(runs, tmp_path):
    from mlaas_kernel import export, track

    result = export.export_version("mnist-cnn@champion", "onnx", int8="dynamic", out_dir=tmp_path, workspace_dir=runs["root"])
    print("\n" + result.summary())
    assert result.run_id == runs["cnn"] and result.max_abs_diff < 1e-4 and result.same_class and result.n_checked == 1000
    assert 0.5 < result.accuracy <= 1 and result.int8 == "dynamic" and abs(result.accuracy_drop) < 2
    assert result.accuracy_drop == pytest.approx(100 * (result.accuracy - result.int8_accuracy))
    fp32, int8 = result.paths
    assert int8.name == "model.int8-dynamic.onnx" and int8.stat().st_size < fp32.stat().st_size / 2  # int8 weights
    client, _ = track.setup(workspace_dir=runs["root"])
    assert {a.path for a in client.list_artifacts(runs["cnn"], "export/onnx")} == {"export/onnx/model.onnx", "export/onnx/model.int8-dynamic.onnx"}
    lines = result.summary().splitlines()
    assert lines[2] == f"  held-out accuracy {result.accuracy:.2%} on the validation split of mnist (2,000 items)", lines
    assert lines[3].startswith(f"  int8 (dynamic) accuracy {result.int8_accuracy:.2%}: ") and lines[-2:] == [
        "  logged to the run under export/onnx/model.onnx", "  logged to the run under export/onnx/model.int8-dynamic.onnx"], lines


@pytest.mark.parametrize("drop, said", [(0.35, "a drop of 0.35 points"), (-0.05, "a gain of 0.05 points"), (0.001, "no drop"),
                                        (-0.004, "no drop")])
def test_the_int8_line_says_a_drop_a_gain_or_no_drop_and_an_embedding_compares_vectors(drop, said):
    from pathlib import Path

    from mlaas_kernel.export import ExportResult

    r = ExportResult("m", 1, "r" * 32, "onnx", [Path("model.onnx")], 3e-7, True, 1000, (1, 232, 256), accuracy=0.97,
                     int8="static", int8_accuracy=0.97 - drop / 100, accuracy_drop=drop, int8_max_abs_diff=0.01,
                     compared="embedding vectors", accuracy_on="the validation split of mnist (2,000 items)")
    lines = r.summary().splitlines()
    assert lines[1] == ("  parity on 1,000 held-out items at batch sizes 1, 232, 256: max |Δ| of the embedding vectors 3.00e-07 "
                        "(tolerance 0.0001), the same classes by the kNN vote on the embeddings")
    assert lines[2:] == ["  held-out accuracy 97.00% on the validation split of mnist (2,000 items)",
                         f"  int8 (static) accuracy {r.int8_accuracy:.2%}: {said}; max |Δ| against the float model 1.00e-02"]


def test_torchscript_and_torch_export_match_the_model(runs, tmp_path):
    import torch

    from mlaas_kernel import export

    for fmt, name in (("torchscript", "model.torchscript.pt"), ("torch-export", "model.pt2")):
        result = export.export_version("mnist-cnn/1", fmt, out_dir=tmp_path / fmt, log=False, workspace_dir=runs["root"])
        print("\n" + result.summary())
        assert [p.name for p in result.paths] == [name] and result.max_abs_diff < 1e-4 and result.same_class and result.n_checked == 1000
    module = torch.jit.load(str(tmp_path / "torchscript" / "model.torchscript.pt"))  # a file libtorch would load, batch free
    assert tuple(module(torch.zeros(5, 1, 28, 28)).shape) == (5, 10)


def test_formats_whose_packages_are_missing_say_what_to_install(runs):
    import importlib.util

    from mlaas_kernel import export

    if importlib.util.find_spec("litert_torch") is not None:
        pytest.skip("litert-torch is installed here: the message is for machines without the edge extra")
    from pathlib import Path

    from mlaas_kernel.export import _tflite

    clone = Path(export.__file__).resolve().parents[2]
    assert _tflite.checkout() == (clone if (clone / ".git").exists() and (clone / "pyproject.toml").is_file() else None)
    said = (f"TFLite export needs the edge extra: pip install -e '.[edge]' in {clone} (this clone; an installed package: "
            "pip install 'mlaas-workbench[edge]')") if _tflite.checkout() else \
        "TFLite export needs the edge extra: pip install 'mlaas-workbench[edge]' (in a clone of the repository: pip install -e '.[edge]' in its folder)"
    with pytest.raises(export.ExportError) as caught:
        export.export_version("mnist-cnn", "tflite", log=False, workspace_dir=runs["root"])
    assert str(caught.value) == said
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    with pytest.raises(export.ExportError, match=r"TensorRT export needs an NVIDIA GPU with CUDA and the tensorrt package: pip install tensorrt"):
        export.export_version("mnist-cnn", "tensorrt", log=False, workspace_dir=runs["root"])
    with pytest.raises(export.ExportError, match=r"format 'coreml': expected one of onnx, torchscript, torch-export, tflite, tensorrt"):
        export.export_version("mnist-cnn", "coreml", workspace_dir=runs["root"])
    with pytest.raises(export.ExportError, match=r"int8 quantisation is for the onnx format"):
        export.export_version("mnist-cnn", "torchscript", int8="dynamic", workspace_dir=runs["root"])


def test_bundle_is_built_once_atomically_and_follows_alias_changes(runs):
    import onnxruntime as ort

    from mlaas_kernel import export, track

    root = runs["root"]
    first = export.bundle("mnist-cnn@champion", workspace_dir=root)
    assert first == root / "serving" / "mnist-cnn" / "1" and sorted(p.name for p in first.iterdir()) == ["model.onnx", "serving.json", "version.json"]
    meta, version = json.loads((first / "serving.json").read_text()), json.loads((first / "version.json").read_text())
    assert meta["run_id"] == version["run_id"] == runs["cnn"] and version["aliases"] == ["champion"] and version["name"] == "mnist-cnn"
    sess = ort.InferenceSession(str(first / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"input": np.zeros((3, 1, 28, 28), np.float32)})[0].shape == (3, 10)
    stamp = (first / "model.onnx").stat().st_mtime_ns
    assert export.bundle("mnist-cnn/1", workspace_dir=root) == first and (first / "model.onnx").stat().st_mtime_ns == stamp  # cached
    client, _ = track.setup(workspace_dir=root)
    client.set_registered_model_alias("mnist-cnn", "challenger", "1")
    export.bundle("mnist-cnn", workspace_dir=root)
    assert json.loads((first / "version.json").read_text())["aliases"] == ["challenger", "champion"]
    assert (first / "model.onnx").stat().st_mtime_ns == stamp  # only version.json was rewritten
    (first / "serving.json").unlink()  # a broken bundle is rebuilt, by four callers at once
    got, errors = [], []

    def call():
        try:
            got.append(export.bundle("mnist-cnn@champion", workspace_dir=root))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == [first] * 4 and json.loads((first / "serving.json").read_text())["run_id"] == runs["cnn"]
    assert sorted(p.name for p in first.parent.iterdir()) == ["1"]  # no temporary or stale folders left beside it


def test_a_registered_forest_says_onnx_only_for_every_other_format_and_one_parity_tolerance(runs, tmp_path):
    from mlaas_kernel import export, registry

    v = registry.register(runs["reg"], workspace_dir=runs["root"])
    assert v.name == "gpu-benchmarks-regression"
    for fmt in ("tflite", "torchscript", "torch-export", "tensorrt"):  # the kind first: no "install the edge extra" for a forest
        with pytest.raises(export.ExportError) as caught:
            export.export_version(f"{v.name}@champion", fmt, out_dir=tmp_path / fmt, log=False, workspace_dir=runs["root"])
        assert str(caught.value) == (f"model {v.name} is a tabular model (run {runs['reg']}): it exports to onnx only, "
                                     f"without int8 (asked: {fmt})")
        assert not (tmp_path / fmt).exists()
    result = export.export_version(f"{v.name}@champion", "onnx", out_dir=tmp_path / "onnx", log=False, workspace_dir=runs["root"])
    print("\n" + result.summary())
    lines = result.summary().splitlines()
    parity = [line for line in lines if "tolerance" in line]
    assert len(parity) == 1 and parity[0] == lines[1], lines
    share = result.max_abs_diff / result.relative_to
    assert parity[0] == (f"  parity on 580 test rows at batch sizes {', '.join(map(str, result.batch_sizes))}: max |Δ| of the "
                         f"predictions {result.max_abs_diff:.3g}, {share:.2e} of the largest prediction ({result.relative_to:,.6g}); "
                         "tolerance 1e-05 of it (float32 trees against float64)"), parity
    assert share < 1e-5 and result.relative_to > 1000  # G3Dmark scores run to the tens of thousands
