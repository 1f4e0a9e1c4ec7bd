"""Ingestion into the workspace: every kind of source, idempotence, bad input."""

import gzip
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mlaas_kernel import data
from mlaas_kernel.data import DataError
from mlaas_kernel.data._sources import _bundled


def staging_left(ws):
    return [p.name for p in (ws / "datasets").iterdir() if p.name.startswith(".")]


def test_mnist_offline_uses_the_bundled_test_set_and_says_so(workspace):
    ds = data.ingest("mnist", progress=False)
    assert ds.images().shape == (10000, 28, 28) and len(ds) == 10000
    assert ds.manifest["mnist_source"] == "bundled"
    assert any("bundled MNIST test set" in n for n in ds.manifest["notes"])
    assert "note: offline" in ds.summary()
    assert set(ds.table()["split"]) == {"test"}


def mnist_mirror(file_server, *, prefix="/mnist/"):
    """Serve the bundled test files under all four MNIST names, with their MD5s."""
    files = {}
    for key, (name, *_) in data.MNIST.__init__.__globals__["MNIST_FILES"].items():
        src = "t10k-images-idx3-ubyte.gz" if key.endswith("images") else "t10k-labels-idx1-ubyte.gz"
        body = _bundled("mnist", src).read_bytes()
        file_server.files[prefix + name] = body
        files[key] = (name, hashlib.md5(body).hexdigest())
    return files


def test_mnist_downloads_from_a_mirror_with_checksums(workspace, file_server):
    files = mnist_mirror(file_server)
    source = data.MNIST(mirrors=("http://127.0.0.1:1/dead/", file_server.url + "/mnist/"), files=files, offline=False)
    ds = data.ingest(source, progress=False)
    assert ds.manifest["mnist_source"] == "download" and len(ds) == 20000
    assert ds.table()["split"].value_counts().to_dict() == {"train": 10000, "test": 10000}
    assert (workspace / "downloads" / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_mnist_corrupted_download_falls_back_to_the_bundled_copy(workspace, file_server):
    files = mnist_mirror(file_server)
    name = files["train_images"][0]
    body = file_server.files["/mnist/" + name]
    file_server.files["/mnist/" + name] = body[: len(body) // 2]  # truncated on the server
    ds = data.ingest(data.MNIST(mirrors=(file_server.url + "/mnist/",), files=files, offline=False), progress=False)
    assert ds.manifest["mnist_source"] == "bundled"
    assert any("md5 mismatch" in n for n in ds.manifest["notes"])


def test_mnist_with_labels_that_do_not_match_images_is_refused(workspace, file_server):
    files = mnist_mirror(file_server)
    labels = gzip.decompress(file_server.files["/mnist/" + files["test_labels"][0]])
    short = labels[:4] + (9990).to_bytes(4, "big") + labels[8:8 + 9990]
    body = gzip.compress(short)
    file_server.files["/mnist/" + files["test_labels"][0]] = body
    files["test_labels"] = (files["test_labels"][0], hashlib.md5(body).hexdigest())
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz has 10000 images but t10k-labels-idx1-ubyte.gz has 9990 labels"):
        data.ingest(data.MNIST(mirrors=(file_server.url + "/mnist/",), files=files, offline=False), progress=False)
    assert not (workspace / "datasets" / "mnist").exists() and staging_left(workspace) == []


def test_gpu_benchmarks_is_cleaned_and_its_choices_recorded(workspace):
    ds = data.ingest("gpu-benchmarks", progress=False)
    df = ds.table()
    assert len(df) == 2317 and ds.manifest["raw_rows"] == 2317
    steps = {s["step"]: s["rows"] for s in ds.manifest["cleaning"]}
    assert steps["category:combined"] == 24 and steps["missing:price"] == 1764
    assert df.loc[df["category"] == "Mobile, Workstation", ["is_mobile", "is_workstation", "is_desktop"]].all(axis=0).tolist() == [True, True, False]


def test_csv_parquet_and_reingest_is_a_noop(workspace, tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "a"]})
    frame.to_csv(tmp_path / "small.csv", index=False)
    frame.to_parquet(tmp_path / "small.parquet")
    a = data.ingest(tmp_path / "small.csv", progress=False)
    assert a.name == "small" and not a.reused
    pd.testing.assert_frame_equal(a.table(), frame, check_dtype=False)
    created = a.manifest["created"]
    again = data.ingest(tmp_path / "small.csv", progress=False)
    assert again.reused and again.manifest["created"] == created
    b = data.ingest(tmp_path / "small.parquet", name="small-pq", progress=False)
    assert b.manifest["rows"] == 3 and b.manifest["schema"]["x"] == "float64"
    assert b.manifest["files"][0]["sha256"] == hashlib.sha256((tmp_path / "small.parquet").read_bytes()).hexdigest()
    assert [d.name for d in data.list_datasets()] == ["small", "small-pq"]


def test_same_name_from_another_input_needs_overwrite(workspace, tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    data.ingest(tmp_path / "t.csv", progress=False)
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match="dataset 't' already exists from another input"):
        data.ingest(tmp_path / "t.csv", progress=False)
    assert len(data.load("t")) == 1
    assert len(data.ingest(tmp_path / "t.csv", overwrite=True, progress=False)) == 2
    assert staging_left(workspace) == []


def test_csv_from_a_url(workspace, file_server):
    file_server.files["/data/prices.csv"] = b"gpu,price\nA,10\nB,20\n"
    ds = data.ingest(file_server.url + "/data/prices.csv", progress=False)
    assert ds.name == "prices" and ds.table()["price"].sum() == 30
    assert ds.manifest["source_url"].endswith("/data/prices.csv")


def test_image_folder(workspace, tmp_path):
    root = tmp_path / "shapes"
    rng = np.random.default_rng(0)
    for cls, n in [("circle", 3), ("square", 2)]:
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (12, 10), dtype=np.uint8)).save(root / cls / f"{i}.png")
    ds = data.ingest(root, progress=False)
    assert ds.images().shape == (5, 12, 10)
    assert ds.table()["label"].tolist() == ["circle"] * 3 + ["square"] * 2
    assert ds.manifest["classes"] == ["circle", "square"]
    np.testing.assert_array_equal(ds.images()[0], np.asarray(Image.open(root / "circle" / "0.png")))
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(root / "square" / "odd.png")
    with pytest.raises(DataError, match=r"odd.png: image is 5x5, others are 10x12; pass image_size"):
        data.ingest(root, name="shapes2", progress=False)
    resized = data.ingest(root, name="shapes3", image_size=(8, 8), progress=False)
    assert resized.images().shape == (6, 8, 8)


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("header_only.csv", b"a,b\n", "header_only.csv: the table has columns \\['a', 'b'\\] but no rows"),
        ("broken.parquet", None, "broken.parquet: not a readable Parquet file, maybe truncated"),
        ("notes.txt", b"hello", "notes.txt: unsupported file type '.txt'"),
        ("binary.csv", bytes(range(256)) * 4, "binary.csv: not a readable CSV file"),
    ],
)
def test_bad_files_are_clear_errors_and_leave_nothing(workspace, tmp_path, filename, content, message):
    path = tmp_path / filename
    if content is None:
        pd.DataFrame({"a": range(1000)}).to_parquet(path)
        content = path.read_bytes()[:-200]
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        data.ingest(path, progress=False)
    assert not (workspace / "datasets").exists() or list((workspace / "datasets").iterdir()) == []


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "", "x" * 65])
def test_names_that_would_escape_the_workspace_are_refused(workspace, tmp_path, name):
    (tmp_path / "t.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match="is not allowed"):
        data.ingest(tmp_path / "t.csv", name=name, progress=False)
    assert not (workspace.parent / "escape").exists()


def test_unknown_source_and_dataset_errors(workspace):
    with pytest.raises(DataError, match="source 'nope' is not a file, folder or URL, nor a dataset name \\(gpu-benchmarks, mnist\\)"):
        data.ingest("nope")
    with pytest.raises(DataError, match="no dataset 'missing' in the workspace; ingested: \\(none\\)"):
        data.load("missing")
    with pytest.raises(DataError, match="empty-folder: no class sub-folders"):
        (workspace.parent / "empty-folder").mkdir()
        data.ingest(workspace.parent / "empty-folder")


def test_a_failure_while_writing_leaves_the_previous_dataset_whole(workspace, tmp_path, monkeypatch):
    (tmp_path / "t.csv").write_text("a\n1\n")
    data.ingest(tmp_path / "t.csv", progress=False)
    (tmp_path / "t.csv").write_text("a\n1\n2\n")

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        data.ingest(tmp_path / "t.csv", overwrite=True, progress=False)
    monkeypatch.undo()
    assert len(data.load("t", workspace_dir=workspace)) == 1
    assert json.loads((workspace / "datasets" / "t" / "manifest.json").read_text())["rows"] == 1
    assert staging_left(workspace) == []


def published_mirror(file_server, *, corrupt=None, prefix="/pub/"):
    """Serve the bundled test files under their names and as the training files, keeping the
    published decompressed MD5s where the bytes are the published ones (the test split).

    ``corrupt``: a key whose served file gets one label byte changed, recompressed, with an
    archive MD5 that matches what is served (as a mirror that recompressed a damaged file would).
    """
    from mlaas_kernel.data._mnist import MNIST_FILES

    files = {}
    for key, (name, _, raw_md5) in MNIST_FILES.items():
        src = "t10k-images-idx3-ubyte.gz" if key.endswith("images") else "t10k-labels-idx1-ubyte.gz"
        body = _bundled("mnist", src).read_bytes()
        if key == corrupt:
            raw = bytearray(gzip.decompress(body))
            raw[100] = (raw[100] + 1) % 10
            body = gzip.compress(bytes(raw))
        file_server.files[prefix + name] = body
        files[key] = (name, hashlib.md5(body).hexdigest(), raw_md5 if key.startswith("test") else None)
    return files


def test_mnist_download_checks_the_decompressed_files_against_the_published_md5s(workspace, file_server):
    good = published_mirror(file_server)
    ds = data.ingest(data.MNIST(mirrors=(file_server.url + "/pub/",), files=good, offline=False), progress=False)
    assert ds.manifest["mnist_source"] == "download"
    bad = published_mirror(file_server, corrupt="test_labels", prefix="/bad/")
    ds = data.ingest(data.MNIST(mirrors=(file_server.url + "/bad/",), files=bad, offline=False), name="mnist-bad", progress=False)
    assert ds.manifest["mnist_source"] == "bundled"  # refused, and said so
    [note] = [n for n in ds.manifest["notes"] if "download failed" in n]
    assert "t10k-labels-idx1-ubyte.gz: decompressed md5 mismatch (expected 27ae3e4e09519cfbb04c329615203637" in note
    assert not (workspace / "downloads" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()  # not kept for next time


def test_mnist_published_checksums_match_the_bundled_files():
    from mlaas_kernel.data._mnist import MNIST_FILES, gunzipped_md5

    assert gunzipped_md5(_bundled("mnist", "t10k-images-idx3-ubyte.gz")) == MNIST_FILES["test_images"][2]
    assert gunzipped_md5(_bundled("mnist", "t10k-labels-idx1-ubyte.gz")) == MNIST_FILES["test_labels"][2]


def test_mnist_offline_then_online_upgrades_then_offline_is_a_noop(workspace, file_server):
    offline = data.ingest("mnist", progress=False)
    assert offline.manifest["mnist_source"] == "bundled" and len(offline) == 10000
    bundled_images, bundled_labels = np.array(offline.images()), offline.labels()
    files = published_mirror(file_server)
    online = data.ingest(data.MNIST(mirrors=(file_server.url + "/pub/",), files=files, offline=False), progress=False)
    assert not online.reused and online.manifest["mnist_source"] == "download" and len(online) == 20000
    assert any("replaces the 10,000 rows ingested earlier from the same data" in n for n in online.manifest["notes"])
    # the bundled copy's items keep their ids: labels given to item 42 still mean that digit
    np.testing.assert_array_equal(online.images()[:10000], bundled_images)
    assert (online.labels()[:10000] == bundled_labels).all() and set(online.table()["split"][:10000]) == {"test"}
    again = data.ingest("mnist", progress=False)  # offline again: the full dataset already holds it
    assert again.reused and len(again) == 20000 and "already ingested: nothing to do" in again.summary()
    assert staging_left(workspace) == []
