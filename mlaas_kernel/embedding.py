"""An unsupervised embedding of a dataset (PCA, then UMAP), computed once in the background and cached.

UMAP to 10 dimensions of the 10,000 MNIST test digits takes a minute or more on two CPU cores,
so :class:`BackgroundEmbedding` runs it in a child process at low priority and never makes
its caller wait. A child process rather than a thread: UMAP's numba compilation and its
pure-Python stretches hold the interpreter lock for seconds at a time, which would freeze
the kernel thread that answers the labeler's key presses (``bench/label_active.py --gil``
measures both). The result is cached beside the dataset as
``datasets/<name>/embedding-umap-<key>.npy`` (written atomically), where the key hashes
the images' content, the parameters and :data:`FORMAT`: a changed dataset or parameter
computes a new one, and the same ones are read back in milliseconds.

>>> emb = BackgroundEmbedding.for_dataset(data.load("mnist")).start()
>>> emb.state, emb.describe()          # "computing", then "ready"
>>> emb.rows([0, 5, 7])                # None until ready
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from . import compute
from ._atomic import atomic_write

__all__ = ["BackgroundEmbedding", "FORMAT", "UMAPParams", "array_digest", "embed"]

FORMAT = 1  # bump when embed() changes what it computes: old caches are then ignored
METRICS = ("euclidean", "cosine", "manhattan", "correlation")  # understood by umap-learn and cuML alike


@dataclass(frozen=True)
class UMAPParams:
    """What :func:`embed` computes: PCA to ``pca_components``, then UMAP to ``n_components``.

    ``min_dist=0`` packs clusters tightly (UMAP's advice for clustering rather than plotting);
    ``random_state`` makes the result reproducible (umap-learn then runs on one thread);
    ``deskew`` straightens single-channel images first (:func:`deskew`), which helps handwriting.
    Measured on the MNIST test set (``bench/label_active.py``): deskewing and the cosine metric
    each made label spreading over the embedding more accurate, most with few labels.
    """

    n_components: int = 10
    n_neighbors: int = 15
    min_dist: float = 0.0
    pca_components: int = 50
    random_state: int = 0
    deskew: bool = False
    metric: str = "cosine"

    def __post_init__(self):
        for name in ("n_components", "n_neighbors", "pca_components"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"UMAPParams.{name} must be a positive integer, got {value!r}")
        if not 0.0 <= float(self.min_dist) <= 1.0:
            raise ValueError(f"UMAPParams.min_dist must lie in [0, 1], got {self.min_dist!r}")
        if self.metric not in METRICS:
            raise ValueError(f"UMAPParams.metric must be one of {', '.join(METRICS)}, got {self.metric!r}")

    @classmethod
    def for_images(cls, shape: Sequence[int], **overrides) -> "UMAPParams":
        """The defaults for images of ``shape`` (N, H, W[, C]): single-channel ones are deskewed."""
        single = len(shape) == 3 or (len(shape) == 4 and shape[-1] == 1)
        return cls(**{"deskew": single, **overrides})

    def key(self, content: str) -> str:
        """A short hash of ``content`` (the input's digest), these parameters and :data:`FORMAT`."""
        blob = json.dumps({"content": content, "format": FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def array_digest(x) -> str:
    """sha256 of an array's shape, dtype and bytes: the cache key of data that is not a dataset."""
    import numpy as np

    x = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{x.shape}|{x.dtype.str}|".encode())
    h.update(memoryview(x).cast("B"))
    return h.hexdigest()


def deskew(images) -> Any:
    """Single-channel images (N, H, W) sheared so that each one's principal axis stands upright.

    The shear comes from each image's second moments, as in the classical preprocessing of
    handwritten digits (LeCun et al., 1998): it removes slant, the largest nuisance there.
    Returns float32 in the input's scale.
    """
    import numpy as np
    from scipy import ndimage

    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"deskew needs single-channel images (N, H, W), got shape {x.shape}")
    n, h, w = x.shape
    r, c = np.mgrid[:h, :w].astype(np.float32)
    total = x.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    mr = (x * r).sum(axis=(1, 2)) / safe
    mc = (x * c).sum(axis=(1, 2)) / safe
    var_r = (x * (r - mr[:, None, None]) ** 2).sum(axis=(1, 2)) / safe
    cov = (x * (r - mr[:, None, None]) * (c - mc[:, None, None])).sum(axis=(1, 2)) / safe
    alpha = np.where(var_r > 0, cov / np.where(var_r > 0, var_r, 1.0), 0.0)
    out = np.empty_like(x)
    middle = np.array([h / 2 - 0.5, w / 2 - 0.5])
    for i in range(n):
        matrix = np.array([[1.0, 0.0], [alpha[i], 1.0]])
        offset = np.array([mr[i], mc[i]]) - matrix @ middle  # also centres the image's mass
        out[i] = ndimage.affine_transform(x[i], matrix, offset=offset, order=1) if total[i] > 0 else x[i]
    return out


def embed(x, params: UMAPParams = UMAPParams()) -> Any:
    """Rows of ``x`` (images or features; flattened, uint8 scaled to [0, 1]) to a ``params.n_components`` embedding.

    Both steps go through :func:`mlaas_kernel.compute.estimator`: cuML on a GPU, scikit-learn
    and umap-learn otherwise. Returns float32, one row per input row.
    """
    return _embed(x, params)[0]


def _embed(x, params: UMAPParams) -> tuple[Any, str]:
    import numpy as np

    x = np.asarray(x)
    if x.ndim < 2 or len(x) < 3:
        raise ValueError(f"embed needs at least 3 rows of features or images, got an array of shape {x.shape}")
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    if params.deskew:
        x = deskew(x.reshape(x.shape[:3]) if x.ndim == 4 and x.shape[-1] == 1 else x)
    flat = x.reshape(len(x), -1).astype(np.float32) / scale
    k = min(params.pca_components, flat.shape[1], len(flat) - 1)
    reduced = np.asarray(compute.estimator("PCA", n_components=k, random_state=params.random_state).fit_transform(flat), dtype=np.float32)
    umap = compute.estimator("UMAP", n_components=min(params.n_components, len(x) - 2), n_neighbors=min(params.n_neighbors, len(x) - 1),
                             min_dist=params.min_dist, metric=params.metric, random_state=params.random_state)
    out = np.asarray(umap.fit_transform(reduced), dtype=np.float32)
    return out, umap.backend


def _save_npy(path: Path, array) -> Path:
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # np.save(path) would append ".npy" to the temporary name
            np.save(f, array)

    return atomic_write(path, write)


_SHARED: dict[Path, "BackgroundEmbedding"] = {}  # one child per cache file in this process
_SHARED_LOCK = threading.Lock()


class BackgroundEmbedding:
    """One embedding of one input, read from its cache or computed in a child process.

    :meth:`for_dataset` and :meth:`for_array` hand out one shared instance per cache file in a
    process (while it is computing or ready), so two learners on one dataset start one child.

    ``state`` is ``"idle"`` (not started), ``"computing"``, ``"ready"`` or ``"failed"`` (then
    ``error`` says why). Nothing here blocks but :meth:`wait`. Callbacks in ``on_ready`` run
    once, on a watcher thread, when the embedding is ready (or failed); :meth:`subscribe`
    also runs one at once when that already happened.

    Parameters
    ----------
    source:
        A ``.npy`` file with one row per item (images or features).
    content:
        A digest of the source's content (the cache key's input).
    cache_dir:
        Where ``embedding-umap-<key>.npy`` (and a ``.json`` beside it) are kept.
    params:
        :class:`UMAPParams`.
    """

    def __init__(self, source: str | os.PathLike, *, content: str, cache_dir: str | os.PathLike, params: UMAPParams | None = None,
                 remove_source: bool = False):
        self.source, self.content = Path(source), content
        self.params = params or UMAPParams()
        self.path = Path(cache_dir) / f"embedding-umap-{self.params.key(content)}.npy"
        self.info_path = self.path.with_suffix(".json")
        self.value = None
        self.error: str | None = None
        self.info: dict = {}
        self.on_ready: list[Callable[["BackgroundEmbedding"], None]] = []
        self._remove_source = remove_source
        self._state = "idle"
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._finished = False
        self._proc: subprocess.Popen | None = None
        self._closed = False

    # ------------------------------------------------------------ constructors
    @classmethod
    def for_dataset(cls, dataset, *, params: UMAPParams | None = None) -> "BackgroundEmbedding":
        """The embedding of an image dataset of the workspace (:class:`mlaas_kernel.data.Dataset`), cached in its folder.

        ``params`` default to :meth:`UMAPParams.for_images` of the dataset's image shape.
        """
        from .data import DataError, file_digest

        if dataset.kind != "images":
            raise DataError(f"dataset {dataset.name!r} is a {dataset.kind} dataset: only image datasets are embedded")
        source = dataset.path / "images.npy"
        if params is None:
            params = UMAPParams.for_images(dataset.manifest.get("image_shape") or dataset.images().shape)
        digest = (dataset.manifest.get("outputs") or {}).get("images.npy") or file_digest(source)
        return cls._shared(cls(source, content=f"images:{digest}", cache_dir=dataset.path, params=params))

    @classmethod
    def for_array(cls, x, *, cache_dir: str | os.PathLike, params: UMAPParams | None = None) -> "BackgroundEmbedding":
        """The embedding of an in-memory array (one row per item), cached in ``cache_dir``."""
        import numpy as np

        x = np.asarray(x)
        digest = array_digest(x)
        emb = cls._shared(cls(Path(cache_dir) / f".embedding-input-{digest[:16]}.npy", content=f"array:{digest}", cache_dir=cache_dir,
                              params=params, remove_source=True))
        if emb.state == "idle" and not emb.path.is_file():
            _save_npy(emb.source, x)
        return emb

    @staticmethod
    def _shared(new: "BackgroundEmbedding") -> "BackgroundEmbedding":
        with _SHARED_LOCK:
            old = _SHARED.get(new.path)
            if old is not None and old.state in ("idle", "computing", "ready") and not old._closed:
                return old
            _SHARED[new.path] = new
            return new

    # ------------------------------------------------------------ state
    @property
    def state(self) -> str:
        return self._state

    @property
    def ready(self) -> bool:
        return self._state == "ready"

    @property
    def pid(self) -> int | None:
        """The child process's id while one was started (None when the cache was read)."""
        return None if self._proc is None else self._proc.pid

    def describe(self) -> str:
        """One line for people: what this is and where it stands."""
        what = f"UMAP embedding ({self.params.n_components} dims)"
        if self._state == "ready":
            how = self.info.get("backend", "")
            took = self.info.get("seconds")
            return f"{what} ready" + (f" ({how}, computed in {took:.0f} s)" if took is not None else "")
        if self._state == "failed":
            return f"{what} failed: {self.error}"
        return f"{what} {self._state}"

    def rows(self, items: Sequence[int]):
        """The embedding's rows for ``items`` (row positions of the input), or None until ready."""
        import numpy as np

        value = self.value
        return None if value is None else value[np.asarray(items, dtype=np.int64)]

    # ------------------------------------------------------------ work
    def start(self) -> "BackgroundEmbedding":
        """Read the cache, or start the child process that computes it; returns at once."""
        with self._lock:
            if self._state != "idle":
                return self
            self._state = "computing"
        if self._load_cached():
            self._finish()
            return self
        cmd = [sys.executable, "-m", "mlaas_kernel.embedding", str(self.source), str(self.path), "--params", json.dumps(asdict(self.params))]
        env = dict(os.environ)  # the child imports this very package, installed or not
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH")) if p)
        try:
            # The child's stdin is a pipe we never write to: when this process ends, however it
            # ends (SIGKILL included), the child reads end-of-file and stops (see _exit_with_parent).
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        except OSError as exc:
            self._fail(f"could not start the embedding process: {exc}")
            return self
        threading.Thread(target=self._watch, name="mlaas-embedding", daemon=True).start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ready or failed (scripts and tests; never from the UI); True when ready."""
        self._done.wait(timeout)
        return self.ready

    def subscribe(self, callback: Callable[["BackgroundEmbedding"], None]) -> None:
        """Call ``callback(self)`` when the embedding is ready or failed (now, if it already is)."""
        with self._lock:
            finished = self._finished
            if not finished:
                self.on_ready.append(callback)
        if finished:
            callback(self)

    def close(self) -> None:
        """Stop the child process if it still runs."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def _load_cached(self) -> bool:
        import numpy as np

        if not self.path.is_file():
            return False
        try:
            self.value = np.load(self.path)
        except (OSError, ValueError):
            return False  # unreadable: compute it again (the rename makes a torn file unlikely)
        try:
            self.info = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            self.info = {}
        return True

    def _watch(self) -> None:
        proc = self._proc
        assert proc is not None
        err = proc.stderr.read()  # not communicate(): that would close the child's stdin, its lifeline
        proc.wait()
        if self._remove_source:
            self.source.unlink(missing_ok=True)
        if proc.returncode == 0 and self._load_cached():
            for fb in self.info.get("fallbacks", []):  # the child's CPU fallbacks, visible where the user looks
                compute.LOG.record(f"{fb['operation']} (embedding process)", fb["reason"])
            self._finish()
        elif self._closed:
            self._fail("stopped")
        else:
            lines = [line for line in (err or "").strip().splitlines() if line.strip()]
            self._fail(lines[-1] if lines else f"the embedding process exited with status {proc.returncode}")

    def _fail(self, message: str) -> None:
        self.error = message
        self._finish("failed")

    def _finish(self, state: str = "ready") -> None:
        with self._lock:
            self._state, self._finished = state, True
            callbacks, self.on_ready = list(self.on_ready), []
        try:
            for callback in callbacks:
                callback(self)
        finally:
            self._done.set()  # after the callbacks: wait() then sees what they started

    def __repr__(self) -> str:
        return f"<BackgroundEmbedding {self.path.name}: {self._state}>"


def _exit_with_parent() -> None:
    """Stop this child when the process that started it is gone (its end of our stdin closes),
    so a killed or finished kernel leaves no UMAP running at full CPU."""

    def watch() -> None:
        try:
            while sys.stdin.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(3)

    threading.Thread(target=watch, name="mlaas-embedding-parent", daemon=True).start()


def _main(argv=None) -> int:
    """The child process: embed SOURCE.npy into OUTPUT.npy (and OUTPUT.json), at low priority."""
    import numpy as np

    parser = argparse.ArgumentParser(prog="python -m mlaas_kernel.embedding", description=_main.__doc__)
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--params", default="{}", help="UMAPParams as JSON")
    args = parser.parse_args(argv)
    _exit_with_parent()
    try:
        os.nice(10)  # the kernel serving the UI keeps the CPU when both want it
    except (AttributeError, OSError):
        pass
    params = UMAPParams(**json.loads(args.params))
    started = time.perf_counter()
    value, backend = _embed(np.load(args.source, mmap_mode="r"), params)
    seconds = time.perf_counter() - started
    out = Path(args.output)
    info = {"params": asdict(params), "backend": backend, "seconds": round(seconds, 2), "rows": int(len(value)), "format": FORMAT,
            "fallbacks": [{"operation": f.operation, "reason": f.reason} for f in compute.fallbacks()]}
    atomic_write(out.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(info, indent=1)))
    _save_npy(out, value)  # last: its presence means "ready"
    return 0


if __name__ == "__main__":
    sys.exit(_main())
