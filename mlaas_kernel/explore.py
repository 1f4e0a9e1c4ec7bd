"""Exploration: table profiles, group-bys, correlations, embeddings and plotly figures.

Everything takes a dataframe from :func:`mlaas_kernel.compute.dataframe` (pandas, or
cudf.pandas on a GPU) and estimators from :func:`mlaas_kernel.compute.estimator`, so the
same calls run on either. Each dataframe operation goes through :func:`mlaas_kernel.compute.run`:
it runs on the GPU when the frame lives there (cuDF, or pandas accelerated by cudf.pandas),
and every operation that runs on pandas instead is recorded as a CPU fallback with its reason
(and raises under ``MLAAS_STRICT_GPU``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from . import compute

__all__ = [
    "METHOD_NAMES",
    "class_balance_figure",
    "correlation_figure",
    "correlations",
    "embed",
    "embedding_figure",
    "group_summary",
    "perf_per_watt_figure",
    "price_performance_figure",
    "profile",
    "sample_grid_figure",
]


def _on_gpu(frame) -> bool:
    """True for a cuDF frame, or any frame while cudf.pandas accelerates pandas."""
    return type(frame).__module__.startswith("cudf") or compute.cudf_pandas_active()


def _to_pandas(frame):
    return frame.to_pandas() if type(frame).__module__.startswith("cudf") and hasattr(frame, "to_pandas") else frame


def _frame_op(operation: str, fn: Callable[[Any], Any], frame) -> Any:
    """``fn(frame)`` on the GPU when the frame lives there, else on pandas, recorded as a fallback."""

    def fast() -> Any:
        if not _on_gpu(frame):
            raise compute.GPUUnavailableError("the frame is a plain pandas frame (cudf.pandas is not active: call compute.dataframe() first)")
        return fn(frame)

    return compute.run(f"explore.{operation}", fast, lambda: fn(_to_pandas(frame)))


def profile(frame) -> Any:
    """One row per column: type, missing values, distinct values and, for numbers, range."""
    return _frame_op("profile", _profile, frame)


def _profile(frame) -> Any:
    pd = compute.dataframe()
    rows = []
    n = len(frame)
    for col in frame.columns:
        s = frame[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        missing = int(s.isna().sum())
        rows.append(
            {
                "column": col,
                "dtype": str(s.dtype),
                "non_null": n - missing,
                "missing": missing,
                "missing_pct": round(100 * missing / n, 1) if n else 0.0,
                "unique": int(s.nunique(dropna=True)),
                "mean": float(s.mean()) if numeric and missing < n else None,
                "min": s.min() if numeric and missing < n else None,
                "max": s.max() if numeric and missing < n else None,
            }
        )
    return pd.DataFrame(rows).set_index("column")


def group_summary(frame, by: str | Sequence[str], values: str | Sequence[str], aggs: Sequence[str] = ("count", "median", "mean")):
    """Aggregates of ``values`` per group of ``by``, largest groups first."""
    values = [values] if isinstance(values, str) else list(values)

    def summary(f):
        out = f.groupby(by, observed=True)[values].agg(list(aggs))
        out.columns = [f"{v}_{a}" for v, a in out.columns]
        return out.sort_values(out.columns[0], ascending=False)

    return _frame_op("group_summary", summary, frame)


def correlations(frame, *, method: str = "pearson"):
    """Correlation matrix of the numeric columns (booleans left out)."""
    return _frame_op("correlations", lambda f: f.select_dtypes(include="number").astype("float64").corr(method=method), frame)


def correlation_figure(frame, *, method: str = "pearson"):
    """Heat map of :func:`correlations`."""
    import plotly.express as px

    corr = _to_pandas(correlations(frame, method=method)).round(2)
    fig = px.imshow(corr, text_auto=True, color_continuous_scale="RdBu_r", zmin=-1, zmax=1, title=f"{method.title()} correlations")
    return fig.update_layout(height=480)


def price_performance_figure(frame):
    """G3Dmark against price (log scale), coloured by category; GPUs without a price are left out."""
    import plotly.express as px

    have = _to_pandas(_frame_op("price_rows", lambda f: f[f["price"].notna()], frame))
    fig = px.scatter(
        have, x="price", y="G3Dmark", color="primary_category", symbol="brand", log_x=True,
        hover_name="gpuName", hover_data={"testDate": True, "TDP": True, "gpuValue": True},
        title=f"3D performance against price ({len(have):,} of {len(frame):,} GPUs have a price)",
        labels={"price": "price (USD, log scale)", "G3Dmark": "G3Dmark (PassMark)", "primary_category": "category"},
    )
    return fig.update_layout(height=480)


def perf_per_watt_figure(frame):
    """Median G3Dmark per watt of TDP by year of test, one line per brand."""
    import plotly.express as px

    def medians(f):
        have = f[f["powerPerformance"].notna()]
        out = have.groupby(["testDate", "brand"], observed=True)["powerPerformance"].agg(["median", "count"]).reset_index()
        return out[out["count"] >= 2]

    per_year = _to_pandas(_frame_op("perf_per_watt", medians, frame))
    fig = px.line(
        per_year, x="testDate", y="median", color="brand", markers=True, hover_data={"count": True},
        title="Performance per watt over the years (median G3Dmark / TDP, groups of 2+ GPUs)",
        labels={"testDate": "year tested", "median": "G3Dmark per watt"},
    )
    return fig.update_layout(height=420)


def class_balance_figure(labels, *, title: str = "Class balance"):
    """Bar chart of how many items each label has."""
    import numpy as np
    import plotly.express as px

    values, counts = np.unique(np.asarray(labels), return_counts=True)
    fig = px.bar(x=[str(v) for v in values], y=counts, labels={"x": "label", "y": "items"}, title=title, text=counts)
    return fig.update_layout(height=360)


def sample_grid_figure(images, labels=None, *, n: int = 20, cols: int = 10, random_state: int = 0):
    """A grid of ``n`` random images, titled with their labels."""
    import numpy as np
    import plotly.express as px

    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(len(images), size=min(n, len(images)), replace=False))
    stack = np.asarray(images[idx])
    fig = px.imshow(stack, facet_col=0, facet_col_wrap=cols, binary_string=True, facet_col_spacing=0.01, facet_row_spacing=0.06)
    for ann in fig.layout.annotations:
        i = idx[int(ann.text.split("=")[1])]
        ann.text = f"#{i}" + (f": {labels[i]}" if labels is not None else "")
    fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
    rows = -(-len(idx) // cols)
    return fig.update_layout(height=110 * rows + 60, title=f"{len(idx)} random samples", margin={"l": 10, "r": 10, "t": 60, "b": 10})


EMBED_METHODS = ("tsne", "umap", "pca")


EMBED_FORMAT = 1  # bump when embed() computes something else: cached maps are then ignored


def embed(images, labels=None, *, method: str = "tsne", n: int = 2000, pca_components: int = 50, random_state: int = 0,
          cache_dir=None):
    """A 2-D embedding of (a sample of) images: PCA, then t-SNE or UMAP.

    Parameters
    ----------
    images:
        Array (N, ...) flattened to (N, features) and scaled to [0, 1].
    method:
        ``"tsne"``, ``"umap"`` or ``"pca"`` (PCA only). cuML's versions run on a GPU.
    n:
        How many items to sample (t-SNE is quadratic in it on the CPU).
    cache_dir:
        A folder (a dataset's) where the 2-D map is kept, keyed by the sampled images' content
        and the parameters: t-SNE of 500 digits takes ~10 s on two busy cores, reading it back
        milliseconds. ``None`` computes every time.
    Returns a dataframe with columns ``item``, ``x``, ``y`` and ``label``; ``attrs["cached"]``
    says whether the map was read from ``cache_dir``.
    """
    import numpy as np

    if method not in EMBED_METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(EMBED_METHODS)}")
    if len(images) < 3:
        raise ValueError(f"need at least 3 items to embed, got {len(images)}")
    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(len(images), size=min(n, len(images)), replace=False))
    x = np.asarray(images[idx], dtype=np.float32).reshape(len(idx), -1) / 255.0
    cache = _embedding_cache(cache_dir, x, method, pca_components, random_state)
    xy = np.load(cache) if cache is not None and cache.exists() else None
    cached = xy is not None
    if xy is None:
        xy = _embed_2d(x, method, pca_components, random_state)
        if cache is not None:
            from ._atomic import atomic_write

            def write(tmp):
                with open(tmp, "wb") as f:  # np.save(path) would add ".npy" to the temporary name
                    np.save(f, xy)

            atomic_write(cache, write)
    pd = compute.dataframe()
    out = pd.DataFrame({"item": idx, "x": xy[:, 0], "y": xy[:, 1]})
    if labels is not None:
        out["label"] = np.asarray(labels)[idx].astype(str)
    out.attrs["cached"] = cached
    return out


def _embedding_cache(cache_dir, x, method: str, pca_components: int, random_state: int):
    if cache_dir is None:
        return None
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256(x.tobytes())
    digest.update(repr((x.shape, method, pca_components, random_state, EMBED_FORMAT)).encode())
    return Path(cache_dir) / f"embedding-2d-{method}-{digest.hexdigest()[:16]}.npy"


def _embed_2d(x, method: str, pca_components: int, random_state: int):
    import numpy as np

    k = min(pca_components if method != "pca" else 2, x.shape[1], len(x) - 1)
    reduced = compute.estimator("PCA", n_components=k, random_state=random_state).fit_transform(x)
    if method == "tsne":
        perplexity = float(min(30, max(5, (len(x) - 1) // 3)))
        xy = compute.estimator("TSNE", n_components=2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(reduced)
    elif method == "umap":
        xy = compute.estimator("UMAP", n_components=2, random_state=random_state).fit_transform(reduced)
    else:
        xy = reduced[:, :2]
    return np.asarray(xy, dtype=np.float64)


# How people write the embedding methods' names, for titles.
METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


def embedding_figure(points, *, title: str | None = None):
    """Interactive scatter of :func:`embed`'s output, coloured by label."""
    import plotly.express as px

    order = sorted(points["label"].unique(), key=lambda v: (len(v), v)) if "label" in points else None
    fig = px.scatter(
        points, x="x", y="y", color="label" if "label" in points else None, hover_data={"item": True},
        category_orders={"label": order} if order else None, title=title or f"Embedding of {len(points):,} items",
    )
    fig.update_traces(marker={"size": 5, "opacity": 0.8})
    return fig.update_layout(height=520, xaxis_title="", yaxis_title="")
