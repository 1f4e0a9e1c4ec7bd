"""bench/label_active.py: the simulated annotator retrains once per batch, and labels what it says."""

import importlib.util

import numpy as np

from conftest import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("bench_label_active", REPO / "bench" / "label_active.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(-2, 1, (n // 2, 2)), rng.normal(2, 1, (n // 2, 2))]
    truth = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)].astype(str)
    order = rng.permutation(n)
    return x, truth, np.sort(order[60:]), order[:60]


def test_one_retrain_per_batch_and_one_for_a_short_last_batch():
    bench = _bench()
    x, truth, pool, held_out = _data()
    result = bench.reference_strategy("margin", seed=0, pool=pool, held_out=held_out, truth=truth, features=x, budgets=[20, 40], batch=10)
    assert result["retrains"] == 4  # 10 random labels, then 3 batches of 10: it was 8 (each batch retrained twice)
    assert set(result["curve"]) == {20, 40} and result["curve"][40] > 0.9
    short = bench.reference_strategy("margin", seed=0, pool=pool, held_out=held_out, truth=truth, features=x, budgets=[45], batch=10)
    assert short["retrains"] == 5


def test_the_new_strategies_label_exactly_the_budgets():
    bench = _bench()
    x, truth, pool, held_out = _data()
    for strategy in bench.NEW:
        snaps = bench.new_strategy(strategy, seed=0, pool=pool, held_out=held_out, truth=truth, features=x, emb_all=x, budgets=[10, 30], batch=10)
        assert {b: len(s) for b, s in snaps.items()} == {10: 10, 30: 30}
        assert set(snaps[30]) <= set(pool.tolist()) and all(truth[i] == v for i, v in snaps[30].items())
    accuracy, predicted, confidence = bench.spread_accuracy(x, snaps[30], held_out, truth)
    assert accuracy > 0.9 and len(predicted) == len(confidence) == len(x)
