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


class GatedModel:
    """A model whose fit waits for the test to open a gate: a stand-in for a slow retrain."""

    gate = threading.Event()

    def fit(self, x, y):
        GatedModel.gate.wait(30)
        from sklearn.linear_model import LogisticRegression

        self._m = LogisticRegression(max_iter=200).fit(x, y)
        self.classes_ = self._m.classes_
        return self

    def predict_proba(self, x):
        return self._m.predict_proba(x)

    def predict(self, x):
        return self._m.predict(x)


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
