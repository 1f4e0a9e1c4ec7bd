"""What the endpoint serves, and its hot paths as plain coroutines (body bytes in, status + body bytes out).

Both the FastAPI routes and the ASGI fast path call :meth:`Served.predict` and :meth:`Served.infer`.
"""

from __future__ import annotations

import sys
import time
import traceback

import numpy as np

from ._batcher import MicroBatcher
from ._errors import ServeInputError
from ._handlers import batch_of, error_body, parse_body, predictions_body, query_significance, sets_note
from . import _v2

__all__ = ["Served", "JSON", "Answer"]

JSON = (b"content-type", b"application/json")
Answer = tuple  # (status, body bytes, extra headers)


class Served:
    """The slot, its batcher, and what ``/metadata`` says about how it is served (``ref``, following)."""

    def __init__(self, slot, *, ref: str | None = None, max_batch: int = 64, max_wait: float = 0.0, in_thread: bool = True,
                 max_body: int):
        self.slot = slot
        self.ref = ref
        self.batcher = MicroBatcher(slot, max_batch=max_batch, max_wait=max_wait, in_thread=in_thread)
        self.max_body = max_body
        self.started = time.time()
        self.follower = None

    @property
    def predictor(self):
        return self.slot.predictor

    def metadata(self) -> dict:
        p = self.predictor
        meta = dict(p.metadata)
        if isinstance(meta.get("conformal"), dict):  # the calibration scores themselves are not metadata
            c = meta["conformal"]
            meta["conformal"] = {k: v for k, v in c.items() if k not in ("calibration_scores", "calibration_labels")}
            meta["conformal"]["n_calibration"] = len(c.get("calibration_scores") or ())
        elif p.task == "classification":
            meta["notes"] = {"sets": sets_note(p)}
        return {**meta, "name": p.name, "version": p.version, "input_name": p.input_name, "output": p.output_names[0],
                "serving": {"ref": self.ref, "follows_alias": self.follower is not None, "max_batch": self.batcher.max_batch,
                            "max_body_bytes": self.max_body, "batches": self.batcher.batches, "items": self.batcher.items,
                            "versions_served": [v for _, v in self.slot.history],
                            **({"alias_checks": self.follower.checks, "alias_polls_unchanged": self.follower.skipped}
                               if self.follower is not None else {})}}

    async def _guarded(self, work) -> Answer:
        try:
            return await work()
        except ServeInputError as exc:
            return exc.status, error_body(str(exc)), ()
        except Exception as exc:  # a bug: said as JSON with its type, the traceback to the server's log
            traceback.print_exc(file=sys.stderr)
            return 500, error_body(f"internal error ({type(exc).__name__}): {exc}"), ()

    async def predict(self, body: bytes, query: bytes) -> Answer:
        """``POST /predict``: ``{"instances": [...]}`` → predictions with the version that answered."""
        async def work():
            payload = parse_body(body)
            level = query_significance(query, payload)
            notes = {}
            x = batch_of(payload, self.predictor, notes)
            out, sets, predictor = await self.batcher.submit(x)
            return 200, predictions_body(predictor, out, level, sets=sets, notes=notes), ()
        return await self._guarded(work)

    async def predict_images(self, files: list[tuple[str, bytes]], query: bytes) -> Answer:
        """``POST /predict/image``: uploaded PNG/JPEG files → one prediction per file."""
        async def work():
            if not files:
                raise ServeInputError("files: no image in the upload; send one or more PNG/JPEG files as multipart/form-data")
            level = query_significance(query)
            predictor = self.predictor
            x = np.stack([predictor.prepare_image(data, name=f"files[{i}] ({name})") for i, (name, data) in enumerate(files)])
            out, sets, predictor = await self.batcher.submit(x)
            return 200, predictions_body(predictor, out, level, sets=sets, files=[n for n, _ in files]), ()
        return await self._guarded(work)

    def check_name(self, name: str) -> None:
        if name != self.predictor.name:
            raise ServeInputError(f"model {name!r} is not served here; this endpoint serves {self.predictor.name!r}", status=404)

    async def infer(self, name: str, body: bytes, header_length) -> Answer:
        """``POST /v2/models/{name}/infer`` (JSON tensors or the binary extension)."""
        async def work():
            self.check_name(name)
            x, request = _v2.parse_infer(body, header_length, self.predictor)
            out, _, predictor = await self.batcher.submit(x)
            data, head = _v2.infer_body(predictor, out, request)
            if head is None:
                return 200, data, ()
            return 200, data, ((b"content-type", b"application/octet-stream"), (_v2.HEADER_LENGTH.encode(), str(head).encode()))
        return await self._guarded(work)
