"""The fault-injecting proxy itself, in front of a stdlib HTTP echo server."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.servers.faultproxy import FaultProxy


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(body)

    def do_GET(self) -> None:
        self._send(f"host={self.headers['Host']}".encode())

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    with FaultProxy(f"http://127.0.0.1:{upstream.server_address[1]}") as proxy:
        yield proxy
    upstream.shutdown()
    upstream.server_close()


def request(proxy: FaultProxy, method: str = "GET", body: bytes | None = None,
            timeout: float = 5) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        conn.request(method, "/k", body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_passes_through_and_keeps_host(proxy: FaultProxy) -> None:
    assert request(proxy) == (200, f"host=127.0.0.1:{proxy.port}".encode())
    assert request(proxy, "PUT", b"abc") == (200, b"abc")


def test_503_and_slowdown_for_next_n(proxy: FaultProxy) -> None:
    proxy.fail_503(1)
    proxy.slowdown(1)
    assert request(proxy)[0] == 503
    status, body = request(proxy)
    assert status == 503 and b"<Code>SlowDown</Code>" in body
    assert request(proxy)[0] == 200
    assert proxy.applied == {"503": 1, "slowdown": 1}


def test_time_window(proxy: FaultProxy) -> None:
    proxy.fail_503(None, window=0.3)
    assert request(proxy)[0] == 503
    assert request(proxy)[0] == 503
    time.sleep(0.35)
    assert request(proxy)[0] == 200


def test_reset(proxy: FaultProxy) -> None:
    proxy.reset(1)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        request(proxy)
    assert request(proxy)[0] == 200


def test_delay(proxy: FaultProxy) -> None:
    proxy.delay(0.5, 1)
    began = time.monotonic()
    assert request(proxy)[0] == 200
    assert time.monotonic() - began >= 0.5
    with pytest.raises(TimeoutError):
        proxy.delay(1.0, 1)
        request(proxy, timeout=0.3)


def test_flip_only_touches_put_bodies(proxy: FaultProxy) -> None:
    proxy.flip_byte(1)
    assert request(proxy)[0] == 200  # a GET does not use up the fault
    status, body = request(proxy, "PUT", b"abcdef")
    assert status == 200 and body != b"abcdef" and len(body) == 6
    assert sum(a != b for a, b in zip(body, b"abcdef", strict=True)) == 1
    assert request(proxy, "PUT", b"abcdef")[1] == b"abcdef"


def test_down_and_up_on_same_port(proxy: FaultProxy) -> None:
    port = proxy.port
    proxy.down()
    with pytest.raises(ConnectionRefusedError):
        request(proxy)
    proxy.up()
    assert proxy.port == port and request(proxy)[0] == 200
    proxy.down(seconds=0.3)
    with pytest.raises(ConnectionRefusedError):
        request(proxy)
    time.sleep(0.5)
    assert request(proxy)[0] == 200
