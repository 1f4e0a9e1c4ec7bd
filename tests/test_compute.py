"""The compute layer on the CPU, with toy fast/slow backends standing in for the GPU ones."""

import pytest

from mlaas_kernel import compute as _compute_module

needs_no_gpu = pytest.mark.skipif(
    _compute_module.detect(refresh=True).is_gpu, reason="checks the behaviour of a machine without a GPU"
)


class CudaError(RuntimeError):
    """Stands in for cupy's CUDARuntimeError."""


CudaError.__module__ = "cupy_backends.cuda.api.runtime"


class ToyFast:
    """A GPU estimator that works for ``fit`` and fails mid-operation on ``transform``."""

    def __init__(self, fail_on=("transform",), error=CudaError("cudaErrorMemoryAllocation: out of memory")):
        self.fail_on, self.error, self.calls = fail_on, error, []

    def fit(self, x):
        self.calls.append("fit")
        if "fit" in self.fail_on:
            raise self.error
        self.mean_ = sum(x) / len(x)
        return self

    def transform(self, x):
        self.calls.append("transform")
        if "transform" in self.fail_on:
            raise self.error
        return [v - self.mean_ for v in x]


class ToySlow:
    instances = []

    def __init__(self):
        ToySlow.instances.append(self)
        self.calls = []

    def fit(self, x):
        self.calls.append("fit")
        self.mean_ = sum(x) / len(x)
        return self

    def transform(self, x):
        self.calls.append("transform")
        return [v - self.mean_ for v in x]


def as_gpu(compute, monkeypatch):
    monkeypatch.setattr(compute, "_detected", compute.DeviceInfo("gpu", "auto", "test GPU", ("Toy GPU",)))
    monkeypatch.setattr(compute, "detect", lambda refresh=False: compute._detected)


def test_fast_path_that_fails_mid_operation_falls_back_refits_and_is_recorded(compute_state, monkeypatch):
    compute = compute_state
    as_gpu(compute, monkeypatch)
    ToySlow.instances.clear()
    fast = ToyFast()
    proxy = compute.FastSlowProxy("Toy", lambda: fast, ToySlow)
    assert proxy.backend == "gpu"
    assert proxy.fit([1.0, 2.0, 3.0]) is proxy
    assert proxy.transform([4.0]) == [2.0]  # answered by the slow path
    assert proxy.backend == "cpu"
    slow = ToySlow.instances[-1]
    assert slow.calls == ["fit", "transform"]  # the fit was replayed before the transform
    assert fast.calls == ["fit", "transform"]
    [entry] = compute.LOG.entries()
    assert entry.operation == "Toy.transform" and "cudaErrorMemoryAllocation" in entry.reason


def test_run_falls_back_on_a_cuda_error_and_records_it(compute_state, monkeypatch):
    compute = compute_state
    as_gpu(compute, monkeypatch)

    def fast():
        raise CudaError("cudaErrorNoDevice: no CUDA-capable device is detected")

    assert compute.run("groupby", fast, lambda: "cpu result") == "cpu result"
    assert compute.run("groupby", fast, lambda: "cpu result") == "cpu result"
    [entry] = compute.fallbacks()
    assert (entry.operation, entry.count) == ("groupby", 2)
    assert "no CUDA-capable device" in str(entry)


def test_errors_that_are_not_about_the_gpu_are_reraised(compute_state, monkeypatch):
    compute = compute_state
    as_gpu(compute, monkeypatch)
    fast = ToyFast(error=ValueError("n_components must be <= n_features"))
    proxy = compute.FastSlowProxy("Toy", lambda: fast, ToySlow)
    proxy.fit([1.0, 2.0])
    with pytest.raises(ValueError, match="n_components"):
        proxy.transform([1.0])
    assert proxy.backend == "gpu" and compute.fallbacks() == []

    def buggy():
        raise RuntimeError("dictionary changed size during iteration")

    with pytest.raises(RuntimeError, match="dictionary changed size"):
        compute.run("op", buggy, lambda: "slow")


def test_strict_mode_raises_instead_of_falling_back(compute_state, monkeypatch):
    compute = compute_state
    as_gpu(compute, monkeypatch)
    monkeypatch.setenv("MLAAS_STRICT_GPU", "1")
    proxy = compute.FastSlowProxy("Toy", ToyFast, ToySlow)
    proxy.fit([1.0])
    with pytest.raises(compute.StrictGPUError, match="'Toy.transform' would fall back"):
        proxy.transform([1.0])
    assert compute.fallbacks() == []


def test_an_import_error_on_the_fast_path_falls_back(compute_state, monkeypatch):
    compute = compute_state
    as_gpu(compute, monkeypatch)

    def fast():
        import cuml_does_not_exist  # noqa: F401

    assert compute.FastSlowProxy("Toy", fast, ToySlow).backend == "cpu"
    assert "ModuleNotFoundError" in compute.fallbacks()[0].reason


@needs_no_gpu
def test_cpu_machine_records_every_fallback_with_the_reason(compute_state):
    compute = compute_state
    info = compute.detect(refresh=True)
    assert info.kind == "cpu" and "no usable NVIDIA GPU" in info.reason
    pca = compute.estimator("PCA", n_components=2, random_state=0)
    assert pca.backend == "cpu"
    import numpy as np

    out = pca.fit_transform(np.random.default_rng(0).normal(size=(20, 5)))
    assert out.shape == (20, 2)
    assert pca.wrapped.__class__.__module__.startswith("sklearn")
    assert compute.array_module().__name__ == "numpy"
    assert compute.dataframe().__name__ == "pandas"
    assert [f.operation for f in compute.fallbacks()] == ["PCA", "arrays", "dataframe"]
    assert all(info.reason == f.reason for f in compute.fallbacks())


@needs_no_gpu
def test_gpu_requested_without_one_is_a_clear_error(compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setenv("MLAAS_DEVICE", "gpu")
    with pytest.raises(compute.GPUUnavailableError, match="MLAAS_DEVICE=gpu, but no usable NVIDIA GPU"):
        compute.detect(refresh=True)


def test_device_cpu_and_bad_values(compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setenv("MLAAS_DEVICE", "cpu")
    assert compute.detect(refresh=True).reason == "MLAAS_DEVICE=cpu asks for the CPU"
    monkeypatch.setenv("MLAAS_DEVICE", "tpu")
    with pytest.raises(ValueError, match="MLAAS_DEVICE='tpu' is not valid; use one of auto, gpu, cpu"):
        compute.detect(refresh=True)


def test_unknown_estimator_lists_the_valid_names(compute_state):
    with pytest.raises(LookupError, match=r"unknown estimator 'PCAA'; valid names: KMeans, .*PCA.*TSNE"):
        compute_state.estimator("PCAA")
    assert {"PCA", "TruncatedSVD", "KMeans", "NearestNeighbors", "LogisticRegression", "RandomForestClassifier", "TSNE", "UMAP"} <= set(
        compute_state.estimator_names()
    )


def test_torch_device_on_this_machine(compute_state):
    torch = pytest.importorskip("torch")
    dev = compute_state.torch_device()
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not _compute_module.detect(refresh=True).is_gpu, reason="needs an NVIDIA GPU")
def test_strict_mode_proves_the_gpu_paths_run(compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setenv("MLAAS_STRICT_GPU", "1")
    assert compute.array_module().__name__ == "cupy"
    assert compute.torch_device().type == "cuda"


def test_a_device_mismatch_is_a_bug_not_a_fallback(compute_state, monkeypatch):
    """A RuntimeError that merely mentions CUDA (a tensor on the wrong device) is raised, not hidden on the CPU."""
    compute = compute_state
    as_gpu(compute, monkeypatch)

    def mismatch():
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!")

    with pytest.raises(RuntimeError, match="same device"):
        compute.run("op", mismatch, lambda: "slow")
    with pytest.raises(RuntimeError, match="GPU kernel"):
        compute.run("op", lambda: (_ for _ in ()).throw(RuntimeError("bad shape in my GPU kernel wrapper")), lambda: "slow")
    assert compute.fallbacks() == []

    def no_driver():
        raise RuntimeError("Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver")

    assert compute.run("op", no_driver, lambda: "slow") == "slow"
    assert [f.operation for f in compute.fallbacks()] == ["op"]


def test_device_gpu_never_falls_back_silently(compute_state, monkeypatch):
    """MLAAS_DEVICE=gpu demands the GPU: an operation that would move to the CPU raises, strict or not."""
    compute = compute_state
    as_gpu(compute, monkeypatch)
    monkeypatch.setenv("MLAAS_DEVICE", "gpu")
    assert compute.strict()
    proxy = compute.FastSlowProxy("Toy", ToyFast, ToySlow)
    proxy.fit([1.0])
    with pytest.raises(compute.StrictGPUError, match="MLAAS_DEVICE=gpu demands the GPU and 'Toy.transform' would fall back"):
        proxy.transform([1.0])
    with pytest.raises(compute.StrictGPUError, match="'nogpu' would fall back"):
        compute.run("nogpu", None, lambda: "slow")
    assert compute.fallbacks() == []
    monkeypatch.setenv("MLAAS_DEVICE", "auto")
    assert not compute.strict()
