"""bench/_loadgen.py, the instrument behind bench/serve.py's HTTP figures: it counts what a server answers
(2xx, other statuses, dropped connections), survives ``Connection: close``, and tells a server that answers
a huge announced body at once from one that waits for it."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import _loadgen  # noqa: E402


class _Answer(_loadgen._Hello):
    """A do-nothing server whose answer is chosen per test; every third request gets ``other`` when set."""

    answer = _loadgen._Hello.ANSWER
    other: bytes | None = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self.n = 0

    def data_received(self, data: bytes):
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = int(next((ln[15:] for ln in self.buffer[:end].split(b"\r\n") if ln.lower().startswith(b"content-length:")), 0))
        if length > 10_000_000:  # a huge announced body: answer 413 at once, as the endpoint must
            self.transport.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()
            return
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length:]
        self.n += 1
        self.transport.write(self.other if self.other and self.n % 3 == 0 else self.answer)


@pytest.fixture
def server():
    """A loopback asyncio server in a thread; yields (port, protocol class to configure)."""
    loop = asyncio.new_event_loop()
    proto = type("Proto", (_Answer,), {})
    srv = loop.run_until_complete(loop.create_server(proto, "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield srv.sockets[0].getsockname()[1], proto
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    srv.close()
    loop.run_until_complete(srv.wait_closed())
    loop.close()


def test_a_keep_alive_closed_loop_counts_every_answer(server):
    port, _ = server
    r = _loadgen.run_load("127.0.0.1", port, _loadgen.build_request("/predict", b'{"instances": [1]}'), concurrency=4, seconds=0.4, warmup=0.1)
    assert r.errors == 0 and r.requests > 200 and r.statuses == {200: r.requests}
    d = r.as_dict()
    assert d["requests_per_s"] == pytest.approx(r.requests / 0.4, rel=1e-3) and 0 < d["p50_ms"] <= d["p99_ms"]


def test_non_2xx_answers_and_connection_close_are_errors_or_reconnects(server):
    port, proto = server
    proto.other = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy"
    r = _loadgen.run_load("127.0.0.1", port, _loadgen.build_request("/predict", b"{}"), concurrency=2, seconds=0.4, warmup=0)
    assert r.statuses[503] == r.errors > 0 and r.statuses[200] == r.requests
    assert r.requests == pytest.approx(2 * r.errors, rel=0.2)  # every third answer is the 503, then a new connection


def test_a_refused_connection_is_an_error_not_a_crash():
    from conftest import free_port

    r = _loadgen.run_load("127.0.0.1", free_port(), _loadgen.build_request("/", b""), concurrency=1, seconds=0.1, warmup=0)
    assert r.requests == 0 and r.errors > 0 and "ConnectionRefusedError" in r.first_error


def test_a_huge_announced_body_answered_at_once_or_not_at_all(server):
    port, _ = server
    refused = _loadgen.announce_big_body("127.0.0.1", port, "/predict", 50 * 2**20, send_body=False, cap_s=2.0)
    assert refused["status"] == 413 and refused["seconds"] < 1.0 and refused["body_sent_bytes"] == 0
    streamed = _loadgen.announce_big_body("127.0.0.1", port, "/predict", 50 * 2**20, send_body=True, cap_s=2.0)
    assert streamed["status"] == 413 and streamed["body_sent_bytes"] < 50 * 2**20


def test_a_server_waiting_for_the_body_gets_no_answer_within_the_cap(server):
    port, _ = server
    waited = _loadgen.announce_big_body("127.0.0.1", port, "/predict", 5 * 2**20, send_body=False, cap_s=0.3)
    assert waited["status"] is None and waited["seconds"] is None


def _bench_serve():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_serve", Path(__file__).resolve().parent.parent / "bench" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_ratio_is_printed_over_failed_requests():
    bench = _bench_serve()
    row = {"concurrency": 8, "requests": 900, "requests_per_s": 450.0, "errors": 0, "statuses": {"200": 900}, "first_error": ""}
    refused = {**row, "requests": 0, "requests_per_s": 0.0, "errors": 1804, "statuses": {}, "first_error": "ConnectionRefusedError"}
    some = {**row, "requests": 324, "requests_per_s": 162.0, "errors": 4460}
    assert bench.ratio(row, {**row, "requests_per_s": 150.0}) == "c=8: 3.0x"
    assert bench.ratio(row, refused) == "c=8: no ratio, mlflow had 1,804 errors (ConnectionRefusedError)"
    assert bench.ratio(row, some).startswith("c=8: no ratio, mlflow had 4,460 errors") and "x" not in bench.ratio(row, some)[-3:]


def test_a_stale_server_on_the_port_is_refused_and_a_stop_waits_for_the_port(server, tmp_path):
    bench = _bench_serve()
    stale, _ = server  # something already answers there
    cmd = [sys.executable, str(Path(bench.__file__).parent / "_loadgen.py"), "--hello", str(stale)]
    with pytest.raises(RuntimeError, match=f"port {stale} already answers .* a stale server holds it"):
        bench._start(cmd, f"http://127.0.0.1:{stale}/", stale, {}, tmp_path / "never.log")
    from conftest import free_port

    port = free_port()
    proc, seconds = bench._start([sys.executable, str(Path(bench.__file__).parent / "_loadgen.py"), "--hello", str(port)],
                                 f"http://127.0.0.1:{port}/", port, dict(os.environ), tmp_path / "hello.log")
    assert proc.poll() is None and seconds > 0.01 and bench._port_answers(port)  # a real start, not a stale answer
    bench._stop(proc, port)
    assert proc.poll() is not None and not bench._group_alive(proc.pid) and not bench._port_answers(port)
