"""Figures of an embedding: its silhouette per epoch, and a 2-D view of it coloured by class (notebook 07)."""

from __future__ import annotations

import numpy as np

VIEW_METHODS = ("pca", "umap")


def embedding_map(embedding, labels=None, *, method: str = "pca", n: int = 2000, random_state: int = 0):
    """A 2-D view of (a sample of ``n`` rows of) an embedding: PCA, or UMAP (cuML's on a GPU).

    Returns a dataframe with columns ``item`` (the row), ``x``, ``y`` and ``label``, the shape
    :func:`mlaas_kernel.explore.embedding_figure` draws.
    """
    from .. import compute

    if method not in VIEW_METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(VIEW_METHODS)}")
    emb = np.asarray(embedding, dtype=np.float32)
    if emb.ndim != 2 or len(emb) < 3:
        raise ValueError(f"the embedding has shape {emb.shape}; need (rows >= 3, dimensions)")
    idx = np.sort(np.random.default_rng(random_state).choice(len(emb), size=min(n, len(emb)), replace=False))
    if method == "pca" or emb.shape[1] <= 2:
        xy = compute.estimator("PCA", n_components=min(2, emb.shape[1]), random_state=random_state).fit_transform(emb[idx])
    else:
        xy = compute.estimator("UMAP", n_components=2, random_state=random_state).fit_transform(emb[idx])
    xy = np.asarray(xy, dtype=np.float64).reshape(len(idx), -1)
    if xy.shape[1] == 1:
        xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
    pd = compute.dataframe()
    out = pd.DataFrame({"item": idx, "x": xy[:, 0], "y": xy[:, 1]})
    if labels is not None:
        out["label"] = np.asarray(labels)[idx].astype(str)
    return out


VIEW_AXES = {"pca": "PC", "umap": "UMAP"}  # the axes of a 2-D view: "PC 1", "PC 2" / "UMAP 1", "UMAP 2"


def embedding_view_figure(points, *, method: str = "pca", title: str | None = None):
    """:func:`mlaas_kernel.explore.embedding_figure` of :func:`embedding_map`'s ``points``, its axes
    named after the view's components ("PC 1", "PC 2" for ``method="pca"``, "UMAP 1", "UMAP 2")."""
    from ..explore import embedding_figure

    if method not in VIEW_METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(VIEW_METHODS)}")
    fig = embedding_figure(points, title=title)
    return fig.update_layout(xaxis_title=f"{VIEW_AXES[method]} 1", yaxis_title=f"{VIEW_AXES[method]} 2")


def silhouette_figure(history, *, title: str = "Validation silhouette and kNN accuracy per epoch"):
    """Line chart of the per-epoch ``val_silhouette`` and ``val_accuracy`` (kNN) of a training history, the best epoch marked."""
    import plotly.graph_objects as go

    rows = [r for r in history if "val_silhouette" in r]
    epochs = [r["epoch"] for r in rows]
    fig = go.Figure()
    fig.add_scatter(x=epochs, y=[r["val_silhouette"] for r in rows], name="silhouette", mode="lines+markers")
    fig.add_scatter(x=epochs, y=[r.get("val_accuracy") for r in rows], name="kNN accuracy", mode="lines+markers")
    if rows:
        best = max(rows, key=lambda r: r["val_silhouette"])
        fig.add_scatter(x=[best["epoch"]], y=[best["val_silhouette"]], name=f"kept: epoch {best['epoch']}", mode="markers",
                        marker={"size": 14, "symbol": "star"})
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(range=[min([0.0] + [r["val_silhouette"] for r in rows]), 1.02])  # silhouette is -1..1, accuracy 0..1
    return fig.update_layout(title=title, height=340, legend={"orientation": "h", "y": -0.25})
