"""Micro-batching: concurrent requests share one ONNX Runtime call.

Each request puts its checked array and a future on a queue; one loop takes whatever is waiting
(up to ``max_batch`` items, waiting ``max_wait`` seconds for more only when some already wait and
the batch is not full), runs the model once in a worker thread (ONNX Runtime releases the GIL, so
the event loop keeps accepting and parsing requests meanwhile), computes the conformal sets at the
bundle's level for the whole batch in the same call, then hands each request its rows with the
predictor that computed them, so the answer names the version that answered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import numpy as np

from ._errors import ServeInputError

__all__ = ["MicroBatcher"]


class MicroBatcher:
    """Batches ``submit(x)`` calls onto ``slot.predictor.run``. ``in_thread=False`` runs the model on the event loop."""

    def __init__(self, slot, *, max_batch: int = 64, max_wait: float = 0.0, in_thread: bool = True):
        self.slot = slot
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.in_thread = in_thread
        self._queue: asyncio.Queue | None = None
        self._task = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlaas-batch") if in_thread else None
        self.batches = 0
        self.items = 0

    async def submit(self, x: np.ndarray):
        """``(raw outputs for x's rows, their sets at the bundle's level or None, the predictor that ran them)``."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((x, future))
        return await future

    async def _collect(self) -> list:
        queue = self._queue
        items = [await queue.get()]
        n = len(items[0][0])
        while n < self.max_batch:
            if queue.empty():
                if not self.max_wait or len(items) == 1:  # wait for more only under load
                    break
                await asyncio.sleep(self.max_wait)
                if queue.empty():
                    break
            x, fut = queue.get_nowait()
            items.append((x, fut))
            n += len(x)
        return items

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            predictor = self.slot.predictor
            ok = []
            for x, fut in items:
                if fut.done():  # the client went away
                    continue
                if x.shape[1:] != predictor.input_shape:  # the version changed its input between check and run
                    fut.set_exception(ServeInputError(f"instances: shape {list(x.shape[1:])} does not fit version "
                                                      f"{predictor.version}, now serving (input {list(predictor.input_shape)})", status=409))
                else:
                    ok.append((x, fut))
            if not ok:
                continue
            batch = ok[0][0] if len(ok) == 1 else np.concatenate([x for x, _ in ok])
            try:
                out, sets = (await loop.run_in_executor(self._pool, predictor.run_batch, batch) if self.in_thread
                             else predictor.run_batch(batch))
            except Exception as exc:  # the model failed: every waiting request learns it (a 500, a bug)
                for _, fut in ok:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(batch)
            start = 0
            for x, fut in ok:
                if not fut.done():  # the client may have gone
                    end = start + len(x)
                    fut.set_result((out[start:end], None if sets is None else sets[start:end], predictor))
                start += len(x)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
