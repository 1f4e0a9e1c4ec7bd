"""Evaluation numbers against scikit-learn's on the same arrays, hand-computable cases, and the figures."""

import numpy as np
import pytest

from mlaas_kernel.evaluate import (bin_index, calibration, classification_figures, classification_metrics, confidently_wrong, metric_key,
                                   regression_figures, regression_metrics, wrong_images_figure)


def _scores(n=600, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]  # better than chance, not perfect
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def test_classification_numbers_equal_scikit_learns():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (average_precision_score, confusion_matrix, f1_score, precision_recall_fscore_support,
                                 roc_auc_score)

    y, proba = _scores()
    m = classification_metrics(y, proba, ["a", "b", "c", "d"])
    pred = proba.argmax(axis=1)
    np.testing.assert_array_equal(m.confusion, confusion_matrix(y, pred))
    p, r, f, s = precision_recall_fscore_support(y, pred)
    np.testing.assert_allclose(m.per_class[["precision", "recall", "f1"]].to_numpy(), np.c_[p, r, f])
    assert m.per_class["support"].tolist() == s.tolist()
    assert m.macro_f1 == pytest.approx(f1_score(y, pred, average="macro"))
    assert m.roc_auc_macro == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    onehot = np.eye(4)[y]
    assert m.pr_auc_macro == pytest.approx(average_precision_score(onehot, proba, average="macro"))
    correct, conf = (pred == y).astype(int), proba.max(axis=1)
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
    filled = m.calibration.counts > 0
    np.testing.assert_allclose(m.calibration.accuracy[filled], prob_true)
    np.testing.assert_allclose(m.calibration.confidence[filled], prob_pred)
    assert 0 < m.accuracy < 1 and m.n_items == 600 and m.notes == []


def test_hand_computed_case():
    # 4 items; the model calls the first class-0 item class 1: accuracy 3/4
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.4, 0.6]])
    m = classification_metrics([0, 0, 1, 1], proba, [0, 1])
    assert m.confusion.tolist() == [[1, 1], [0, 2]] and m.accuracy == 0.75
    assert m.per_class["precision"].tolist() == pytest.approx([1.0, 2 / 3])
    assert m.per_class["recall"].tolist() == pytest.approx([0.5, 1.0])
    assert m.confusion_normalised.tolist() == [[0.5, 0.5], [0.0, 1.0]]
    # class 1 scores: positives 0.8, 0.6; negatives 0.1, 0.7: 3 of the 4 pairs ranked right
    assert m.per_class["roc_auc"].tolist()[1] == pytest.approx(0.75)


def test_ece_of_a_perfectly_calibrated_model_is_zero_and_of_an_overconfident_one_its_gap():
    # 10 items at 0.8 confidence with 8 right, 20 at 0.35 with 7 right: each bin's accuracy is its confidence
    conf = np.r_[np.full(10, 0.8), np.full(20, 0.35)]
    correct = np.r_[np.ones(8), np.zeros(2), np.ones(7), np.zeros(13)]
    assert calibration(correct, conf).ece == pytest.approx(0.0)
    # 4 items at 0.9 confidence, 2 right: |0.5 - 0.9| = 0.4 over all items
    assert calibration([1, 1, 0, 0], [0.9] * 4).ece == pytest.approx(0.4)
    # two bins of 2 items each: (2/4)*|1 - 0.95| + (2/4)*|0 - 0.55|
    c = calibration([1, 1, 0, 0], [0.95, 0.95, 0.55, 0.55])
    assert c.ece == pytest.approx(0.5 * 0.05 + 0.5 * 0.55)
    assert c.counts.tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 0, 2]


def test_bins_are_equal_width_and_an_edge_goes_up():
    assert bin_index(np.array([0.0, 0.0999, 0.1, 0.5, 0.95, 1.0])).tolist() == [0, 0, 1, 5, 9, 9]
    assert bin_index(np.array([0.5]), n_bins=4).tolist() == [2]


def test_a_class_without_items_has_no_curve_and_is_named():
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    m = classification_metrics([0, 1, 0], proba, ["x", "y", "z"])
    assert set(m.roc) == {"x", "y"} and np.isnan(m.per_class["roc_auc"][2])
    assert m.notes == ["class z: no item is of this class, so it has no ROC or PR curve"]
    assert m.roc_auc_macro == pytest.approx(1.0)  # both defined classes separate perfectly


def test_confidently_wrong_are_the_wrong_ones_most_confident_first():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]])
    y = np.array([0, 0, 0, 0, 1])  # wrong: items 1 (0.8), 2 (0.6), 3 (0.95), 4 (0.7)
    assert confidently_wrong(y, proba, 3).tolist() == [3, 1, 4]
    assert confidently_wrong(y, proba, 0).tolist() == []


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"probabilities have shape \(3, 2\); expected \(3, 3\)"):
        classification_metrics([0, 1, 2], np.ones((3, 2)) / 2, ["a", "b", "c"])
    with pytest.raises(ValueError, match="3 true values and 2 predictions"):
        regression_metrics([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        regression_metrics([1, 2, np.nan], [1, 2, 3])


def test_regression_numbers_equal_scikit_learns_and_a_hand_case():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    r = regression_metrics([1, 2, 3, 4], [1, 2, 3, 6], categories=["a", "a", "b", None])
    assert (r.mae, r.rmse) == pytest.approx((0.5, 1.0))  # one error of 2 among 4 items
    assert r.per_category.to_dict("records")[0] == {"category": "missing", "n": 1, "mae": 2.0, "rmse": 2.0, "mean_residual": -2.0}
    assert r.worst_category == "missing" and r.residuals.tolist() == [0, 0, 0, -2]
    rng = np.random.default_rng(1)
    y = rng.normal(100, 20, 300)
    pred = y + rng.normal(0, 5, 300)
    r = regression_metrics(y, pred)
    assert r.r2 == pytest.approx(r2_score(y, pred)) and r.mae == pytest.approx(mean_absolute_error(y, pred))
    assert r.rmse == pytest.approx(np.sqrt(mean_squared_error(y, pred))) and r.per_category is None


def test_figures_show_the_numbers():
    y, proba = _scores(n=200, k=3)
    m = classification_metrics(y, proba, ["a", "b", "c"])
    figs = classification_figures(m, wrong_images_figure(np.zeros((2, 8, 8), np.uint8), ["#1: a as b (90%)", "#7: c as a (80%)"]))
    counts, norm = figs["confusion_matrix"].data
    assert np.asarray(counts.z).tolist() == m.confusion.tolist()
    np.testing.assert_allclose(np.asarray(norm.z).sum(axis=1), 1.0)
    names = [t.name for t in figs["roc"].data]
    assert names[:3] == [f"{c} (AUC {a:.3f})" for c, a in zip("abc", m.per_class["roc_auc"])] and names[3] == "chance"
    assert [t.name for t in figs["precision_recall"].data] == [f"{c} (AUC {a:.3f})" for c, a in zip("abc", m.per_class["average_precision"])]
    diagonal, model, bins = figs["reliability"].data
    assert list(diagonal.x) == [0, 1] and list(bins.y) == m.calibration.counts.tolist()
    assert [a.text for a in figs["confidently_wrong"].layout.annotations] == ["#1: a as b (90%)", "#7: c as a (80%)"]
    r = regression_metrics([10, 20, 30, 40], [12, 18, 33, 40], categories=["x", "y", "x", "y"])
    rf = regression_figures(r)
    assert list(rf["residuals"].data[0].y) == [-2, 2, -3, 0]
    assert [t.name for t in rf["error_by_category"].data] == ["x (n=2)", "y (n=2)"]  # worst first
    assert list(rf["predicted_vs_true"].data[1].x) == [10.0, 40.0]


def test_metric_keys_are_ones_mlflow_takes():
    assert metric_key("eval_f1_Mobile, Workstation") == "eval_f1_Mobile_ Workstation"
    assert metric_key("eval_f1_7") == "eval_f1_7"
