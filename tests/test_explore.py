import numpy as np
import pandas as pd
import pytest

from mlaas_kernel import data, explore


@pytest.fixture(scope="module")
def gpus(tmp_path_factory):
    return data.ingest("gpu-benchmarks", workspace_dir=tmp_path_factory.mktemp("ws"), progress=False).table()


def test_profile_counts_missing_and_ranges(gpus):
    prof = explore.profile(gpus)
    assert prof.loc["price", "missing"] == 1764 and prof.loc["price", "non_null"] == 553
    assert prof.loc["G3Dmark", "max"] == gpus["G3Dmark"].max()
    assert prof.loc["brand", "unique"] == 5 and pd.isna(prof.loc["brand", "mean"])


def test_group_summary_and_correlations(gpus):
    by_brand = explore.group_summary(gpus, "brand", "G3Dmark")
    assert by_brand.index[0] == "AMD" and by_brand.loc["AMD", "G3Dmark_count"] == 1188
    assert by_brand["G3Dmark_count"].sum() == len(gpus)
    corr = explore.correlations(gpus)
    assert "is_mobile" not in corr.columns
    assert corr.loc["G3Dmark", "G3Dmark"] == pytest.approx(1.0)
    assert corr.loc["G3Dmark", "G2Dmark"] > 0.5  # 3D and 2D marks rise together


def test_figures_carry_the_data(gpus):
    fig = explore.price_performance_figure(gpus)
    assert sum(len(t.x) for t in fig.data) == gpus["price"].notna().sum()
    assert "553 of 2,317 GPUs have a price" in fig.layout.title.text
    watt = explore.perf_per_watt_figure(gpus)
    years = {int(x) for t in watt.data for x in t.x}
    assert years <= set(range(2009, 2023)) and len(years) > 5
    assert explore.correlation_figure(gpus).data[0].z.shape[0] == explore.correlations(gpus).shape[0]


def test_embedding_separates_digits_better_than_chance():
    from mlaas_kernel.data._idx import read_idx
    from mlaas_kernel.data._sources import _bundled

    images = read_idx(_bundled("mnist", "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(_bundled("mnist", "t10k-labels-idx1-ubyte.gz"))
    points = explore.embed(images, labels, method="tsne", n=300, random_state=0)
    assert len(points) == 300 and set(points.columns) == {"item", "x", "y", "label"}
    # neighbours in the 2-D map mostly share a label: 1-NN accuracy far above 10 % chance
    xy = points[["x", "y"]].to_numpy()
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = d.argmin(1)
    assert (points["label"].to_numpy()[nn] == points["label"].to_numpy()).mean() > 0.7
    fig = explore.embedding_figure(points)
    assert sum(len(t.x) for t in fig.data) == 300
    with pytest.raises(ValueError, match="method 'isomap' is not one of tsne, umap, pca"):
        explore.embed(images, labels, method="isomap")


def test_sample_grid_and_class_balance():
    images = np.zeros((30, 4, 4), dtype=np.uint8)
    labels = np.arange(30) % 3
    grid = explore.sample_grid_figure(images, labels, n=6, cols=3)
    assert len(grid.layout.annotations) == 6 and all(":" in a.text for a in grid.layout.annotations)
    bars = explore.class_balance_figure(labels)
    assert list(bars.data[0].y) == [10, 10, 10]


def test_dataframe_work_goes_through_the_compute_layer(gpus, compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setenv("MLAAS_DEVICE", "cpu")
    explore.group_summary(gpus, "brand", "G3Dmark")
    explore.profile(gpus)
    explore.correlation_figure(gpus)
    explore.perf_per_watt_figure(gpus)
    recorded = {f.operation: f.reason for f in compute.fallbacks()}
    for op in ("explore.group_summary", "explore.profile", "explore.correlations", "explore.perf_per_watt"):
        assert recorded[op] == "MLAAS_DEVICE=cpu asks for the CPU"
    # a GPU machine with a plain pandas frame: the fallback names why
    monkeypatch.setattr(compute, "detect", lambda refresh=False: compute.DeviceInfo("gpu", "auto", "1 NVIDIA GPU(s) usable", ("NVIDIA H100",)))
    out = explore.correlations(gpus)
    assert out.loc["G3Dmark", "G3Dmark"] == pytest.approx(1.0)
    assert "cudf.pandas is not active" in {f.operation: f.reason for f in compute.fallbacks()}["explore.correlations"]
    monkeypatch.setenv("MLAAS_STRICT_GPU", "1")  # strict: no silent CPU run
    with pytest.raises(compute.StrictGPUError, match="explore.group_summary"):
        explore.group_summary(gpus, "brand", "G3Dmark")


def test_embedding_is_cached_in_the_dataset_folder(tmp_path, compute_state):
    compute = compute_state
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (60, 8, 8), dtype=np.uint8)
    labels = np.arange(60) % 3
    first = explore.embed(images, labels, method="tsne", n=40, cache_dir=tmp_path)
    assert first.attrs["cached"] is False and len(list(tmp_path.glob("embedding-2d-tsne-*.npy"))) == 1
    fits = {f.operation: f.count for f in compute.fallbacks() if f.operation in ("PCA", "TSNE")}
    again = explore.embed(images, labels, method="tsne", n=40, cache_dir=tmp_path)
    assert again.attrs["cached"] is True and again.equals(first)
    assert {f.operation: f.count for f in compute.fallbacks() if f.operation in ("PCA", "TSNE")} == fits  # nothing fitted again
    other = explore.embed(images, labels, method="tsne", n=40, random_state=1, cache_dir=tmp_path)
    assert other.attrs["cached"] is False and len(list(tmp_path.glob("embedding-2d-tsne-*.npy"))) == 2
    assert explore.embed(images, labels, method="pca", n=40).attrs["cached"] is False  # no cache_dir: computed
