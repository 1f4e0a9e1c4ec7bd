"""A closed-loop HTTP/1.1 load generator on raw asyncio streams, and a do-nothing server to measure its ceiling.

Each of N connections sends one pre-built keep-alive request, waits for the whole response
(status line, headers, a Content-Length body), records the latency and sends the next. An httpx
client tops out near 650 requests/s on these 2 cores; this loop is the measuring instrument, so
its ceiling against :func:`serve_hello` is printed before any server's figure.

    python bench/_loadgen.py --hello PORT      a do-nothing server on 127.0.0.1:PORT (until killed)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field


def build_request(path: str, body: bytes, *, host: str = "127.0.0.1", headers: dict[str, str] | None = None) -> bytes:
    """A keep-alive ``POST path`` with ``body`` (JSON unless ``headers`` say otherwise), as bytes to write again and again."""
    fields = {"Content-Type": "application/json", **(headers or {})}
    extra = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    return head.encode("latin-1") + body


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, one per 2xx answer
    errors: int = 0  # non-2xx answers and failed connections
    statuses: dict[int, int] = field(default_factory=dict)
    first_error: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def quantile_ms(self, q: float) -> float:
        if len(self.latencies) < 2:
            return float("nan") if not self.latencies else self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[round(q * 1000) - 1] * 1000

    def as_dict(self) -> dict:
        return {"concurrency": self.concurrency, "seconds": round(self.seconds, 3), "requests": self.requests,
                "requests_per_s": round(self.rps, 1), "p50_ms": round(self.quantile_ms(0.5), 3),
                "p99_ms": round(self.quantile_ms(0.99), 3), "errors": self.errors,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "first_error": self.first_error}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one HTTP/1.1 response with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
        elif name == "transfer-encoding" and "chunked" in value.lower():
            raise ValueError("chunked responses are not parsed by this generator; the server must send Content-Length")
    body = await reader.readexactly(length) if length else b""
    return status, body, keep


async def _connection(host: str, port: int, request: bytes, stop_at: float, warm_until: float, result: LoadResult) -> None:
    reader = writer = None
    clock = time.perf_counter
    while clock() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = clock()
            writer.write(request)
            status, _, keep = await read_response(reader)
            done = clock()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            result.errors += 1
            result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)  # a refused connection should not spin the loop
            continue
        if started >= warm_until:
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                result.latencies.append(done - started)
            else:
                result.errors += 1
        if not keep:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def closed_loop(host: str, port: int, request: bytes, *, concurrency: int, seconds: float, warmup: float = 0.5) -> LoadResult:
    """``concurrency`` connections sending ``request`` back to back for ``warmup + seconds``; counts only after warm-up."""
    result = LoadResult(concurrency, seconds)
    now = time.perf_counter()
    warm_until, stop_at = now + warmup, now + warmup + seconds
    await asyncio.gather(*(_connection(host, port, request, stop_at, warm_until, result) for _ in range(concurrency)))
    return result


def run_load(host: str, port: int, request: bytes, *, concurrency: int, seconds: float, warmup: float = 0.5) -> LoadResult:
    """:func:`closed_loop` on a fresh event loop (uvloop's when installed)."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(closed_loop(host, port, request, concurrency=concurrency, seconds=seconds, warmup=warmup))


def announce_big_body(host: str, port: int, path: str, size: int, *, send_body: bool, cap_s: float) -> dict:
    """POST ``path`` announcing ``size`` bytes of JSON; with ``send_body`` the bytes follow, 1 MiB at a time.

    Returns the status and the seconds from the first byte sent to the status line read (None when
    no answer came within ``cap_s``), and how much of the body was sent by then.
    """
    import select
    import socket

    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode("latin-1")
    chunk = b"0," * (2**19)  # 1 MiB of a long JSON list of zeros
    opening, closing = b'{"inputs": [', b"0]}"
    filler = size - len(opening) - len(closing)
    if filler % 2:
        opening, filler = opening + b" ", filler - 1
    sent, status = 0, None
    started = time.perf_counter()
    with socket.create_connection((host, port), timeout=cap_s) as sock:
        sock.sendall(head)
        try:
            if send_body:
                sock.sendall(opening)
                sent = len(opening)
                while filler > 0 and not select.select([sock], [], [], 0)[0]:
                    part = chunk[:filler]
                    sock.sendall(part)
                    sent, filler = sent + len(part), filler - len(part)
                if filler == 0:
                    sock.sendall(closing)
                    sent += len(closing)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered and closed, or stopped reading: read what it said
        remaining = cap_s - (time.perf_counter() - started)
        if remaining > 0 and select.select([sock], [], [], remaining)[0]:
            try:
                line = sock.recv(65536).split(b"\r\n", 1)[0].decode("latin-1")
                status = int(line.split(" ", 2)[1]) if line.startswith("HTTP/") else None
            except (ConnectionResetError, IndexError, ValueError):
                status = None
    seconds = time.perf_counter() - started
    answered = status is not None
    return {"status": status, "seconds": round(seconds, 3) if answered else None, "body_sent_bytes": sent,
            "cap_s": cap_s, "send_body": send_body}


class _Hello(asyncio.Protocol):
    """Answers every request (headers + Content-Length body) with a 2-byte 200, keep-alive."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(self.ANSWER)


async def serve_hello(port: int, host: str = "127.0.0.1") -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Hello, host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="a do-nothing HTTP/1.1 server for measuring the load generator")
    parser.add_argument("--hello", type=int, metavar="PORT", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve_hello(args.hello))
    except ImportError:
        asyncio.run(serve_hello(args.hello))


if __name__ == "__main__":
    main()
