"""GPU or CPU: one decision, one fallback mechanism, every fallback recorded.

The decision follows ``MLAAS_DEVICE`` (``auto``, ``gpu`` or ``cpu``). A GPU is usable when
CuPy counts a device or ``torch.cuda.is_available()``; "the import worked" is never the test,
since ``import cudf`` succeeds on machines without one.

Every operation that has a GPU path goes through :func:`run` or a :class:`FastSlowProxy`:
the fast (GPU) path is tried, an error that means "no GPU here" moves the work to the slow
(CPU) path and is recorded in :func:`fallbacks`, and any other error is re-raised.
``MLAAS_STRICT_GPU=1`` raises instead of falling back, which is how tests prove a GPU ran.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from ._registry import Registry

T = TypeVar("T")

__all__ = [
    "DeviceInfo",
    "Fallback",
    "FallbackLog",
    "FastSlowProxy",
    "GPUUnavailableError",
    "StrictGPUError",
    "array_module",
    "cudf_pandas_active",
    "backends",
    "dataframe",
    "detect",
    "estimator",
    "estimator_names",
    "fallbacks",
    "is_gpu_unavailable",
    "run",
    "strict",
    "torch_device",
]

DEVICE_CHOICES = ("auto", "gpu", "cpu")
# Modules whose RuntimeError / MemoryError mean "the GPU path cannot run here".
_GPU_MODULE_PREFIXES = ("cupy", "cupy_backends", "cudf", "cuml", "rmm", "cuda", "numba.cuda", "pylibcudf")
# What a plain RuntimeError (torch raises those) says when there is no usable GPU. Only these
# phrases: a message that merely mentions "cuda" or "gpu" (a tensor on the wrong device, say)
# is a bug to show, not a reason to move to the CPU.
_NO_GPU_MESSAGES = (
    "no cuda-capable device is detected",
    "found no nvidia driver",
    "nvidia driver on your system is too old",
    "cuda driver version is insufficient",
    "torch not compiled with cuda enabled",
    "cudaerrornodevice",
    "cuda_error_no_device",
    "cudaerrorinsufficientdriver",
)


class GPUUnavailableError(RuntimeError):
    """A GPU was asked for (``MLAAS_DEVICE=gpu``) but none is usable."""


class StrictGPUError(RuntimeError):
    """``MLAAS_STRICT_GPU`` is set and an operation would have fallen back to the CPU."""


@dataclass(frozen=True)
class DeviceInfo:
    """Where work runs and why.

    ``kind`` is ``"gpu"`` or ``"cpu"``; ``reason`` says why (for the CPU: why no GPU);
    ``gpus`` names the devices found.
    """

    kind: str
    requested: str
    reason: str
    gpus: tuple[str, ...] = ()

    @property
    def is_gpu(self) -> bool:
        return self.kind == "gpu"


@dataclass
class Fallback:
    """One operation that ran on the CPU instead of the GPU."""

    operation: str
    reason: str
    count: int = 1
    first: float = field(default_factory=time.time)

    def __str__(self) -> str:
        times = f" ({self.count}x)" if self.count > 1 else ""
        return f"{self.operation}: {self.reason}{times}"


class FallbackLog:
    """The fallbacks of this process, one entry per (operation, reason)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], Fallback] = {}
        self._listeners: list[Callable[[Fallback], None]] = []

    def record(self, operation: str, reason: str) -> Fallback:
        with self._lock:
            key = (operation, reason)
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = Fallback(operation, reason)
            else:
                entry.count += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(entry)
        return entry

    def entries(self) -> list[Fallback]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda f: f.first)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def subscribe(self, listener: Callable[[Fallback], None]) -> Callable[[], None]:
        """Call ``listener(fallback)`` on each record; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def _unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return _unsubscribe


LOG = FallbackLog()
_detected: DeviceInfo | None = None
_detect_lock = threading.Lock()


def fallbacks() -> list[Fallback]:
    """The CPU fallbacks recorded in this process, oldest first."""
    return LOG.entries()


def strict() -> bool:
    """True when fallbacks raise: ``MLAAS_STRICT_GPU`` is set, or ``MLAAS_DEVICE=gpu`` demands the GPU."""
    return _strict_env() or os.environ.get("MLAAS_DEVICE", "").strip().lower() == "gpu"


def _strict_env() -> bool:
    return os.environ.get("MLAAS_STRICT_GPU", "").strip().lower() in ("1", "true", "yes", "on")


def _requested() -> str:
    value = os.environ.get("MLAAS_DEVICE", "auto").strip().lower() or "auto"
    if value not in DEVICE_CHOICES:
        raise ValueError(f"MLAAS_DEVICE={value!r} is not valid; use one of {', '.join(DEVICE_CHOICES)}")
    return value


def _probe_cupy() -> tuple[list[str], str]:
    try:
        import cupy
    except ImportError as exc:
        return [], f"CuPy is not installed ({exc.name or exc})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except RuntimeError as exc:  # CUDARuntimeError: no driver or no device
        return [], f"CuPy found no CUDA device ({exc})"
    names = []
    for i in range(n):
        props = cupy.cuda.runtime.getDeviceProperties(i)
        name = props.get("name", b"NVIDIA GPU")
        names.append(name.decode() if isinstance(name, bytes) else str(name))
    return names, "" if names else "CuPy counts 0 CUDA devices"


def _probe_torch() -> tuple[list[str], str]:
    try:
        import torch
    except ImportError:
        return [], "PyTorch is not installed"
    if not torch.cuda.is_available():
        built = torch.version.cuda
        return [], ("torch.cuda.is_available() is False" + ("" if built else " (a CPU build of PyTorch)"))
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())], ""


def detect(*, refresh: bool = False) -> DeviceInfo:
    """Decide once whether work runs on the GPU or the CPU (cached; ``refresh`` re-probes).

    Raises :class:`GPUUnavailableError` when ``MLAAS_DEVICE=gpu`` and no GPU is usable.
    """
    global _detected
    with _detect_lock:
        requested = _requested()
        if _detected is not None and not refresh and _detected.requested == requested:
            return _detected
        if requested == "cpu":
            info = DeviceInfo("cpu", requested, "MLAAS_DEVICE=cpu asks for the CPU")
        else:
            gpus, cupy_reason = _probe_cupy()
            torch_reason = ""
            if not gpus:
                gpus, torch_reason = _probe_torch()
            if gpus:
                info = DeviceInfo("gpu", requested, f"{len(gpus)} NVIDIA GPU(s) usable", tuple(gpus))
            else:
                reason = "no usable NVIDIA GPU: " + "; ".join(r for r in (cupy_reason, torch_reason) if r)
                if requested == "gpu":
                    raise GPUUnavailableError(f"MLAAS_DEVICE=gpu, but {reason}. Unset it or use MLAAS_DEVICE=cpu.")
                info = DeviceInfo("cpu", requested, reason)
        _detected = info
        return info


def is_gpu_unavailable(exc: BaseException) -> bool:
    """True for the errors that mean "the GPU path cannot run here".

    That is an ImportError, :class:`GPUUnavailableError`, a RuntimeError / MemoryError raised
    by a CUDA library (CuPy, cuDF, cuML, RMM, CUDA Python), or a RuntimeError whose message is
    one of the few that say "no device / no driver" (torch's). A ValueError from bad input, a
    device-mismatch RuntimeError, or any other RuntimeError is not one: those are re-raised.
    """
    if isinstance(exc, (ImportError, GPUUnavailableError)):
        return True
    if isinstance(exc, (RuntimeError, MemoryError)):
        module = type(exc).__module__ or ""
        if module.startswith(_GPU_MODULE_PREFIXES):
            return True
        message = str(exc).lower()
        return any(phrase in message for phrase in _NO_GPU_MESSAGES)
    return False


def _fall_back(operation: str, reason: str, log: FallbackLog | None) -> None:
    if strict():
        why = "MLAAS_STRICT_GPU is set" if _strict_env() else "MLAAS_DEVICE=gpu demands the GPU"
        raise StrictGPUError(f"{why} and {operation!r} would fall back to the CPU: {reason}")
    (log or LOG).record(operation, reason)


def run(operation: str, fast: Callable[[], T] | None, slow: Callable[[], T], *, log: FallbackLog | None = None) -> T:
    """Run ``fast()`` on the GPU when one is usable, else (or when it cannot run) ``slow()``.

    Parameters
    ----------
    operation:
        What is being done, as shown in the fallback list ("groupby", "PCA.fit").
    fast, slow:
        Zero-argument callables for the GPU and CPU paths; ``fast`` may be ``None``.
    log:
        Where fallbacks are recorded (the process-wide log by default).
    """
    info = detect()
    if fast is None:
        _fall_back(operation, "no GPU implementation", log)
        return slow()
    if not info.is_gpu:
        _fall_back(operation, info.reason, log)
        return slow()
    try:
        return fast()
    except BaseException as exc:
        if not is_gpu_unavailable(exc):
            raise
        _fall_back(operation, f"{type(exc).__name__}: {exc}", log)
    return slow()


_FIT_METHODS = ("fit", "partial_fit", "fit_transform", "fit_predict")


class FastSlowProxy:
    """One object over a fast (GPU) and a slow (CPU) implementation of the same API.

    Methods are called on the fast object while it works. When a call raises an error
    that means "no GPU here" (see :func:`is_gpu_unavailable`), the proxy switches to the
    slow object for good, replays the last fitting call on it so learned state is not
    lost, records the fallback, and returns the slow object's answer.

    Parameters
    ----------
    name:
        Shown in the fallback list (``"PCA"`` gives ``"PCA.fit"``).
    fast, slow:
        Zero-argument factories; ``fast`` may be ``None`` when there is no GPU version.
    """

    def __init__(self, name: str, fast: Callable[[], Any] | None, slow: Callable[[], Any], *, log: FallbackLog | None = None):
        self._name = name
        self._slow_factory = slow
        self._log = log
        self._last_fit: tuple[str, tuple, dict] | None = None
        self._obj: Any = None
        self._on_fast = False
        if fast is not None:
            info = detect()
            if info.is_gpu:
                try:
                    self._obj, self._on_fast = fast(), True
                except BaseException as exc:
                    if not is_gpu_unavailable(exc):
                        raise
                    _fall_back(f"{name}()", f"{type(exc).__name__}: {exc}", log)
            else:
                _fall_back(name, info.reason, log)
        else:
            _fall_back(name, "no GPU implementation", log)
        if self._obj is None:
            self._obj = slow()

    @property
    def backend(self) -> str:
        """``"gpu"`` or ``"cpu"``: where the next call runs."""
        return "gpu" if self._on_fast else "cpu"

    @property
    def wrapped(self) -> Any:
        """The object calls go to now."""
        return self._obj

    def _switch_to_slow(self, method: str, exc: BaseException) -> None:
        _fall_back(f"{self._name}.{method}", f"{type(exc).__name__}: {exc}", self._log)
        self._obj, self._on_fast = self._slow_factory(), False
        if self._last_fit is not None and method not in _FIT_METHODS:
            fit_name, args, kwargs = self._last_fit
            getattr(self._obj, fit_name)(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        value = getattr(self._obj, attr)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            if attr in _FIT_METHODS:
                self._last_fit = (attr, args, kwargs)
            if not self._on_fast:
                result = getattr(self._obj, attr)(*args, **kwargs)
            else:
                try:
                    result = getattr(self._obj, attr)(*args, **kwargs)
                except BaseException as exc:
                    if not is_gpu_unavailable(exc):
                        raise
                    self._switch_to_slow(attr, exc)
                    result = getattr(self._obj, attr)(*args, **kwargs)
            # scikit-learn's fit returns the estimator: hand back the proxy instead.
            return self if result is self._obj else result

        call.__name__ = attr
        return call

    def __repr__(self) -> str:
        return f"<{self._name} on {self.backend}: {self._obj!r}>"

    # Pickling keeps the fitted object; the factories (closures) stay behind, so a proxy loaded
    # from disk runs where it was fitted and raises instead of falling back.
    def __getstate__(self) -> dict:
        return {"name": self._name, "obj": self._obj, "on_fast": self._on_fast}

    def __setstate__(self, state: dict) -> None:
        self._name, self._obj, self._on_fast = state["name"], state["obj"], state["on_fast"]
        self._log, self._last_fit = None, None

        def no_slow_path():
            raise RuntimeError(f"{self._name} was loaded from a pickle: it cannot move to the CPU")

        self._slow_factory = no_slow_path


# name -> (GPU "module:Class", CPU "module:Class", extra GPU keyword arguments)
ESTIMATORS: Registry[tuple[str | None, str, dict]] = Registry("estimator", entry_point_group="mlaas.estimators")
_GPU_KW = {"output_type": "numpy"}
for _name, _gpu, _cpu in [
    ("PCA", "cuml.decomposition:PCA", "sklearn.decomposition:PCA"),
    ("TruncatedSVD", "cuml.decomposition:TruncatedSVD", "sklearn.decomposition:TruncatedSVD"),
    ("KMeans", "cuml.cluster:KMeans", "sklearn.cluster:KMeans"),
    ("NearestNeighbors", "cuml.neighbors:NearestNeighbors", "sklearn.neighbors:NearestNeighbors"),
    ("LogisticRegression", "cuml.linear_model:LogisticRegression", "sklearn.linear_model:LogisticRegression"),
    ("RandomForestClassifier", "cuml.ensemble:RandomForestClassifier", "sklearn.ensemble:RandomForestClassifier"),
    ("RandomForestRegressor", "cuml.ensemble:RandomForestRegressor", "sklearn.ensemble:RandomForestRegressor"),
    ("TSNE", "cuml.manifold:TSNE", "sklearn.manifold:TSNE"),
    ("UMAP", "cuml.manifold:UMAP", "umap:UMAP"),
]:
    ESTIMATORS.register(_name, (_gpu, _cpu, _GPU_KW))


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def estimator_names() -> list[str]:
    """Names accepted by :func:`estimator`."""
    return ESTIMATORS.names()


def estimator(name: str, /, **params: Any) -> FastSlowProxy:
    """An estimator by name: cuML's on a GPU, scikit-learn's otherwise, behind one proxy.

    ``params`` go to the constructor of both. An unknown name raises an error listing the
    valid ones. ``random_state`` is dropped for cuML estimators that do not take it.
    """
    gpu_path, cpu_path, gpu_kw = ESTIMATORS.get(name)

    def slow() -> Any:
        try:
            cls = _load(cpu_path)
        except ImportError as exc:
            raise ImportError(f"{name} on the CPU needs {cpu_path.split(':')[0].split('.')[0]!r}: pip install it ({exc})") from exc
        return cls(**params)

    def fast() -> Any:
        import inspect

        cls = _load(gpu_path)  # type: ignore[arg-type]
        accepted = inspect.signature(cls).parameters
        kw = {k: v for k, v in {**params, **gpu_kw}.items() if k in accepted or "kwargs" in accepted}
        return cls(**kw)

    return FastSlowProxy(name, fast if gpu_path else None, slow)


_cudf_pandas_installed = False


def cudf_pandas_active() -> bool:
    """True once :func:`dataframe` has installed cudf.pandas in this process (pandas calls then run on the GPU)."""
    return _cudf_pandas_installed


def dataframe() -> Any:
    """The pandas module: accelerated by cudf.pandas on a GPU, plain pandas otherwise.

    On a GPU this calls ``cudf.pandas.install()``; call it before anything imports pandas
    (first cell of a notebook), or the plain pandas already loaded stays in use, and that is
    recorded as a fallback.
    """
    import sys

    def fast() -> Any:
        global _cudf_pandas_installed
        if "pandas" in sys.modules and not _cudf_pandas_installed:
            raise GPUUnavailableError("pandas was imported before cudf.pandas could be installed; call compute.dataframe() first")
        import cudf.pandas

        if not _cudf_pandas_installed:
            cudf.pandas.install()
            _cudf_pandas_installed = True
        return importlib.import_module("pandas")

    return run("dataframe", fast, lambda: importlib.import_module("pandas"))


def array_module() -> Any:
    """CuPy on a GPU, NumPy otherwise."""

    def fast() -> Any:
        import cupy

        cupy.zeros(1).sum()  # the first GPU operation is where "no device" shows
        return cupy

    return run("arrays", fast, lambda: importlib.import_module("numpy"))


def torch_device() -> Any:
    """``torch.device("cuda")`` on a GPU, ``torch.device("cpu")`` otherwise (imports torch)."""
    import torch

    def fast() -> Any:
        if not torch.cuda.is_available():
            raise GPUUnavailableError("torch.cuda.is_available() is False")
        return torch.device("cuda")

    return run("torch", fast, lambda: torch.device("cpu"))


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def backends() -> dict[str, str]:
    """Which library each area uses on this machine, without running anything on a GPU."""
    info = detect()
    gpu = info.is_gpu

    def pick(area_gpu: str, gpu_dist: str, area_cpu: str, cpu_dist: str) -> str:
        if gpu and _version(gpu_dist):
            return f"{area_gpu} {_version(gpu_dist)}"
        why = "no usable GPU (see device)" if not gpu else f"{gpu_dist} is not installed"
        cpu_version = _version(cpu_dist) or "not installed"
        return f"{area_cpu} {cpu_version} (CPU fallback: {why})"

    torch_version = _version("torch")
    if torch_version is None:
        torch_line = "PyTorch is not installed"
    elif "+cpu" in torch_version:
        torch_line = f"torch {torch_version} on cpu (CPU fallback: a CPU build of PyTorch)"
    else:
        torch_line = f"torch {torch_version} on " + ("cuda" if gpu else "cpu (CPU fallback: no usable GPU, see device)")
    return {
        "dataframes": pick("cudf.pandas", "cudf-cu12", "pandas", "pandas"),
        "estimators": pick("cuML", "cuml-cu12", "scikit-learn", "scikit-learn"),
        "arrays": pick("CuPy", "cupy-cuda12x", "NumPy", "numpy"),
        "torch": torch_line,
    }
