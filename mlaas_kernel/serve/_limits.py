"""The body-size limit, as ASGI middleware in front of every route.

A request whose Content-Length is over the limit is answered 413 at once, before a byte of its
body is read (mlflow serve, a plain FastAPI app and LitServe read and parse a 50 MB body first:
4-14 s and up to 1.7 GB here). A body without a length (chunked) is counted as it arrives and
cut off with 413 the moment it passes the limit.
"""

from __future__ import annotations

__all__ = ["BodyLimit", "BodyTooLarge", "DEFAULT_MAX_BODY", "json_response"]

#: 16 MiB: a batch of 1,000 28x28 images as JSON numbers is about 5 MB
DEFAULT_MAX_BODY = 16 * 1024 * 1024


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a body without a length grows past the limit."""

    def __init__(self, limit: int):
        super().__init__(f"the request body is over the {limit:,}-byte limit")
        self.limit = limit


async def json_response(send, status: int, body: bytes, *, close: bool = False, headers=()) -> None:
    """Send a complete JSON response on a raw ASGI ``send``."""
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int, what: str, how: str) -> bytes:
    import orjson

    return orjson.dumps({"error": f"body: {what} is over the {limit:,}-byte limit ({how})"})


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_body`` bytes (from Content-Length, before reading)."""

    def __init__(self, app, *, max_body: int = DEFAULT_MAX_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
                break
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await json_response(send, 400, b'{"error":"Content-Length: not a whole number"}', close=True)
            if n > self.max_body:
                return await json_response(send, 413, _too_large(self.max_body, f"Content-Length {n:,}", "Content-Length checked before reading"), close=True)
            return await self.app(scope, receive, send)
        return await self._counted(scope, receive, send)

    async def _counted(self, scope, receive, send):
        limit, seen, started = self.max_body, 0, False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await json_response(send, 413, _too_large(limit, "the streamed body", "cut off as it passed the limit"), close=True)
