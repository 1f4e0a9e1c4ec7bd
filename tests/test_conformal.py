"""Conformal prediction: the coverage guarantee on real digits, equality with crepes and MAPIE, bad input.

The model is a logistic regression on 14x14 pixels trained on the 8,000 training digits of the
bundled MNIST test set; the 2,000 held-out digits are split 100 times into 1,000 calibration and
1,000 test items. The guarantee is model-agnostic, so a fast honest model is enough.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlaas_kernel import conformal
from mlaas_kernel.conformal import APS, LAC, ConformalClassifier, ConformalInputError, KNNScore, PixelPCA

LEVELS = (0.01, 0.05, 0.1)
SPLITS = 100


def _pixels(images) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64)
    return x.reshape(len(x), 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(x), -1) / 255.0


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """Probabilities and kNN features of the 2,000 held-out digits, from models fit on the 8,000 others."""
    from sklearn.linear_model import LogisticRegression

    from mlaas_kernel import data
    from mlaas_kernel.train import split_dataset

    ds = data.ingest("mnist", workspace_dir=tmp_path_factory.mktemp("ws"), progress=False)
    images, y = np.asarray(ds.images()), ds.labels()
    train, held = split_dataset(ds)
    model = LogisticRegression(max_iter=300, C=0.5).fit(_pixels(images[train]), y[train])
    pca = PixelPCA(n_components=30).fit(images[train])
    knn = KNNScore(k=10).fit(pca.transform(images[train]), y[train])
    return {"classes": model.classes_, "proba": model.predict_proba(_pixels(images[held])), "y": y[held],
            "features": pca.transform(images[held]), "knn": knn}


def _score_matrix(digits, name: str):
    if name == "knn":
        return digits["knn"], digits["knn"].score(digits["features"])
    scorer = LAC(digits["classes"]) if name == "lac" else APS(digits["classes"], random_state=1)
    return scorer, scorer.score(digits["proba"])


def _coverage_over_splits(digits, name: str, *, mondrian: bool, n_cal: int = 1000):
    """Coverage (splits x levels) and per-class coverage (splits x levels x classes) over random calibration/test splits."""
    scorer, scores = _score_matrix(digits, name)
    y = conformal._scores.label_index(digits["classes"], digits["y"])
    rng = np.random.default_rng(7)
    cover = np.empty((SPLITS, len(LEVELS)))
    per_class = np.empty((SPLITS, len(LEVELS), len(digits["classes"])))
    for s in range(SPLITS):
        order = rng.permutation(len(y))
        cal, test = order[:n_cal], order[n_cal:]
        cp = ConformalClassifier(scorer, mondrian=mondrian, random_state=s).calibrate_scores(scores[cal], digits["classes"][y[cal]])
        p = cp.p_values_scores(scores[test])
        for j, level in enumerate(LEVELS):
            hit = conformal.prediction_sets(p, level)[np.arange(len(test)), y[test]]
            cover[s, j] = hit.mean()
            per_class[s, j] = [hit[y[test] == c].mean() for c in range(len(digits["classes"]))]
    return cover, per_class


@pytest.mark.parametrize("name", ["lac", "aps", "knn"])
def test_mean_coverage_over_100_splits_meets_the_level(digits, name):
    """Mean coverage lies in [1 - level, 1 - level + 1/(n+1)], up to 3.5 standard errors of the mean.

    Smoothed p-values make the expected coverage exactly 1 - level, so a bound without
    tolerance would fail about half the time by chance alone; the standard error of the mean
    over 100 splits (sd of a split's coverage / 10: about 0.0013 at 0.1, 0.0004 at 0.01) sets it,
    and 3.5 of them keep the chance of a false failure over the 9 lower bounds near 0.2 %.
    The exact formulas (no off-by-one) are pinned by the equality tests with crepes and MAPIE.
    """
    cover, _ = _coverage_over_splits(digits, name, mondrian=False)
    mean, se = cover.mean(axis=0), cover.std(axis=0, ddof=1) / np.sqrt(SPLITS)
    assert (se < 0.002).all(), f"coverage varies too much between splits: standard errors {se}"
    for j, level in enumerate(LEVELS):
        tol = 3.5 * se[j]
        assert mean[j] >= 1 - level - tol, f"{name} at {level}: mean coverage {mean[j]:.4f} below {1 - level} - {tol:.4f}"
        assert mean[j] <= 1 - level + 1 / 1001 + tol, f"{name} at {level}: mean coverage {mean[j]:.4f} is conservative"


@pytest.mark.parametrize("name", ["lac", "aps", "knn"])
def test_mondrian_covers_each_class(digits, name):
    """Class-conditional calibration on 1,400 items (120-160 per digit, enough for 0.01, which needs 99):
    each digit's mean coverage over 100 splits meets each level, up to 4 standard errors (30 bounds
    per score, each class's ~60 test items make it noisier: 4 keep a false failure under 0.1 %)."""
    _, per_class = _coverage_over_splits(digits, name, mondrian=True, n_cal=1400)
    mean, se = per_class.mean(axis=0), per_class.std(axis=0, ddof=1) / np.sqrt(SPLITS)
    for j, level in enumerate(LEVELS):
        low = mean[j] < 1 - level - 4 * se[j]
        assert not low.any(), f"{name} at {level}: digits {np.flatnonzero(low)} under-covered: {np.round(mean[j], 4)}"


# ---------------------------------------------------------------- the same sets as the libraries


@pytest.mark.parametrize("name", ["lac", "aps", "knn"])
@pytest.mark.parametrize("smoothing", [False, True])
def test_p_values_equal_crepes(digits, name, smoothing):
    from crepes import ConformalClassifier as CrepesClassifier

    _, scores = _score_matrix(digits, name)
    y = conformal._scores.label_index(digits["classes"], digits["y"])
    cal, test = np.arange(1000), np.arange(1000, 1200)
    alphas_cal = scores[cal, y[cal]]
    ours = conformal.p_values(alphas_cal, scores[test], smoothing=smoothing, random_state=11)
    theirs = CrepesClassifier().fit(alphas_cal, seed=11).predict_p(scores[test], smoothing=smoothing)
    np.testing.assert_array_equal(ours, theirs)
    # crepes includes p >= level; we include p > level (Vovk's sets, and MAPIE's): equal unless a p-value is the level
    for level in LEVELS:
        crepes_sets = CrepesClassifier().fit(alphas_cal, seed=11).predict_set(scores[test], confidence=1 - level, smoothing=smoothing)
        tie = ours == level
        np.testing.assert_array_equal(conformal.prediction_sets(ours, level)[~tie], crepes_sets.astype(bool)[~tie])


def test_mondrian_p_values_equal_crepes_per_class(digits):
    """Class-conditional p-values: column c against class c's calibration items, as crepes' Mondrian bins give."""
    from crepes import ConformalClassifier as CrepesClassifier

    _, scores = _score_matrix(digits, "knn")
    y = conformal._scores.label_index(digits["classes"], digits["y"])
    cal, test = np.arange(1000), np.arange(1000, 1200)
    cp = ConformalClassifier(digits["knn"], mondrian=True, smoothing=False).calibrate_scores(scores[cal], digits["y"][cal])
    ours = cp.p_values_scores(scores[test])
    alphas_cal = scores[cal, y[cal]]
    crepes = CrepesClassifier().fit(alphas_cal, bins=y[cal])
    for c in range(len(digits["classes"])):
        np.testing.assert_array_equal(ours[:, c], crepes.predict_p(scores[test, c], bins=np.full(len(test), c), smoothing=False))


class _Given:
    """A fitted 'model' whose probabilities are its input, so MAPIE sees exactly our probabilities."""

    def __init__(self, classes):
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = len(classes)

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        return np.asarray(X)

    def predict(self, X):
        return self.classes_[np.asarray(X).argmax(axis=1)]

    def get_params(self, deep=True):
        return {"classes": self.classes_}

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, ClassifierTags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True), classifier_tags=ClassifierTags())


def _mapie(digits, score: str, cal):
    from mapie.classification import SplitConformalClassifier

    mapie = SplitConformalClassifier(estimator=_Given(digits["classes"]), confidence_level=[1 - v for v in LEVELS],
                                     conformity_score=score, prefit=True, random_state=5)
    return mapie.conformalize(digits["proba"][cal], digits["y"][cal])


def test_lac_sets_equal_mapie(digits):
    cal, test = np.arange(1000), np.arange(1000, 2000)
    _, mapie_sets = _mapie(digits, "lac", cal).predict_set(digits["proba"][test])
    cp = ConformalClassifier(LAC(digits["classes"]), smoothing=False).calibrate(digits["proba"][cal], digits["y"][cal])
    for j, level in enumerate(LEVELS):
        ours = cp.predict_set(digits["proba"][test], level)
        assert ours.sum() > len(test)  # some sets hold more than one class: the comparison has something to compare
        np.testing.assert_array_equal(ours, mapie_sets[:, :, j])


def test_aps_scores_and_thresholds_equal_mapie(digits):
    """MAPIE's randomised APS calibration scores are ours with the same seed, and our sets are exactly the
    test scores at or under MAPIE's split-conformal threshold. (MAPIE's APS sets then add its own test-time
    rule for the last class, which is not a conformal p-value rule, so the sets themselves differ.)"""
    cal, test = np.arange(1000), np.arange(1000, 2000)
    mapie = _mapie(digits, "aps", cal)
    scorer = APS(digits["classes"], random_state=5)
    cp = ConformalClassifier(scorer, smoothing=False).calibrate(digits["proba"][cal], digits["y"][cal])
    np.testing.assert_allclose(cp.cal_scores_, np.ravel(mapie.conformity_scores), rtol=0, atol=1e-12)
    mapie.predict_set(digits["proba"][test])  # MAPIE computes its thresholds when it predicts
    quantiles = mapie._mapie_classifier.conformity_score_function_.quantiles_
    test_scores = scorer.score(digits["proba"][test])
    for j, level in enumerate(LEVELS):
        np.testing.assert_array_equal(conformal.prediction_sets(cp.p_values_scores(test_scores), level),
                                      test_scores <= quantiles[j] + 1e-12)


def test_coverage_figure_one_colour_and_one_legend_entry_per_score(digits):
    """Each score keeps its colour in both panels and has one legend entry; the coverage panel shows
    coverage minus its target (points) around a visible target line, the scores' markers apart."""
    import pandas as pd

    frames = [conformal.coverage_over_splits(*_score_matrix(digits, name), digits["y"], [0.05, 0.1], n_splits=5, name=name)
              for name in ("lac", "aps", "knn")]
    frame = pd.concat(frames, ignore_index=True)
    fig = conformal.coverage_figure(frame)
    target, *traces = fig.data
    assert target.name == "target: coverage = 1 - significance" and list(target.y) == [0, 0] and target.line.color == "black"
    assert [t.name for t in traces if t.showlegend is not False] == ["lac", "aps", "knn"]
    for name in ("lac", "aps", "knn"):
        left, right = [t for t in traces if t.name == name]
        assert left.marker.color == right.marker.color == right.line.color, name
        part = frame[frame["score"] == name]
        np.testing.assert_allclose(left.y, 100 * (part["coverage"] - part["target"]))
        np.testing.assert_allclose(left.error_y.array, 100 * part["coverage_sd"])
        np.testing.assert_allclose(right.x, part["significance"])
    assert len({t.marker.color for t in traces}) == 3
    xs = [tuple(t.x) for t in traces[::2]]  # the coverage markers of the three scores
    assert len(set(xs)) == 3 and all(abs(x[0] / 0.05 - 1) < 0.1 for x in xs)  # apart, yet by the level they belong to


# ---------------------------------------------------------------- per item, and bad input


def test_table_shows_each_items_set_size_and_p_values(digits):
    cp = ConformalClassifier(LAC(digits["classes"]), smoothing=False).calibrate(digits["proba"][:1000], digits["y"][:1000])
    table = cp.table(digits["proba"][1000:1100], 0.05, y=digits["y"][1000:1100], ids=np.arange(1000, 1100))
    assert list(table.columns[:4]) == ["set", "size", "label", "covered"]
    assert [c for c in table.columns if c.startswith("p_")] == [f"p_{c}" for c in range(10)]
    p = table[[f"p_{c}" for c in range(10)]].to_numpy()
    assert table.index[0] == 1000 and ((p > 0) & (p <= 1)).all()
    for (_, row), ps in zip(table.iterrows(), p):
        assert row["set"] == [c for c in range(10) if ps[c] > 0.05] and row["size"] == len(row["set"])
        assert row["covered"] == (row["label"] in row["set"])
    assert 0.9 < table["covered"].mean() and table["size"].max() > 1 and table["size"].min() >= 0


def test_calibration_round_trips_through_json(digits):
    import json

    cp = ConformalClassifier(APS(digits["classes"], random_state=2), mondrian=True, smoothing=False)
    cp.calibrate(digits["proba"][:1000], digits["y"][:1000])
    again = ConformalClassifier.from_dict(json.loads(json.dumps(cp.to_dict())))
    scores = APS(digits["classes"], randomized=False).score(digits["proba"][1000:])
    np.testing.assert_array_equal(again.p_values_scores(scores), cp.p_values_scores(scores))
    assert again.mondrian and again.scorer.name == "aps"
    with pytest.raises(ConformalInputError, match="needs its fitted scorer"):
        ConformalClassifier.from_dict({**cp.to_dict(), "score": "knn"})


@pytest.mark.parametrize("level", [0, 1, -0.05, 1.5, float("nan"), "five"])
def test_a_significance_outside_0_1_is_refused(digits, level):
    cp = ConformalClassifier(LAC(digits["classes"])).calibrate(digits["proba"][:500], digits["y"][:500])
    with pytest.raises(ConformalInputError, match=r"significance .* (outside \(0, 1\)|not a number)"):
        cp.predict_set(digits["proba"][500:510], level)


def test_too_small_a_calibration_set_says_every_set_would_be_full(digits):
    cp = ConformalClassifier(LAC(digits["classes"])).calibrate(digits["proba"][:50], digits["y"][:50])
    assert cp.predict_set(digits["proba"][100:110], 0.05).shape == (10, 10)  # 50 >= 19
    with pytest.raises(ConformalInputError, match=r"50 calibration items, fewer than the 99 needed at significance 0.01"):
        cp.predict_set(digits["proba"][100:110], 0.01)
    mondrian = ConformalClassifier(LAC(digits["classes"]), mondrian=True).calibrate(digits["proba"][:150], digits["y"][:150])
    with pytest.raises(ConformalInputError, match=r"class \d has \d+ calibration items, fewer than the 19 needed"):
        mondrian.evaluate(digits["proba"][300:400], digits["y"][300:400], 0.05)
    assert conformal.min_calibration(0.1) == 9 and conformal.min_calibration(0.01) == 99
    # 1/5e-324 overflows a float: still the clear error, not an OverflowError (schemathesis found it through the endpoint)
    with pytest.raises(ConformalInputError, match="fewer than the"):
        cp.predict_set(digits["proba"][100:110], 5e-324)


def test_bad_probabilities_scores_and_labels_are_named(digits):
    lac = LAC(digits["classes"])
    with pytest.raises(ConformalInputError, match=r"probabilities has 9 columns but there are 10 classes \(0, 1, 2"):
        lac.score(digits["proba"][:, :9])
    bad = digits["proba"][:20].copy()
    bad[3, 2] = np.nan
    with pytest.raises(ConformalInputError, match=r"NaN in 1 row\(s\) \(first: row 3\)"):
        ConformalClassifier(lac).calibrate(bad, digits["y"][:20])
    with pytest.raises(ConformalInputError, match="not logits"):
        lac.score(np.log(digits["proba"][:5] + 1e-9))
    with pytest.raises(ConformalInputError, match=r"label 'seven' is not one of the classes"):
        ConformalClassifier(lac).calibrate(digits["proba"][:2], np.array([3, "seven"], dtype=object))
    with pytest.raises(ConformalInputError, match="not calibrated"):
        ConformalClassifier(lac).predict_set(digits["proba"][:2], 0.1)
    with pytest.raises(ConformalInputError, match=r"calibration scores has 3 columns"):
        ConformalClassifier(lac).calibrate_scores(np.zeros((4, 3)), [0, 1, 2, 3])
    with pytest.raises(ConformalInputError, match="fewer reference items: lower k"):
        KNNScore(k=5).fit(np.zeros((6, 2)), [0, 0, 0, 1, 1, 1])
    with pytest.raises(ConformalInputError, match="features have 2 columns; the reference items had 30"):
        digits["knn"].score(np.zeros((3, 2)))


def test_knn_score_is_the_ratio_of_neighbour_distances():
    """On a line: reference items of class 0 at 0, 1, 2 and class 1 at 10, 11, 12; k = 2."""
    knn = KNNScore(k=2).fit(np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]]), [0, 0, 0, 1, 1, 1])
    scores = knn.score(np.array([[1.5], [10.5]]))
    np.testing.assert_allclose(scores[0], [(0.5 + 0.5) / (8.5 + 9.5), (8.5 + 9.5) / (0.5 + 0.5)])
    np.testing.assert_allclose(scores[1], [(8.5 + 9.5) / (0.5 + 0.5), (0.5 + 0.5) / (8.5 + 9.5)])
