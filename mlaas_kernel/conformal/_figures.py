"""Coverage and mean set size against the significance level, as one plotly figure."""

from __future__ import annotations

import numpy as np

__all__ = ["coverage_figure", "coverage_over_splits", "evaluate_levels"]


def evaluate_levels(predictor, scores, y, levels, *, name: str | None = None):
    """A table (pandas) of coverage and mean set size of ``predictor`` at each significance of ``levels``."""
    import pandas as pd

    rows = []
    for level in levels:
        s = predictor.evaluate_scores(scores, y, level)
        rows.append({"score": name or predictor.scorer.name, "significance": s["significance"], "target": 1 - s["significance"],
                     "coverage": s["coverage"], "mean_set_size": s["mean_set_size"], "empty": s["empty"], "singletons": s["singletons"]})
    return pd.DataFrame(rows)


def coverage_over_splits(scorer, scores, y, levels, *, n_splits: int = 100, calibration_fraction: float = 0.5,
                         mondrian: bool = False, random_state: int = 0, name: str | None = None):
    """Mean coverage and set size (and the spread of one split) over ``n_splits`` random calibration/evaluation
    splits of held-out items whose score matrix is ``scores``: what one split's figure varies around."""
    import pandas as pd

    from ._predictor import ConformalClassifier
    from ._pvalues import prediction_sets
    from ._scores import label_index

    scores = np.asarray(scores)
    idx = label_index(scorer.classes_, y)
    rng = np.random.default_rng(random_state)
    n_cal = int(round(len(idx) * calibration_fraction))
    cover, size = np.empty((n_splits, len(levels))), np.empty((n_splits, len(levels)))
    for s in range(n_splits):
        order = rng.permutation(len(idx))
        cal, test = order[:n_cal], order[n_cal:]
        cp = ConformalClassifier(scorer, mondrian=mondrian, random_state=s).calibrate_scores(scores[cal], np.asarray(y)[cal])
        if s == 0:  # a level too fine for the calibration size is an error (said once)
            for level in levels:
                cp._check_ready(level)
        p = cp.p_values_scores(scores[test])
        for j, level in enumerate(levels):
            sets = prediction_sets(p, level)
            cover[s, j], size[s, j] = sets[np.arange(len(test)), idx[test]].mean(), sets.sum(axis=1).mean()
    return pd.DataFrame({"score": name or scorer.name, "significance": list(levels), "target": [1 - v for v in levels],
                         "coverage": cover.mean(axis=0), "coverage_sd": cover.std(axis=0, ddof=1),
                         "mean_set_size": size.mean(axis=0), "splits": n_splits})


def coverage_figure(frame, *, title: str = "Conformal prediction: coverage and set size"):
    """Two panels from :func:`evaluate_levels` or :func:`coverage_over_splits` rows (one line per
    ``score``): empirical coverage against the significance with the ideal ``1 - significance`` line
    (error bars: one split's spread, when the rows have ``coverage_sd``), and the mean set size."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Coverage", "Mean set size"), horizontal_spacing=0.12)
    levels = sorted(frame["significance"].unique()) if len(frame) else [0.01, 0.1]
    fig.add_trace(go.Scatter(x=levels, y=[1 - v for v in levels], mode="lines", name="ideal: 1 - significance",
                             line={"dash": "dash", "color": "grey"}), row=1, col=1)
    for name, part in frame.groupby("score", sort=False) if len(frame) else []:
        part = part.sort_values("significance")
        spread = {"type": "data", "array": part["coverage_sd"], "visible": True} if "coverage_sd" in part else None
        fig.add_trace(go.Scatter(x=part["significance"], y=part["coverage"], mode="lines+markers", name=str(name),
                                 legendgroup=str(name), error_y=spread), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["significance"], y=part["mean_set_size"], mode="lines+markers", name=str(name),
                                 legendgroup=str(name), showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="significance (accepted error rate)")
    fig.update_yaxes(title_text="share of sets holding the true class", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="classes per set", rangemode="tozero", row=1, col=2)
    fig.update_layout(title=title, height=420, margin={"t": 80})
    return fig
