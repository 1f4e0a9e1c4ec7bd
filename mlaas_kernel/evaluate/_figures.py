"""Plotly figures of an evaluation: each function takes the numbers and returns one figure."""

from __future__ import annotations

import numpy as np

from ._classification import ClassificationMetrics
from ._regression import RegressionMetrics

_HEIGHT = 420


def confusion_figure(m: ClassificationMetrics):
    """The confusion matrix as two heatmaps: counts, and each true class's row as fractions."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("counts", "fraction of each true class"), horizontal_spacing=0.12)
    norm = m.confusion_normalised
    fig.add_trace(go.Heatmap(z=m.confusion, x=m.classes, y=m.classes, colorscale="Blues", showscale=False,
                             text=m.confusion, texttemplate="%{text}", hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"), 1, 1)
    fig.add_trace(go.Heatmap(z=norm, x=m.classes, y=m.classes, colorscale="Blues", zmin=0, zmax=1, showscale=False,
                             text=np.round(norm, 2), texttemplate="%{text}",
                             hovertemplate="true %{y}, predicted %{x}: %{z:.1%}<extra></extra>"), 1, 2)
    for col in (1, 2):
        fig.update_xaxes(title_text="predicted", type="category", row=1, col=col)
        fig.update_yaxes(title_text="true", type="category", autorange="reversed", row=1, col=col)
    fig.update_layout(title=f"Confusion matrix ({m.n_items:,} items, accuracy {m.accuracy:.1%})", height=_HEIGHT + 60)
    return fig


def _curves_figure(curves: dict, auc: dict, *, title: str, x: str, y: str, diagonal: bool):
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, (xs, ys) in curves.items():
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{name} (AUC {auc[name]:.3f})", line={"shape": "hv" if not diagonal else "linear"}))
    if diagonal:
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash", "color": "grey"}))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=_HEIGHT, xaxis_range=[0, 1], yaxis_range=[0, 1.02])
    return fig


def roc_figure(m: ClassificationMetrics):
    """One-vs-rest ROC curves, one line per class, its AUC in the legend."""
    auc = dict(zip(m.per_class["class"], m.per_class["roc_auc"]))
    return _curves_figure(m.roc, auc, title=f"ROC, one class against the rest (macro AUC {m.roc_auc_macro:.3f})",
                          x="false positive rate", y="true positive rate", diagonal=True)


def pr_figure(m: ClassificationMetrics):
    """One-vs-rest precision-recall curves, one line per class, its average precision in the legend."""
    auc = dict(zip(m.per_class["class"], m.per_class["average_precision"]))
    return _curves_figure(m.pr, auc, title=f"Precision-recall, one class against the rest (macro AUC {m.pr_auc_macro:.3f})",
                          x="recall", y="precision", diagonal=False)


def reliability_figure(m: ClassificationMetrics):
    """Accuracy against confidence per equal-width bin, with the diagonal of perfect calibration,
    and below it how many items fell in each bin."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    c = m.calibration
    mids = (c.edges[:-1] + c.edges[1:]) / 2
    filled = c.counts > 0
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line={"dash": "dash", "color": "grey"}), 1, 1)
    fig.add_trace(go.Scatter(x=c.confidence[filled], y=c.accuracy[filled], mode="lines+markers", name="model",
                             customdata=c.counts[filled], hovertemplate="confidence %{x:.3f}: accuracy %{y:.3f} (%{customdata} items)<extra></extra>"), 1, 1)
    fig.add_trace(go.Bar(x=mids, y=c.counts, width=np.diff(c.edges) * 0.9, name="items per bin", marker_color="#9ab"), 2, 1)
    fig.update_xaxes(range=[0, 1], row=1, col=1)
    fig.update_xaxes(range=[0, 1], title_text="confidence (top-label probability)", row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="items", row=2, col=1)
    fig.update_layout(title=f"Reliability ({len(c.counts)} equal-width bins, ECE {c.ece:.4f})", height=_HEIGHT + 120)
    return fig


def wrong_images_figure(images, captions: list[str], *, columns: int = 8):
    """A grid of images (n, h, w[, c]), each titled with its caption (true, predicted, confidence)."""
    import plotly.express as px
    import plotly.graph_objects as go

    images = np.asarray(images)
    if not len(images):
        fig = go.Figure()
        fig.update_layout(title="No wrong predictions", height=200)
        return fig
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    cols = min(columns, len(images))
    fig = px.imshow(images, facet_col=0, facet_col_wrap=cols, binary_string=True, facet_col_spacing=0.01, facet_row_spacing=0.08)
    for ann in fig.layout.annotations:  # facet titles read "facet_col=K"
        ann.text = captions[int(ann.text.split("=")[1])]
        ann.font.size = 10
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    rows = -(-len(images) // cols)
    fig.update_layout(title=f"The {len(images)} most confidently wrong predictions", height=120 + 130 * rows)
    return fig


def wrong_rows_figure(frame):
    """The most confidently wrong items of a table, as a table (true, predicted, confidence, features)."""
    import pandas as pd
    import plotly.graph_objects as go

    frame = frame.reset_index()
    cells = [["" if pd.isna(v) else f"{v:.1%}" if c == "confidence" else f"{v:.3f}" if isinstance(v, float) else str(v) for v in frame[c]]
             for c in frame.columns]  # the confidence as the summary and the image captions write it
    fig = go.Figure(go.Table(header={"values": [str(c) for c in frame.columns]}, cells={"values": cells, "height": 24}))
    fig.update_layout(title=f"The {len(frame)} most confidently wrong predictions", height=160 + 24 * (len(frame) + 1),
                      margin={"t": 60, "b": 20})
    return fig


def classification_figures(m: ClassificationMetrics, wrong) -> dict:
    """name -> figure for a classification evaluation (``wrong`` is the confidently-wrong figure)."""
    return {"confusion_matrix": confusion_figure(m), "roc": roc_figure(m), "precision_recall": pr_figure(m),
            "reliability": reliability_figure(m), "confidently_wrong": wrong}


def residuals_figure(r: RegressionMetrics):
    """Residuals (true - predicted) against the prediction, with the zero line."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=r.y_pred, y=r.residuals, mode="markers", opacity=0.6, name="items",
                               text=r.categories, hovertemplate="predicted %{x:,.0f}, residual %{y:,.0f} %{text}<extra></extra>"))
    fig.add_hline(y=0, line_dash="dash", line_color="grey")
    fig.update_layout(title=f"Residuals against predictions (RMSE {r.rmse:,.4g})", xaxis_title=f"predicted {r.target}",
                      yaxis_title="residual (true - predicted)", height=_HEIGHT)
    return fig


def error_by_category_figure(r: RegressionMetrics):
    """Absolute error per category as boxes, worst category first."""
    import plotly.graph_objects as go

    fig = go.Figure()
    order = list(r.per_category["category"]) if r.per_category is not None else ["all"]
    cats = r.categories if r.categories is not None else np.full(r.n_items, "all")
    for name in order:
        fig.add_trace(go.Box(y=np.abs(r.residuals[cats == name]), name=f"{name} (n={int((cats == name).sum())})", boxmean=True))
    fig.update_layout(title=f"Absolute error by category (MAE {r.mae:,.4g})", yaxis_title=f"|true - predicted| {r.target}",
                      showlegend=False, height=_HEIGHT)
    return fig


def predicted_vs_true_figure(r: RegressionMetrics):
    """Predicted against true, with the diagonal where they are equal."""
    import plotly.graph_objects as go

    lo, hi = float(min(r.y_true.min(), r.y_pred.min())), float(max(r.y_true.max(), r.y_pred.max()))
    fig = go.Figure(go.Scatter(x=r.y_true, y=r.y_pred, mode="markers", opacity=0.6, name="items", text=r.categories))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = true", line={"dash": "dash", "color": "grey"}))
    fig.update_layout(title=f"Predicted against true (R² {r.r2:.3f})", xaxis_title=f"true {r.target}", yaxis_title=f"predicted {r.target}",
                      height=_HEIGHT)
    return fig


def regression_figures(r: RegressionMetrics) -> dict:
    """name -> figure for a regression evaluation."""
    return {"residuals": residuals_figure(r), "error_by_category": error_by_category_figure(r), "predicted_vs_true": predicted_vs_true_figure(r)}
