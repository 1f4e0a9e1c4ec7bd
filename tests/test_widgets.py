"""Widgets driven through their public triggers, no browser."""

import pytest

from mlaas_widgets import BackendBadge


def test_badge_shows_the_cpu_reason_and_follows_fallbacks_live(compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setenv("MLAAS_DEVICE", "cpu")
    badge = BackendBadge()
    assert badge.device == "cpu" and badge.detail == "MLAAS_DEVICE=cpu asks for the CPU"
    assert badge.fallbacks == []
    compute.estimator("KMeans", n_clusters=2)
    assert badge.fallbacks == ["KMeans: MLAAS_DEVICE=cpu asks for the CPU"]
    compute.estimator("KMeans", n_clusters=3)
    assert badge.fallbacks == ["KMeans: MLAAS_DEVICE=cpu asks for the CPU (2x)"]
    badge.close()
    compute.estimator("PCA")
    assert len(badge.fallbacks) == 1  # closed badges stop listening


def test_badge_toggle_and_gpu_view(compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setattr(compute, "detect", lambda refresh=False: compute.DeviceInfo("gpu", "auto", "1 NVIDIA GPU(s) usable", ("NVIDIA H100",)))
    badge = BackendBadge()
    assert (badge.device, badge.detail) == ("gpu", "NVIDIA H100")
    assert badge.expanded is False
    badge.toggle()
    assert badge.expanded is True
    state = badge.get_state()
    assert state["device"] == "gpu" and "_esm" in state


def test_every_trait_has_help():
    own = set(BackendBadge.class_own_traits())
    assert own >= {"device", "detail", "fallbacks", "expanded"}
    for name in own:
        if not name.startswith("_"):
            assert BackendBadge.class_traits()[name].help, name


# ---------------------------------------------------------------- labelers
import numpy as np  # noqa: E402

from mlaas_kernel import active  # noqa: E402
from mlaas_kernel.labels import LabelStore  # noqa: E402
from mlaas_widgets import GridLabeler, ImageLabeler, TableLabeler  # noqa: E402


@pytest.fixture
def store(workspace):
    return LabelStore()


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (30, 8, 8), dtype=np.uint8)


def test_image_labeler_commits_before_moving_on(store, images):
    w = ImageLabeler(images, store=store, dataset="toy", annotator="ana", classes=range(3))
    assert w.item == 0 and w.payload["src"].startswith("data:image/png;base64,")
    assert w.key_map == {"0": "0", "1": "1", "2": "2"}
    w.handle_key("2")
    assert store.labels("toy", annotator="ana") == {0: "2"}  # committed ...
    assert w.item == 1  # ... and then the next item
    w.label("1")
    w.skip()
    assert w.item == 3 and w.labeled == 3 and w.message == "skipped #2"
    [first, second] = store.current("toy")
    assert first["seconds"] is not None and first["seconds"] >= 0 and first["source"] == "human"
    with pytest.raises(ValueError, match="label '7' is not one of the classes"):
        w.label("7")


def test_undo_shows_the_item_again_and_relabel_replaces_it(store, images):
    w = ImageLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"])
    w.label("a")
    w.label("b")
    assert w.item == 2
    w.handle_key("ctrl+z")
    assert w.item == 1 and store.labels("toy", annotator="ana") == {0: "a"}
    w.label("a")
    assert w.item == 2  # the item that was showing comes back
    w.handle_key("Backspace")
    w.handle_key("Backspace")
    assert store.labels("toy", annotator="ana") == {} and w.item == 0
    w.undo()
    assert w.message == "nothing to undo"


def test_review_with_arrows_and_relabel(store, images):
    w = ImageLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"])
    for label in "aab":
        w.label(label)
    w.handle_key("ArrowLeft")
    assert w.item == 2 and w.current_label == "b"
    w.back()
    assert w.item == 1 and w.current_label == "a"
    w.label("b")  # relabels item 1 and moves forward
    assert store.labels("toy", annotator="ana")[1] == "b" and w.item == 2
    w.forward()
    assert w.item == 3 and w.current_label == ""


def test_a_new_session_resumes_where_the_store_is(store, images):
    w = ImageLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"], items=[5, 6, 7])
    w.label("a")
    w.close()
    again = ImageLabeler(images, store=LabelStore(store.path), dataset="toy", annotator="ana", classes=["a", "b"], items=[5, 6, 7])
    assert again.item == 6 and again.labeled == 1 and again.total == 3
    again.label("a")
    again.label("b")
    assert again.item == -1 and "all 3 items are done" in again.message


def test_suggestions_from_the_learner_and_enter_accepts(store):
    rng = np.random.default_rng(1)
    imgs = np.r_[np.zeros((20, 4, 4), np.uint8), np.full((20, 4, 4), 255, np.uint8)] + rng.integers(0, 20, (40, 4, 4)).astype(np.uint8)
    truth = np.r_[np.zeros(20, int), np.ones(20, int)].astype(str)
    learner = active.ActiveLearner(imgs.reshape(40, -1).astype(float), retrain_every=4, random_state=0)
    w = ImageLabeler(imgs, store=store, dataset="bw", annotator="ana", classes=["0", "1"], learner=learner)
    w.accept_suggestion()
    assert "no suggestion yet" in w.message
    while learner.retrains == 0:
        w.label(truth[w.item])
        learner.wait(30)
    assert w.suggestion in ("0", "1") and 0.5 <= w.confidence <= 1.0
    assert "model: 4 labels" in w.model_info
    item = w.item
    expected = w.suggestion
    w.handle_key("Enter")
    assert store.labels("bw", annotator="ana")[item] == expected
    assert store.current("bw")[-1]["source"] == "suggestion"
    learner.close()


def test_table_labeler_shows_rows(store):
    import pandas as pd

    frame = pd.DataFrame({"gpuName": ["A", "B"], "G3Dmark": [100, None], "category": ["Unknown", "Desktop"]})
    w = TableLabeler(frame, store=store, dataset="gpus", annotator="ana", classes=["Desktop", "Mobile", "Workstation"], label_column="category")
    assert w.key_map == {"1": "Desktop", "2": "Mobile", "3": "Workstation"}
    assert w.payload == {"row": {"gpuName": "A", "G3Dmark": "100.0"}, "value": "Unknown"}
    w.handle_key("2")
    assert store.labels("gpus", annotator="ana") == {0: "Mobile"} and w.payload["row"]["G3Dmark"] == ""


def test_grid_labeler_fix_and_accept(store, images):
    w = GridLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"], rows=2, cols=3)
    assert len(w.tiles) == 6 and all(t["label"] == "" for t in w.tiles)  # no model yet: no guesses
    first = [t["item"] for t in w.tiles]
    w.select(first[0])
    w.handle_key("b")
    w.set_label(first[1], "a")
    assert w.accept_page() == 2
    assert store.labels("toy", annotator="ana") == {first[0]: "b", first[1]: "a"}
    assert {t["item"] for t in w.tiles}.isdisjoint(first[:2]) and w.message == "accepted 2 labels"
    w.handle_key("n")
    assert w.labeled == 2
