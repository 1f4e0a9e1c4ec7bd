import gzip
import struct

import numpy as np
import pytest

from mlaas_kernel.data import IDXError, read_idx
from mlaas_kernel.data._sources import _bundled


def idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype("u1").tobytes()


def test_reads_the_bundled_mnist_test_set():
    images = read_idx(_bundled("mnist", "t10k-images-idx3-ubyte.gz"), expect_shape=(None, 28, 28))
    labels = read_idx(_bundled("mnist", "t10k-labels-idx1-ubyte.gz"), expect_ndim=1)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    # The published MNIST test set begins with these labels.
    assert labels[:20].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5, 9, 7, 3, 4]
    assert 0 < images.mean() < 255


def test_raw_and_gzip_read_the_same(tmp_path):
    arr = np.arange(24, dtype="u1").reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(arr))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), arr)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x08\x03\x00\x00" + b"\x00" * 20, "bad magic number 0x08030000"),
        (b"\x00\x00", "too short for an IDX header"),
        (idx_bytes(np.zeros((2, 3, 4)))[:-5], r"header says shape \(2, 3, 4\).*truncated"),
        (idx_bytes(np.zeros((2, 3, 4))) + b"xx", "trailing bytes"),
        (b"\x00\x00\x08\x03\x00\x00", "header promises 3 dimensions"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(IDXError, match=message) as err:
        read_idx(path)
    assert "bad.idx" in str(err.value)


def test_truncated_gzip_and_wrong_shape(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28))))[:-40])
    with pytest.raises(IDXError, match="t.gz: the gzip stream is truncated or corrupt"):
        read_idx(path)
    path.write_bytes(idx_bytes(np.zeros((5, 27, 28))))
    with pytest.raises(IDXError, match=r"expected shape \(None, 28, 28\), found \(5, 27, 28\)"):
        read_idx(path, expect_shape=(None, 28, 28))
    with pytest.raises(IDXError, match="no such file"):
        read_idx(tmp_path / "missing.gz")
