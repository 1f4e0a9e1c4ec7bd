"""``create_app``: the ASGI app for a bundle folder or ``NAME@ALIAS``: body limit → fast path → FastAPI.

The fast path answers ``POST /predict`` and ``POST /v2/models/{name}/infer`` straight from ASGI
messages (the same coroutines the FastAPI routes call), skipping FastAPI's routing and request
objects on the hot routes; everything else, and the OpenAPI schema, is FastAPI's.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from . import _v2
from ._core import JSON, Served
from ._endpoints import split_ref
from ._follow import Follower, ModelSlot, cached_bundle, load_version, resolve_version, write_pointer
from ._limits import DEFAULT_MAX_BODY, BodyLimit
from ._predictor import OnnxPredictor
from ._recalibrate import calibration_changed

__all__ = ["create_app", "initial_predictor"]


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FastPath:
    """ASGI: the two hot POST routes answered directly; any other request goes to ``app``."""

    def __init__(self, app, served: Served):
        self.app = app
        self.served = served

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path == "/predict":
                return await self._send(send, await self.served.predict(await _read_body(receive), scope["query_string"]))
            if path.startswith("/v2/models/") and path.endswith("/infer") and path.count("/") == 4:
                name = path[len("/v2/models/"):-len("/infer")]
                header = next((v.decode() for k, v in scope["headers"] if k == b"inference-header-content-length"), None)
                return await self._send(send, await self.served.infer(name, await _read_body(receive), header))
        return await self.app(scope, receive, send)

    @staticmethod
    async def _send(send, answer) -> None:
        status, body, extra = answer
        headers = [*extra] if any(k == b"content-type" for k, _ in extra) else [JSON, *extra]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def initial_predictor(source, *, workspace_dir=None, threads=None) -> tuple[OnnxPredictor, str | None, bool]:
    """``(predictor, ref or None, started from the cache)`` for a bundle folder or a reference.

    A reference whose last-served bundle is cached starts from it (no MLflow import); the
    follower then confirms the alias. Otherwise, or when the run's conformal calibration changed
    since that bundle was served (``mlaas conformal RUN``), the alias is resolved and its bundle fetched.
    """
    path = Path(str(source))
    if (path / "model.onnx").is_file():
        return OnnxPredictor(path, threads=threads), None, False
    ref = str(source)
    cached = cached_bundle(ref, workspace_dir=workspace_dir)
    if cached is not None:
        predictor = OnnxPredictor(cached, threads=threads)
        if calibration_changed(predictor, workspace_dir=workspace_dir) is not True:
            return predictor, ref, True
    found = resolve_version(ref, workspace_dir=workspace_dir)
    predictor = load_version(found, workspace_dir=workspace_dir, threads=threads)
    write_pointer(ref, predictor, workspace_dir=workspace_dir)
    return predictor, ref, False


def create_app(source, *, follow: bool = True, interval: float = 0.5, max_batch: int = 64, max_wait: float = 0.0,
               in_thread: bool = True, fast_path: bool = True, max_body: int = DEFAULT_MAX_BODY, threads: int | None = None,
               workspace_dir=None, on_swap=None, on_start=None, on_stop=None, freeze_gc: bool = True):
    """The ASGI app serving ``source``: a bundle folder, an :class:`OnnxPredictor`, or ``NAME@ALIAS`` / ``NAME/VERSION``.

    A reference with an alias (or a bare NAME, meaning ``NAME@champion``) is followed (``follow``; polled every ``interval`` s, swapped when it
    moves). ``max_batch``/``max_wait``: micro-batching; ``in_thread``: run the model in a worker
    thread; ``fast_path``: answer the hot routes below FastAPI; ``max_body``: the 413 limit in
    bytes; ``threads``: ONNX Runtime's intra-op threads. ``on_swap(predictor)``, ``on_start(served)``,
    ``on_stop(served)``: hooks for the CLI (the running-endpoint file). ``freeze_gc``: move what is
    loaded at start out of the garbage collector's generations (``gc.freeze``), which keeps the
    collector's full passes short under load.
    """
    from ._routes import build_fastapi

    if isinstance(source, OnnxPredictor):
        predictor, ref = source, None
    else:
        predictor, ref, _ = initial_predictor(source, workspace_dir=workspace_dir, threads=threads)
    served = Served(ModelSlot(predictor), ref=ref, max_batch=max_batch, max_wait=max_wait, in_thread=in_thread, max_body=max_body)
    if ref is not None and follow and split_ref(ref)[1] is not None:  # NAME@ALIAS, and NAME (= NAME@champion)
        served.follower = Follower(ref, served.slot, interval=interval, workspace_dir=workspace_dir, threads=threads, on_swap=on_swap)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if freeze_gc:
            import gc

            gc.collect()
            gc.freeze()  # the imported libraries' objects leave the collector's view: full collections stay short
        if on_start is not None:
            on_start(served)
        if served.follower is not None:  # after the start is announced: its first MLflow import would slow it
            served.follower.start()
        try:
            yield
        finally:
            if served.follower is not None:
                served.follower.stop()
            served.batcher.close()
            if on_stop is not None:
                on_stop(served)

    app = build_fastapi(served, lifespan=lifespan)
    inner = FastPath(app, served) if fast_path else app
    outer = BodyLimit(inner, max_body=max_body)
    outer.served = served  # for tests and the CLI
    outer.fastapi = app
    return outer
