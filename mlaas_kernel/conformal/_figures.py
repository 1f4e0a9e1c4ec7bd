"""Coverage and mean set size against the significance level, as one plotly figure."""

from __future__ import annotations

import numpy as np

__all__ = ["coverage_figure", "coverage_over_splits", "evaluate_levels"]

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")  # one per score, in both panels


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
    """Two panels from :func:`evaluate_levels` or :func:`coverage_over_splits` rows (one colour and one
    legend entry per ``score``): coverage minus its target ``1 - significance``, in percentage points,
    against the significance (0 is on target; error bars: one split's spread, when the rows have
    ``coverage_sd``; the scores' markers sit a little apart so none hides another), and the mean set size."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    over_splits = "coverage_sd" in frame
    left = "Mean coverage minus target (bars: one split's ±1 sd)" if over_splits else "Coverage minus target (0 = on target)"
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(left, "Mean set size"))
    levels = sorted(frame["significance"].unique()) if len(frame) else [0.01, 0.1]
    fig.add_trace(go.Scatter(x=[levels[0] * 0.85, levels[-1] / 0.85], y=[0, 0], mode="lines", hoverinfo="skip",
                             line={"color": "black", "width": 2, "dash": "dash"}, name="target: coverage = 1 - significance"),
                  row=1, col=1)
    groups = list(frame.groupby("score", sort=False)) if len(frame) else []
    for i, (name, part) in enumerate(groups):
        part, colour = part.sort_values("significance"), COLOURS[i % len(COLOURS)]
        shift = 10 ** (0.03 * (i - (len(groups) - 1) / 2))  # log axis: the same small offset at every level
        spread = {"type": "data", "array": 100 * part["coverage_sd"], "visible": True} if over_splits else None
        common = {"name": str(name), "legendgroup": str(name), "customdata": part[["significance", "coverage"]].to_numpy()}
        fig.add_trace(go.Scatter(x=part["significance"] * shift, y=100 * (part["coverage"] - part["target"]), mode="markers",
                                 marker={"color": colour, "size": 9}, error_y=spread, **common,
                                 hovertemplate="significance %{customdata[0]:g}: coverage %{customdata[1]:.2%}"
                                 " (%{y:+.2f} points)<extra>%{fullData.name}</extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["significance"], y=part["mean_set_size"], mode="lines+markers", showlegend=False,
                                 line={"color": colour}, marker={"color": colour, "size": 8}, **common,
                                 hovertemplate="significance %{x:g}: %{y:.3f} classes<extra>%{fullData.name}</extra>"), row=1, col=2)
    fig.update_xaxes(type="log", tickvals=levels, ticktext=[f"{v:g}" for v in levels], title_text="significance (accepted error rate)")
    fig.update_yaxes(title_text="coverage − (1 − significance), points", zeroline=False, row=1, col=1)
    fig.update_yaxes(title_text="classes per set", rangemode="tozero", row=1, col=2)
    fig.update_layout(title=title, height=420, margin={"t": 80}, legend={"title_text": "score"})
    return fig
