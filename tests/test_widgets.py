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
    assert w.item == 3 and w.message == "skipped #2"
    assert (w.labeled, w.skipped) == (2, 1)  # a skipped item is not a labeled one
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
    assert w.suggestion == truth[w.item] and w.suggestion_item == w.item and 0.5 < w.confidence <= 1.0
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


def _two_blobs(n=40, seed=1):
    """Dark and bright 4x4 images, an easy two-class problem, with their true classes."""
    rng = np.random.default_rng(seed)
    half = n // 2
    imgs = np.r_[np.zeros((half, 4, 4), np.uint8), np.full((half, 4, 4), 235, np.uint8)] + rng.integers(0, 20, (n, 4, 4)).astype(np.uint8)
    return imgs, np.r_[np.zeros(half, int), np.ones(half, int)].astype(str)


def test_skips_count_apart_and_undo_or_revisit_brings_them_back(store, images):
    w = ImageLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"], items=range(6))
    w.label("a")
    w.skip()
    w.skip()
    assert (w.item, w.labeled, w.skipped, w.total) == (3, 1, 2, 6)
    w.undo()  # undoes the last skip: item 2 shows again
    assert (w.item, w.labeled, w.skipped) == (2, 1, 1) and w.message == "undid the skip of #2"
    w.label("b")
    assert (w.item, w.labeled, w.skipped) == (3, 2, 1)
    for _ in range(3):
        w.label("a")
    assert w.item == -1 and "1 skipped: R brings them back" in w.message
    w.handle_key("R")  # the skipped item 1 comes back
    assert (w.item, w.skipped) == (1, 0) and store.skipped_items("toy", annotator="ana") == set()
    w.label("b")
    assert (w.item, w.labeled, w.skipped) == (-1, 6, 0)
    again = ImageLabeler(images, store=LabelStore(store.path), dataset="toy", annotator="ana", classes=["a", "b"], items=range(6))
    assert (again.labeled, again.skipped) == (6, 0)


def test_a_key_pressed_on_another_item_does_nothing(store, images):
    w = ImageLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"])
    w.handle_key("a", item=0)
    assert w.item == 1
    w.handle_key("a", item=0)  # pressed again before the browser showed item 1
    assert store.labels("toy", annotator="ana") == {0: "a"} and w.item == 1
    assert w.message == "'a' was pressed on #0, but #1 is shown now: it did nothing"
    w.handle_key("Backspace", item=0)  # undo is not about the item shown
    assert store.labels("toy", annotator="ana") == {} and w.item == 0


def test_enter_never_commits_a_suggestion_made_for_another_item(store):
    imgs, truth = _two_blobs()
    learner = active.ActiveLearner(imgs.reshape(40, -1).astype(float), retrain_every=4, random_state=0)
    w = ImageLabeler(imgs, store=store, dataset="bw", annotator="ana", classes=["0", "1"], learner=learner)
    while learner.retrains == 0:
        w.label(truth[w.item])
        learner.wait(30)
    # what a retrain thread finishing late does: a suggestion for the item that was shown before
    item, stale = w.item, "1" if truth[w.item] == "0" else "0"
    with w.hold_sync():
        w.suggestion, w.suggestion_item = stale, item - 1 if item > 0 else item + 1
    w.handle_key("Enter")
    assert item not in store.labels("bw", annotator="ana") and w.item == item
    assert w.message.startswith(f"the suggestion is for #{w.suggestion_item}, not #{item}")
    learner.close()


def test_retraining_goes_on_with_stored_labels_of_items_outside_the_pool(store):
    imgs, truth = _two_blobs()
    for item in range(100, 110):  # another session labeled items this learner's pool does not hold
        store.label("bw", item, str(item % 2), annotator="ana")
    learner = active.ActiveLearner(imgs.reshape(40, -1).astype(float), retrain_every=4, random_state=0)
    w = ImageLabeler(imgs, store=store, dataset="bw", annotator="ana", classes=["0", "1"], learner=learner)
    assert w.ignored_labels == 10 and set(learner.labels) == set()
    for _ in range(8):
        w.label(truth[w.item])
        learner.wait(30)
    assert learner.retrains >= 2 and learner.error is None and w.model_error == ""
    assert "model: 8 labels" in w.model_info
    learner.close()


class _Broken:
    """A model whose fit fails, as a real one does on bad input."""

    def fit(self, x, y):
        raise ValueError("the model cannot fit these features")


def test_a_failed_retrain_shows_in_the_widget(store):
    imgs, truth = _two_blobs()
    learner = active.ActiveLearner(imgs.reshape(40, -1).astype(float), model=_Broken, retrain_every=2, random_state=0)
    w = ImageLabeler(imgs, store=store, dataset="bw", annotator="ana", classes=["0", "1"], learner=learner)
    w.label("0")
    w.label("1")
    learner.wait(30)
    assert w.model_error == "ValueError: the model cannot fit these features"
    assert "ValueError" in w.model_status
    assert len(store.labels("bw", annotator="ana")) == 2  # the labels are kept
    learner.close()


def test_reason_and_status_come_from_the_learner(store):
    imgs, _ = _two_blobs()
    learner = active.ActiveLearner(imgs.reshape(40, -1).astype(float), retrain_every=4, random_state=0)
    w = ImageLabeler(imgs, store=store, dataset="bw", annotator="ana", classes=["0", "1"], learner=learner)
    assert w.reason == learner.reason(w.item) and w.reason
    assert w.model_status == learner.status and w.model_status
    learner.close()


def test_browser_keys_are_acknowledged_and_pings_answered(store, images):
    w = ImageLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"])
    sent = []
    w.send = sent.append  # what goes back to the view (the comm needs a kernel)
    w._handle_custom_msg({"type": "key", "key": "a", "item": 0, "seq": 7}, [])
    w._handle_custom_msg({"type": "ping"}, [])
    w._handle_custom_msg({"type": "click", "label": "b", "item": 5, "seq": 8}, [])  # a stale click
    assert sent == [{"type": "ack", "seq": 7}, {"type": "pong"}, {"type": "ack", "seq": 8}]
    assert store.labels("toy", annotator="ana") == {0: "a"}


def test_closing_the_labeler_stops_following_the_learner(store):
    imgs, _ = _two_blobs()
    learner = active.ActiveLearner(imgs.reshape(40, -1).astype(float), random_state=0)
    w = ImageLabeler(imgs, store=store, dataset="bw", annotator="ana", classes=["0", "1"], learner=learner)
    assert learner.on_update
    w.close()
    assert learner.on_update == []
    learner.close()


# ---------------------------------------------------------------- the label app
@pytest.fixture
def mnist(workspace):
    from mlaas_kernel import data

    return data.ingest("mnist", progress=False)


def test_label_app_escapes_names_and_shows_kappa_after_every_label(store, mnist):
    from mlaas_widgets import LabelApp

    app = LabelApp(store=store, dataset="mnist", n_items=30, strategy=None)
    w = app.start("mnist", "<img src=x onerror=alert(1)>")
    assert "&lt;img src=x onerror=alert(1)&gt;" in app.status.value and "<img" not in app.status.value
    assert "no item labeled by you and another annotator yet" in app.agreement.value
    truth = mnist.labels().astype(str)
    first, second = w.item, None
    store.label("mnist", first, truth[first], annotator="<script>bob</script>")
    w.label(truth[first])
    second = w.item
    other = "0" if truth[second] != "0" else "1"
    store.label("mnist", second, other, annotator="<script>bob</script>")
    assert "on 1 item labeled by both" in app.agreement.value
    assert "&lt;script&gt;bob&lt;/script&gt;" in app.agreement.value and "<script>" not in app.agreement.value
    w.label(truth[second])  # updated at once, not every 10 labels
    from sklearn.metrics import cohen_kappa_score

    kappa = cohen_kappa_score([truth[first], truth[second]], [truth[first], other])
    assert f"κ = {kappa:.2f} on 2 items labeled by both" in app.agreement.value
    app.close()


def test_closing_the_label_app_ends_its_retrain_thread(store, mnist):
    import threading

    from mlaas_widgets import LabelApp

    app = LabelApp(store=store, dataset="mnist", n_items=40, strategy="margin", retrain_every=4)
    w = app.start("mnist", "ana")
    truth = mnist.labels().astype(str)
    while app.learner.retrains == 0:
        w.label(truth[w.item])
        app.learner.wait(60)
    workers = [t for t in threading.enumerate() if t.name.startswith("mlaas-retrain")]
    assert workers
    app.close()
    for t in workers:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in workers)
    assert w.comm is None  # the labeler is closed with it


def test_grid_labeler_counts_skips_apart(store, images):
    store.skip("toy", 0, annotator="ana")
    store.label("toy", 1, "a", annotator="ana")
    w = GridLabeler(images, store=store, dataset="toy", annotator="ana", classes=["a", "b"], rows=1, cols=3)
    assert w.labeled == 1 and {t["item"] for t in w.tiles}.isdisjoint({0, 1})


# ---------------------------------------------------------------- training monitor
def _progress(**kw):
    from mlaas_kernel.train import Progress

    return Progress(**{"epoch": 1, "epochs": 40, "step": 0, "steps_per_epoch": 10, "samples_seen": 0, "seconds": 0.0, "device": "cpu", **kw})


def test_monitor_status_line_ticks_metric_name_and_button_after_the_end():
    import re

    from mlaas_kernel.train import EmbeddingNet, ImageClassifier
    from mlaas_widgets import TrainingMonitor

    monitor = TrainingMonitor(title="t")
    p = _progress()
    monitor.on_train_begin(p, ImageClassifier())
    assert monitor.figure.layout.annotations[1].text == "validation accuracy" == monitor.figure.data[2].name  # the default
    monitor.on_step_end(p)  # no time yet, so no ETA, and no loss: the empty fields leave no double separator
    assert "images/s</b> · cpu" in monitor.stats.value and not re.search(r"·\s*·", monitor.stats.value), monitor.stats.value
    for epoch in range(1, 31):  # 30 epochs: whole-epoch ticks, about 8 of them
        p.history.append({"epoch": epoch, "loss": 1 / epoch, "val_accuracy": 0.5})
        p.epoch, p.step, p.samples_seen, p.seconds, p.metrics = epoch, 10, epoch * 100, epoch * 1.0, {"loss": 1 / epoch}
        monitor.on_epoch_end(p)
        axis = monitor.figure.layout.xaxis
        assert axis.tickmode == "linear" and float(axis.dtick).is_integer() and axis.dtick >= 1 and epoch / axis.dtick <= 8
    assert "s left · loss 0.0333 · cpu" in monitor.stats.value
    assert monitor.stop_button.description == "Stop" and not monitor.stop_button.disabled
    monitor.on_train_end(p)
    b = monitor.stop_button
    assert (b.disabled, b.description, b.button_style) == (True, "Finished", "")  # no red active-looking button
    assert "images/s</b> · loss" in monitor.stats.value and not re.search(r"·\s*·", monitor.stats.value), monitor.stats.value
    assert "validation accuracy 50.00%" in monitor.status.value
    # the same monitor for an embedding: its estimator names the metric, and a stopped run says so on the button
    q = _progress(epochs=4, steps_per_epoch=10)
    monitor.on_train_begin(q, EmbeddingNet())
    assert (b.disabled, b.description, b.button_style, b.tooltip) == (False, "Stop", "danger", "end after the current step")
    assert monitor.figure.layout.annotations[1].text == "kNN accuracy" == monitor.figure.data[2].name
    q.history.append({"epoch": 1, "loss": 0.2, "val_accuracy": 0.9})
    monitor.on_epoch_end(q)
    monitor.stop()
    q.stopped, q.stop_requested = True, True
    monitor.on_train_end(q)
    assert (b.disabled, b.description) == (True, "Stopped") and "kNN accuracy 90.00%" in monitor.status.value
    shown = monitor.plot.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert [a["text"] for a in shown["layout"]["annotations"]][:2] == ["loss", "kNN accuracy"]  # what the page shows
    monitor.close()


def test_monitor_button_says_failed_when_training_raises_before_it_begins():
    from mlaas_widgets import TrainingMonitor

    monitor = TrainingMonitor()

    def bad():
        raise ValueError("no such dataset")

    with pytest.raises(ValueError):
        monitor.run(bad).wait(30)
    assert (monitor.stop_button.disabled, monitor.stop_button.description) == (True, "Failed")
    assert "failed: ValueError: no such dataset" in monitor.status.value
    monitor.close()
