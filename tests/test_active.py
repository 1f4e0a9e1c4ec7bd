"""Query strategies as pure functions, and the learner's background retrain."""

import threading
import time

import numpy as np
import pytest

from mlaas_kernel import active

P = np.array([
    [0.98, 0.01, 0.01],  # sure
    [0.50, 0.49, 0.01],  # two classes close: small margin
    [0.40, 0.30, 0.30],  # flat: least confident, highest entropy
    [0.70, 0.20, 0.10],
])


def test_strategies_rank_as_defined():
    assert active.select(P, 4, strategy="least_confidence").tolist() == [2, 1, 3, 0]
    assert active.select(P, 4, strategy="entropy").tolist() == [2, 3, 1, 0]  # spread over 3 classes beats two close ones
    assert active.select(P, 2, strategy="margin").tolist() == [1, 2]
    m = active.margin(P)
    assert m[1] == pytest.approx(-0.01) and m[0] == pytest.approx(-0.97)
    assert active.entropy(np.array([[0.5, 0.5]]))[0] == pytest.approx(np.log(2))


def test_random_is_reproducible_and_bad_input_is_refused():
    big = np.full((100, 3), 1 / 3)
    a = active.select(big, 10, strategy="random", random_state=1)
    assert a.tolist() == active.select(big, 10, strategy="random", random_state=1).tolist()
    assert a.tolist() != active.select(big, 10, strategy="random", random_state=2).tolist()
    with pytest.raises(LookupError, match="unknown query strategy 'smart'; valid names: entropy, least_confidence, margin, random"):
        active.select(P, 1, strategy="smart")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        active.entropy(np.ones(3))


def test_diversity_avoids_near_duplicates():
    # 10 uncertain items in two tight clusters, scores slightly higher in cluster A
    emb = np.vstack([np.zeros((5, 2)) + [0, 0], np.zeros((5, 2)) + [10, 10]]) + np.random.default_rng(0).normal(0, 0.01, (10, 2))
    proba = np.column_stack([np.r_[np.full(5, 0.51), np.full(5, 0.55)], np.r_[np.full(5, 0.49), np.full(5, 0.45)]])
    plain = active.select(proba, 2, strategy="margin", random_state=0)
    assert set(plain.tolist()) <= set(range(5))  # both from cluster A
    diverse = active.select(proba, 2, strategy="margin", random_state=0, embeddings=emb)
    assert {int(i) // 5 for i in diverse} == {0, 1}  # one from each cluster


class LogReg:
    """Logistic regression; the test models below change only when and whether ``fit`` works."""

    def fit(self, x, y):
        from sklearn.linear_model import LogisticRegression

        self._m = LogisticRegression(max_iter=200).fit(x, y)
        self.classes_ = self._m.classes_
        return self

    def predict_proba(self, x):
        return self._m.predict_proba(x)

    def predict(self, x):
        return self._m.predict(x)


class GatedModel(LogReg):
    """A model whose fit waits for the test to open a gate: a stand-in for a slow retrain."""

    gate = threading.Event()

    def fit(self, x, y):
        GatedModel.gate.wait(30)
        return super().fit(x, y)


def test_teach_never_waits_for_the_retrain_and_the_queue_reranks_after():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(-2, 1, (50, 2)), rng.normal(2, 1, (50, 2))]
    y = np.r_[np.zeros(50, int), np.ones(50, int)].astype(str)
    GatedModel.gate.clear()
    learner = active.ActiveLearner(x, model=GatedModel, strategy="margin", retrain_every=4, holdout=(x, y))
    updates = []
    learner.on_update.append(lambda l: updates.append(len(l.history)))
    first = learner.next_items(3)
    for item in [0, 1, 60, 61]:
        learner.teach(item, y[item])
    assert learner.busy  # a retrain started ...
    t = time.perf_counter()
    learner.teach(2, y[2])  # ... and teaching goes on without waiting for it
    assert time.perf_counter() - t < 0.5
    assert learner.next_items(3, exclude={0}) != [] and learner.suggestion(5) is None
    GatedModel.gate.set()
    learner.wait(30)
    assert updates == [1] and learner.history[0]["labels"] == 4
    assert learner.history[0]["accuracy"] > 0.9
    ranked = learner.next_items(5)
    assert ranked != first
    # the most uncertain items lie between the two clusters, near x = 0
    assert np.abs(x[ranked, 0]).mean() < np.abs(x[:, 0]).mean()
    label, confidence = learner.suggestion(99)
    assert label == "1" and confidence > 0.5
    learner.close()


def test_needs_two_classes_before_training():
    learner = active.ActiveLearner(np.eye(5), retrain_every=1)
    learner.teach(0, "a")
    assert learner.retrain_async() is None and learner.history == []
    learner.close()


def _two_blobs(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(-2, 1, (n, 2)), rng.normal(2, 1, (n, 2))]
    y = np.r_[np.zeros(n, int), np.ones(n, int)].astype(str)
    return x, y


def test_labels_of_items_outside_the_pool_are_ignored_and_retraining_goes_on():
    """The labeler replays all of an annotator's labels; items of another pool killed every retrain with KeyError."""
    x, y = _two_blobs()
    items = np.arange(1000, 1100)  # the pool's item ids are not row positions
    learner = active.ActiveLearner(x, items=items, retrain_every=4)
    learner.labels[5] = "0"  # as the labeler's replay of stored labels does
    learner.teach(7, "1")  # and as a label for another pool would
    for p in [0, 1, 60, 61]:
        learner.teach(int(items[p]), y[p])
    learner.wait(30)
    assert learner.error is None and learner.retrains == 1 and learner.ignored == 2
    assert 5 not in learner.labels and 7 not in learner.labels
    for p in [2, 3, 62, 63]:
        learner.teach(int(items[p]), y[p])
    learner.wait(30)
    assert learner.retrains == 2 and learner.history[-1]["labels"] == 8
    assert learner.suggestion(int(items[99])) is not None and learner.suggestion(5) is None
    learner.close()


class FailsOnce(LogReg):
    """A model whose first fit raises: a retrain error must not stop the next retrains."""

    calls = 0

    def fit(self, x, y):
        FailsOnce.calls += 1
        if FailsOnce.calls == 1:
            raise ValueError("the first fit fails")
        return super().fit(x, y)


def test_a_failed_retrain_is_kept_in_error_and_the_next_one_runs():
    x, y = _two_blobs()
    FailsOnce.calls = 0
    learner = active.ActiveLearner(x, model=FailsOnce, retrain_every=4)
    seen = []
    learner.on_update.append(lambda l: seen.append(l.error))
    for item in [0, 1, 60, 61]:
        learner.teach(item, y[item])
    learner.wait(30)  # the worker's future holds no exception for nobody to read
    assert isinstance(learner.error, ValueError) and "first fit fails" in learner.status
    assert learner.retrains == 0 and learner.suggestion(0) is None and len(seen) == 1
    for item in [2, 3, 62, 63]:
        learner.teach(item, y[item])
    learner.wait(30)
    assert learner.error is None and learner.retrains == 1 and seen[-1] is None
    assert "failed" not in learner.status and learner.suggestion(99)[0] == "1"
    FailsOnce.calls = 0
    with pytest.raises(ValueError, match="first fit fails"):
        learner.retrain()  # a batch job that asked for the retrain gets the error
    learner.close()


def _blobs(centres, per=150, sd=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(c, sd, (per, len(c))) for c in centres])
    return x, np.repeat(np.arange(len(centres)), per)


CENTRES = np.array([[0, 0], [20, 0], [0, 20], [20, 20], [10, 40]], dtype=float)


def test_typical_points_are_the_dense_middles_of_the_clusters():
    x, blob = _blobs(CENTRES)
    picks = active.typical_points(x, 5, n_clusters=5, random_state=0)
    assert [p.clusters for p in picks] == [5] * 5 and sorted(p.rank for p in picks) == [1, 2, 3, 4, 5]
    assert sorted(blob[[p.position for p in picks]].tolist()) == [0, 1, 2, 3, 4]  # one per blob
    for p in picks:
        members = x[blob == blob[p.position]]
        centre = CENTRES[blob[p.position]]
        spread = np.linalg.norm(members - centre, axis=1)
        assert np.linalg.norm(x[p.position] - centre) < np.median(spread)  # in the dense middle, not at the rim
    assert picks[0].reason() == "typical point of cluster 1 of 5 (150 items)"
    # clusters holding a labeled item are covered: the picks go elsewhere
    covered = active.typical_points(x, 5, n_clusters=5, labeled=[0, 150], random_state=0)
    assert len(covered) == 3 and not {0, 1} & set(blob[[p.position for p in covered]].tolist())


def test_the_cluster_count_grows_with_the_budget():
    assert [active.cluster_count(n, 10, 10_000) for n in (0, 10, 90)] == [10, 20, 100]
    assert active.cluster_count(900, 10, 10_000, max_clusters=500) == 500 and active.cluster_count(0, 50, 20) == 20
    x, blob = _blobs(CENTRES, per=40)
    learner = active.ActiveLearner(x, embedding=x, batch=5, retrain_every=5, cold_start=20)
    learner.wait(30)
    first = learner.next_items(5)
    assert learner.reason(first[0]) == "typical point of cluster 1 of 5 (40 items)"
    assert sorted(blob[first].tolist()) == [0, 1, 2, 3, 4] and "typical points of 5 clusters" in learner.status
    for item in first:
        learner.teach(item, str(blob[item]))
    learner.wait(30)
    assert learner.reason(learner.next_items(1)[0]).endswith("of 10 (20 items)") or "of 10 " in learner.reason(learner.next_items(1)[0])
    assert "typical points of 10 clusters" in learner.status and "label spreading suggestions" in learner.status
    learner.close()


def test_after_the_cold_start_the_queue_follows_label_spreading(digits_small):
    feats, y = digits_small
    learner = active.ActiveLearner(feats, embedding=feats, batch=10, retrain_every=10, cold_start=10)
    learner.wait(30)
    for item in learner.next_items(10):
        learner.teach(item, y[item])
    learner.wait(30)
    head = learner.next_items(1)[0]
    assert learner.reason(head).startswith("margin: top two classes ") and "margin on label spreading" in learner.status
    assert learner.history[-1]["model"] == "label spreading" and learner.reason(10**9) is None
    learner.close()


@pytest.fixture(scope="module")
def digits_small():
    """1,000 real MNIST digits as PCA-20 features (a stand-in embedding that needs no UMAP)."""
    from mlaas_kernel.data import read_idx
    from mlaas_kernel.data._sources import _bundled

    x = read_idx(_bundled("mnist", "t10k-images-idx3-ubyte.gz"))[:1000]
    y = read_idx(_bundled("mnist", "t10k-labels-idx1-ubyte.gz"))[:1000].astype(str)
    return active.image_features(x, n_components=20), y


def test_label_spreading_suggestions_beat_chance_on_real_digits(digits_small):
    feats, y = digits_small
    rng = np.random.default_rng(0)
    for seed in range(3):  # three random subsets of 50 labels
        labeled = np.random.default_rng(seed).choice(len(y), 50, replace=False)
        model = active.SpreadingModel(feats).fit({int(p): y[p] for p in labeled})
        rest = np.setdiff1d(np.arange(len(y)), labeled)
        accuracy = np.mean(model.predict(rest) == y[rest])
        assert accuracy > 0.5, f"subset {seed}: {accuracy:.1%} (chance: about 10%)"
    # through the learner: suggestions for unlabeled items come from the spreading
    learner = active.ActiveLearner(feats, embedding=feats, retrain_every=50, cold_start=0)
    for p in rng.choice(len(y), 50, replace=False):
        learner.teach(int(p), y[p])
    learner.wait(30)
    right = [learner.suggestion(i)[0] == y[i] for i in range(len(y)) if i not in learner.labels]
    assert np.mean(right) > 0.5 and 0 < learner.suggestion(0)[1] <= 1
    learner.close()


def test_labels_taught_during_a_retrain_start_the_next_one_when_it_ends():
    x, y = _two_blobs()
    GatedModel.gate.clear()
    learner = active.ActiveLearner(x, model=GatedModel, retrain_every=4)
    for item in [0, 1, 60, 61]:
        learner.teach(item, y[item])
    assert learner.busy
    for item in [2, 3, 62, 63]:  # due again while the first still runs
        learner.teach(item, y[item])
    GatedModel.gate.set()
    learner.wait(30)
    assert learner.retrains == 2 and [h["labels"] for h in learner.history] == [4, 8]
    learner.close()
