"""Coverage and mean set size against the significance level, as one plotly figure."""

from __future__ import annotations

__all__ = ["coverage_figure", "evaluate_levels"]


def evaluate_levels(predictor, scores, y, levels, *, name: str | None = None):
    """A table (pandas) of coverage and mean set size of ``predictor`` at each significance of ``levels``."""
    import pandas as pd

    rows = []
    for level in levels:
        s = predictor.evaluate_scores(scores, y, level)
        rows.append({"score": name or predictor.scorer.name, "significance": s["significance"], "target": 1 - s["significance"],
                     "coverage": s["coverage"], "mean_set_size": s["mean_set_size"], "empty": s["empty"], "singletons": s["singletons"]})
    return pd.DataFrame(rows)


def coverage_figure(frame, *, title: str = "Conformal prediction: coverage and set size"):
    """Two panels from :func:`evaluate_levels` rows (one line per ``score``): empirical coverage
    against the significance with the ideal ``1 - significance`` line, and the mean set size."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Coverage", "Mean set size"), horizontal_spacing=0.12)
    levels = sorted(frame["significance"].unique()) if len(frame) else [0.01, 0.1]
    fig.add_trace(go.Scatter(x=levels, y=[1 - v for v in levels], mode="lines", name="ideal: 1 - significance",
                             line={"dash": "dash", "color": "grey"}), row=1, col=1)
    for name, part in frame.groupby("score", sort=False) if len(frame) else []:
        part = part.sort_values("significance")
        fig.add_trace(go.Scatter(x=part["significance"], y=part["coverage"], mode="lines+markers", name=str(name),
                                 legendgroup=str(name)), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["significance"], y=part["mean_set_size"], mode="lines+markers", name=str(name),
                                 legendgroup=str(name), showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="significance (accepted error rate)")
    fig.update_yaxes(title_text="share of sets holding the true class", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="classes per set", rangemode="tozero", row=1, col=2)
    fig.update_layout(title=title, height=420, margin={"t": 80})
    return fig
