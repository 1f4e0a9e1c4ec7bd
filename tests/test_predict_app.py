"""The prediction playground: the digit canvas, the playground's predictions in process and through
a running endpoint, the page with no model, papermill, and the page in Chromium (strokes drawn
with the mouse)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from _servers import serving
from _workspace import module_workspace, use_workspace
from conftest import free_port


@pytest.fixture(scope="module")
def registered(trained_workspace, registered_workspace, tmp_path_factory):
    """A workspace with MNIST and the GPU table: the page as it was before any model was registered (a copy of the
    session's trained workspace), then (a copy of the session's registered workspace) a 1-epoch CNN calibrated for LAC
    sets (mnist-cnn, version 1, champion), a small G3Dmark forest (gpu-benchmarks-regression, version 1, champion),
    and, on a 200-label snapshot (seconds to train), a second CNN (mnist-cnn version 2, challenger) and a siamese
    embedding (mnist-embedding)."""
    from mlaas_kernel import data, registry
    from mlaas_kernel.evaluate import TabularTask
    from mlaas_kernel.labels import LabelStore
    from mlaas_kernel.train import TabularRegressor, TrainingWarning, load_model, split_dataset, train_dataset, train_embedding
    from mlaas_widgets import PredictApp

    with module_workspace(tmp_path_factory, "playground-empty", copy_of=trained_workspace["root"]):
        empty = PredictApp()  # nothing registered yet
    with module_workspace(tmp_path_factory, "playground", copy_of=registered_workspace["root"]) as root:
        forest = TabularRegressor(n_estimators=10, random_state=0)
        reg_run, _ = TabularTask.gpu_g3dmark().fit_and_log(forest, name="g3d")
        registry.register(reg_run, check_n=200)  # the name registering 04b's run gives
        ds, store = data.load("mnist"), LabelStore()
        for item in split_dataset(ds)[0][:200]:
            store.label("mnist", int(item), str(ds.labels()[item]), annotator="test")
        snap = store.snapshot("mnist").ref
        with pytest.warns(TrainingWarning):  # a few steps on 200 items: weak models, which is all these tests need
            small = train_dataset("mnist", epochs=1, labels=snap, device="cpu").run_id
            emb = train_embedding("mnist", epochs=1, labels=snap, device="cpu").run_id
        registry.register(small, "mnist-cnn", check_n=200)
        registry.register(emb, "mnist-embedding", check_n=200)
        yield {"root": root, "empty": empty, "model": load_model(root / registered_workspace["model_file"]), "forest": forest}


@pytest.fixture
def ws(registered, monkeypatch):
    use_workspace(monkeypatch, registered["root"])
    return registered


def _digits(n=3):
    """Real MNIST test digits (0..1 floats, [N, 28, 28]) and their labels."""
    from mlaas_kernel import data

    ds = data.load("mnist")
    return np.asarray(ds.images()[-n:], dtype=np.float32) / 255.0, ds.labels()[-n:]


def test_canvas_draw_clear_and_bad_input():
    from mlaas_widgets import DigitCanvas

    canvas = DigitCanvas()
    assert canvas.image is None and canvas.pixels == []
    img = np.zeros((28, 28), dtype=np.float32)
    img[8:20, 12:15] = 1.5  # clipped to 1
    canvas.draw(img)
    assert canvas.image.shape == (28, 28) and canvas.image.max() == 1.0 and canvas.strokes == 1
    with pytest.raises(ValueError, match=r"shape \(28, 27\); expected \(28, 28\)"):
        canvas.draw(np.zeros((28, 27)))
    with pytest.raises(ValueError, match="NaN"):
        canvas.draw(np.full((28, 28), np.nan))
    with pytest.raises(Exception, match="holds 5 values; expected 784"):
        canvas.pixels = [0.0] * 5
    canvas.clear()
    assert canvas.image is None and canvas.strokes == 0
    for name in ("pixels", "strokes", "size", "line_width", "disabled"):
        assert DigitCanvas.class_traits()[name].help, name


def test_no_registered_model_says_how_to_make_one(registered):
    app = registered["empty"]
    assert "mlaas models register RUN" in app.header.value and app.session is None
    assert app.canvas.layout.display == "none" and app.form.layout.display == "none" and app.picker.disabled


def test_a_drawing_is_predicted_in_process_with_its_set(ws):
    from mlaas_kernel import playground
    from mlaas_widgets import PredictApp

    images, _labels = _digits(3)
    app = PredictApp()
    assert app.ref == "mnist-cnn@champion" and "image classification on mnist" in app.header.value
    expected = ws["model"].predict_proba(images[:, None])
    for image, probs in zip(images, expected):
        app.canvas.draw(image)  # what a stroke in the browser does
        pred = app.last
        assert pred.via == "in process" and (pred.name, pred.version, pred.aliases) == ("mnist-cnn", 1, ("champion",))
        assert np.allclose(pred.probabilities, probs, atol=1e-4)  # the ONNX graph answers as the torch model
        assert pred.predicted == str(ws["model"].classes_[int(np.argmax(probs))])
        assert pred.set is not None and pred.significance == 0.1
        assert f"class {pred.predicted} (probability " in app.result.value and "in process, no endpoint running" in app.result.value
        assert "90% coverage" in app.result.value
    spec = app.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert len(spec["data"][0]["x"]) == 10 and spec["layout"]["title"]["text"].startswith(f"Probabilities: class {pred.predicted}")
    assert app.chart.layout.display is None and app.form.layout.display is None  # the form's place names the tabular models
    assert "Tabular models registered here: <code>gpu-benchmarks-regression</code>" in app.form.children[0].value
    app.choose("mnist-cnn", "/2")  # no calibration: the answer says why there is no set
    app.canvas.draw(images[0])
    assert app.last.set is None and app.last.version == 2
    assert ("; no conformal set: version 2 has no conformal calibration (`mlaas conformal " in app.result.value), app.result.value
    app.canvas.clear()
    assert app.result.value == "" and "draw a digit" in json.dumps(app.chart.outputs[0]["data"])
    bad = app.upload_bytes(b"not an image", "note.txt")
    assert bad is None and "mlaas-predict-error" in app.result.value and "note.txt" in app.result.value
    with pytest.raises(LookupError, match="not a model reference"):
        playground.Playground("mnist-cnn@")


def test_an_embedding_model_is_not_listed_and_said_plainly_when_asked_for(ws):
    from mlaas_widgets import PredictApp

    app = PredictApp(model="mnist-embedding")
    assert sorted(app.picker.options) == ["gpu-benchmarks-regression", "mnist-cnn"]  # the page shows classifiers and tabular models
    assert "mnist-embedding is an embedding model: it answers with a vector" in app.header.value
    assert app.ref == "mnist-cnn@champion"
    app.canvas.draw(_digits(1)[0][0])
    assert app.last.name == "mnist-cnn" and "probabilities" != app.result.value and "class " in app.result.value


def test_an_endpoint_of_an_embedding_is_said_plainly(ws, tmp_path):
    import os

    from conftest import REPO
    from mlaas_widgets import PredictApp

    port = free_port()
    env = {**os.environ, "MLAAS_WORKSPACE": str(ws["root"])}
    cmd = [sys.executable, "-m", "mlaas_kernel", "serve", "mnist-embedding@champion", "--port", str(port)]
    with serving(cmd, f"http://127.0.0.1:{port}/ready", env=env, cwd=REPO, log=tmp_path / "serve.log"):
        app = PredictApp(endpoint=f"http://127.0.0.1:{port}")  # the page's ?endpoint= naming an embedding's endpoint
    assert f"mnist-embedding (at http://127.0.0.1:{port}) is an embedding model: it answers with a vector" in app.header.value
    assert app.session is None
    assert app.upload_bytes(b"not looked at") is None and app.result.value == ""


def test_an_endpoints_answer_without_a_set_says_why(ws, tmp_path):
    import os

    from conftest import REPO
    from mlaas_widgets import PredictApp

    port = free_port()
    env = {**os.environ, "MLAAS_WORKSPACE": str(ws["root"])}
    cmd = [sys.executable, "-m", "mlaas_kernel", "serve", "mnist-cnn/2", "--port", str(port)]  # version 2: not calibrated
    with serving(cmd, f"http://127.0.0.1:{port}/ready", env=env, cwd=REPO, log=tmp_path / "serve.log"):
        app = PredictApp(model="mnist-cnn", alias="2", endpoint=f"http://127.0.0.1:{port}")
        app.canvas.draw(_digits(1)[0][0])
    assert app.last.via == "endpoint" and app.last.version == 2 and app.last.set is None
    assert "no conformal calibration for version 2, so no prediction sets: run `mlaas conformal " in app.result.value, app.result.value


def test_the_header_and_versions_follow_a_promote_made_while_the_page_is_open(ws):
    from mlaas_kernel import registry
    from mlaas_widgets import PredictApp

    app = PredictApp()
    assert app.alias.label == "champion (version 1)" and ", version 1;" in app.header.value
    assert "challenger (version 2)" in dict(app.alias.options)
    registry.promote("mnist-cnn", 2)  # as `mlaas models promote mnist-cnn --version 2` from a terminal
    try:
        app.canvas.draw(_digits(1)[0][0])
        assert (app.last.version, app.last.aliases) == (2, ("champion",))
        assert "mnist-cnn version 2 (champion)" in app.result.value
        assert app.alias.label == "champion (version 2)" and app.alias.value == "@champion"
        assert ", version 2;" in app.header.value and "challenger (version 2)" not in dict(app.alias.options)
    finally:
        registry.rollback("mnist-cnn")
    app.canvas.draw(_digits(2)[0][0])
    assert app.last.version == 1 and app.alias.label == "champion (version 1)" and ", version 1;" in app.header.value


def test_the_page_opens_on_an_image_classifier_a_tour_model_too():
    from mlaas_kernel.playground import default_ref

    assert default_ref(["gpu-benchmarks-regression", "mnist-cnn-tour", "mnist-cnn"]) == "mnist-cnn@champion"
    assert default_ref(["gpu-benchmarks-regression", "mnist-cnn-tour"]) == "mnist-cnn-tour@champion"  # notebook 09's model alone
    assert default_ref(["gpu-benchmarks-regression"], kind="image") == "gpu-benchmarks-regression@champion" and default_ref([]) is None


def test_page_parameters_come_from_the_url_query(monkeypatch):
    from mlaas_kernel import playground

    monkeypatch.delenv("VOILA_KERNEL_ID", raising=False)
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv("QUERY_STRING", "model=gpu-benchmarks-regression&alias=&endpoint=http%3A%2F%2F127.0.0.1%3A9&other=1")
    assert playground.page_parameters(model="", alias="champion", endpoint="") == {
        "model": "gpu-benchmarks-regression", "alias": "champion", "endpoint": "http://127.0.0.1:9"}  # empty and unknown keys ignored


def test_an_asked_for_endpoint_that_does_not_answer_falls_back_in_process(ws):
    from mlaas_kernel import playground

    images, _ = _digits(1)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    pred = playground.Playground("mnist-cnn", endpoint=url).predict_array(images[0])
    assert pred.via == "in process" and pred.source_text() == f"in process, the endpoint {url} does not answer"


def test_an_uploaded_png_is_predicted(ws):
    import io

    from PIL import Image

    from mlaas_widgets import PredictApp

    images, _ = _digits(1)
    buf = io.BytesIO()
    Image.fromarray((images[0] * 255).round().astype(np.uint8)).save(buf, format="PNG")
    app = PredictApp(model="mnist-cnn", alias="1")
    pred = app.upload_bytes(buf.getvalue(), "digit.png")
    assert app.ref == "mnist-cnn/1" and pred.via == "in process"
    assert np.allclose(pred.probabilities, ws["model"].predict_proba(images[:1, None])[0], atol=2e-3)  # 28x28 used as it is


def test_the_tabular_model_gets_a_form_with_training_medians(ws):
    import pandas as pd

    from mlaas_kernel.evaluate import TabularTask
    from mlaas_widgets import PredictApp

    app = PredictApp(model="gpu-benchmarks-regression")
    assert app.form.layout.display is None and app.canvas.layout.display == "none"
    assert app.chart.layout.display == "none" and app.result.layout.display == "none"  # no empty "draw a digit" chart above the form
    fields = {f.description: f for f in app.form_fields}
    X_train = TabularTask.gpu_g3dmark().split()[0]
    assert list(fields) == ["G2Dmark", "log_price", "TDP", "age", "brand", "primary_category"]
    assert fields["TDP"].value == pytest.approx(X_train["TDP"].median(), abs=1e-3)
    assert set(fields["brand"].options) == set(X_train["brand"].dropna().astype(str))
    fields["TDP"].value = 250.0
    pred = app.predict_form()
    row = pd.DataFrame([{name: f.value for name, f in fields.items()}])
    assert pred.value == pytest.approx(float(ws["forest"].predict(row)[0]), rel=1e-5)
    assert f"predicted {pred.value:,.1f}" in app.form_result.value and "gpu-benchmarks-regression version 1 (champion)" in app.form_result.value


@pytest.mark.notebook
def test_papermill_runs_the_page_with_parameters(ws, jupyter_env, artifacts, monkeypatch):
    import nbformat
    import papermill as pm

    from conftest import REPO

    for key, value in jupyter_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLAAS_WORKSPACE", str(ws["root"]))
    notebook = REPO / "notebooks" / "dashboards" / "predict_app.ipynb"
    out = artifacts / "predict_app.ipynb"
    pm.execute_notebook(str(notebook), str(out), parameters={"model": "mnist-cnn", "alias": "1"}, cwd=str(notebook.parent),
                        progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    assert [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"] == []
    state = json.dumps(nb.metadata["widgets"])
    assert "mnist-cnn/1" in state and "image classification on mnist" in state  # version 1 picked by number


def _draw_a_one(page, canvas):
    box = canvas.bounding_box()
    x, top, bottom = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2, box["y"] + box["height"] * 0.8
    page.mouse.move(x - 20, top + 25)
    page.mouse.down()
    for i in range(1, 11):  # a short flag, then the long stroke down
        page.mouse.move(x - 20 + 2 * i, top + 25 - 2.5 * i)
    for i in range(1, 21):
        page.mouse.move(x, top + (bottom - top) * i / 20)
    page.mouse.up()


def _check_framing(page):
    """What the canvas sent (its 28x28 preview) is framed like MNIST, and like the endpoint frames
    an upload of the same drawing (serve's prepare_image on the canvas as a PNG)."""
    import base64

    from mlaas_kernel.serve._image import prepare_image

    png, preview = page.evaluate("""() => {
        const pad = document.querySelector('canvas.mlaas-canvas-pad'), small = document.querySelector('canvas.mlaas-canvas-preview');
        const data = small.getContext('2d').getImageData(0, 0, 28, 28).data;
        return [pad.toDataURL('image/png'), Array.from(data).filter((_, i) => i % 4 === 0)]; }""")
    sent = np.asarray(preview, dtype=np.float32).reshape(28, 28) / 255
    upload = prepare_image(base64.b64decode(png.split(",", 1)[1]), (1, 28, 28))[0]
    rows, cols = np.arange(28) @ sent.sum(1) / sent.sum(), np.arange(28) @ sent.sum(0) / sent.sum()
    assert abs(rows - 14) < 0.5 and abs(cols - 14) < 0.5, (rows, cols)  # MNIST's digits: centre of mass at pixel 14
    assert np.corrcoef(sent.ravel(), upload.ravel())[0, 1] > 0.9


@pytest.mark.browser
def test_strokes_on_the_canvas_are_predicted_in_process_then_via_the_endpoint(ws, browser_page, project_copy, jupyter_env, port, artifacts):
    from playwright.sync_api import expect

    page = browser_page
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(ws["root"])}
    env.pop("MLFLOW_TRACKING_URI", None)
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", "predict", "--port", str(port), "--no-browser"]
    with serving(cmd, base + "/voila/static/voila.js", env=env, cwd=project_copy, log=artifacts / "voila.log"):
        page.goto(base + "/")
        canvas = page.locator("canvas.mlaas-canvas-pad")
        canvas.wait_for(timeout=120_000)
        _draw_a_one(page, canvas)
        result = page.locator(".mlaas-predict-result")
        expect(result).to_contain_text("in process, no endpoint running", timeout=30_000)
        expect(result).to_contain_text("conformal set at 90% coverage")
        expect(result).to_contain_text("mnist-cnn version 1 (champion)")
        expect(page.locator(".js-plotly-plot .bars .point")).to_have_count(10, timeout=30_000)  # one bar per class
        _check_framing(page)
        page.screenshot(path=str(artifacts / "predict-in-process.png"), full_page=True)
        page.keyboard.press("Escape")  # clears: the answer goes
        expect(result).to_have_count(0)
        serve_port = free_port()
        serve = [sys.executable, "-m", "mlaas_kernel", "serve", "mnist-cnn@champion", "--port", str(serve_port)]
        with serving(serve, f"http://127.0.0.1:{serve_port}/ready", env=env, cwd=project_copy, log=artifacts / "serve.log"):
            _draw_a_one(page, canvas)
            expect(result).to_contain_text(f"via endpoint http://127.0.0.1:{serve_port} (version 1)", timeout=30_000)
            expect(result).to_contain_text("conformal set at 90% coverage")
            page.screenshot(path=str(artifacts / "predict-via-endpoint.png"), full_page=True)
        page.goto("about:blank")
