"""The shared-context recording mode: requests are routed to captures by their tag, the tag
never reaches the site nor the record, untagged requests are refused (407), not misfiled, and
untagged CORS preflights are relayed (egress-checked) but recorded in no capture."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawler.config import CaptureLimits
from crawler.recording import RecordingProxy
from crawler.recording.proxy import CAPTURE_HEADER, tag_value
from tests.helpers import local_egress, send, serving

SEEN: list[dict[str, str]] = []


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_OPTIONS(self) -> None:
        SEEN.append({"method": "OPTIONS", **{k.lower(): v for k, v in self.headers.items()}})
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "PUT")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        SEEN.append({k.lower(): v for k, v in self.headers.items()})
        send(self, 200, f"page {self.path}".encode(), {"Content-Type": "text/plain"})


@pytest.fixture
def site() -> Iterator[str]:
    with serving(_Site) as host:
        yield host


async def _get(port: int, host: str, path: str, tag: str | None, *, raw_tag: bool = False,
               method: str = "GET", extra: tuple[str, ...] = ()) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} http://{host}{path} HTTP/1.1", f"Host: {host}", "Connection: close",
             *extra]
    if tag is not None:
        lines.append(f"{CAPTURE_HEADER.decode()}: {tag if raw_tag else tag_value(tag)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_tagged_requests_go_to_their_capture_untagged_are_refused(site: str) -> None:
    SEEN.clear()

    async def scenario() -> None:
        with RecordingProxy(egress=local_egress()) as proxy:
            a = await proxy.open_tagged_session("cap-a", CaptureLimits())
            b = await proxy.open_tagged_session("cap-b", CaptureLimits())
            assert a.port == b.port  # one listener for the shared context
            assert b"page /one" in await _get(a.port, site, "/one", "cap-a")
            assert b"page /two" in await _get(a.port, site, "/two", "cap-b")
            refused = await _get(a.port, site, "/three", None)
            assert b" 407 " in refused.split(b"\r\n", 1)[0] + b" "
            assert proxy.unclaimed == 1
            await proxy.close_session(a)
            late = await _get(a.port, site, "/four", "cap-a")  # capture a has ended
            assert b" 407 " in late.split(b"\r\n", 1)[0] + b" "
            await proxy.close_session(b)
            assert [x.url.rsplit("/", 1)[-1] for x in a.exchanges] == ["one"]
            assert [x.url.rsplit("/", 1)[-1] for x in b.exchanges] == ["two"]
            recorded = a.exchanges[0].request.open().read()
            assert CAPTURE_HEADER not in recorded.lower()
            for session in (a, b):
                session.discard()

    asyncio.run(scenario())
    assert [h.get(CAPTURE_HEADER.decode()) for h in SEEN] == [None, None]  # the site never
    assert len(SEEN) == 2  # saw the tag, and saw nothing of the refused requests


def test_a_content_language_that_is_not_a_tag_claims_nothing(site: str) -> None:
    SEEN.clear()

    async def scenario() -> None:
        with RecordingProxy(egress=local_egress()) as proxy:
            a = await proxy.open_tagged_session("cap-a", CaptureLimits())
            for value in ("cap-a", "en-GB", "markwatch-cap-b"):  # bare token, a language, unknown
                refused = await _get(a.port, site, "/x", value, raw_tag=True)
                assert b" 407 " in refused.split(b"\r\n", 1)[0] + b" "
            assert proxy.unclaimed == 3
            await proxy.close_session(a)
            assert a.exchanges == []

    asyncio.run(scenario())
    assert SEEN == []


def test_untagged_cors_preflight_is_relayed_and_recorded_nowhere(site: str) -> None:
    SEEN.clear()

    async def scenario() -> None:
        with RecordingProxy(egress=local_egress()) as proxy:
            a = await proxy.open_tagged_session("cap-a", CaptureLimits())
            reply = await _get(a.port, site, "/api", None, method="OPTIONS",
                               extra=("Origin: http://shop.test",
                                      "Access-Control-Request-Method: PUT"))
            assert b" 204 " in reply.split(b"\r\n", 1)[0] + b" "
            assert b"access-control-allow-methods: put" in reply.lower()
            plain_options = await _get(a.port, site, "/api", None, method="OPTIONS")
            assert b" 407 " in plain_options.split(b"\r\n", 1)[0] + b" "  # not a preflight
            assert (proxy.preflights, proxy.unclaimed) == (1, 1)
            await proxy.close_session(a)
            assert a.exchanges == []

    asyncio.run(scenario())
    assert [h.get("method") for h in SEEN] == ["OPTIONS"]


def test_own_port_mode_needs_the_capture_tag_too(site: str) -> None:
    """A listener of the capture's own relays only what carries the capture's token: another
    local process that finds the port gets nothing relayed, nothing filed in the capture."""
    SEEN.clear()

    async def scenario() -> None:
        with RecordingProxy(egress=local_egress()) as proxy:
            session = await proxy.open_session("cap-own", CaptureLimits())
            refused = await _get(session.port, site, "/other", "en-GB", raw_tag=True)
            assert b" 407 " in refused.split(b"\r\n", 1)[0] + b" "
            assert b"page /doc" in await _get(session.port, site, "/doc", "cap-own")
            await proxy.close_session(session)
            assert [x.url.rsplit("/", 1)[-1] for x in session.exchanges] == ["doc"]
            recorded = session.exchanges[0].request.open().read().lower()
            assert CAPTURE_HEADER not in recorded
            session.discard()

    asyncio.run(scenario())
    assert len(SEEN) == 1 and SEEN[0].get("content-language") is None


class _Slow(BaseHTTPRequestHandler):
    release = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Slow.release.wait(10)
        body = b"late"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_session_counts_its_requests_in_flight() -> None:
    """The capture waits for a quiet network on the proxy's count, not on browser events."""
    from crawler.browser.capture import ProxyInFlight

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_port}"
    _Slow.release.clear()

    async def scenario() -> None:
        with RecordingProxy(egress=local_egress()) as proxy:
            a = await proxy.open_tagged_session("cap-a", CaptureLimits())
            inflight = ProxyInFlight(a, idle=0.05, timeout=0.5)
            assert a.in_flight == 0
            pending = asyncio.ensure_future(_get(a.port, host, "/slow", "cap-a"))
            for _ in range(200):
                if a.in_flight:
                    break
                await asyncio.sleep(0.01)
            assert a.in_flight == 1
            assert await inflight.quiet() is False  # busy for the whole timeout
            _Slow.release.set()
            assert b"late" in await pending
            assert await inflight.quiet() is True
            assert a.in_flight == 0
            await proxy.close_session(a)
            a.discard()

    try:
        asyncio.run(scenario())
    finally:
        _Slow.release.set()
        server.shutdown()
        server.server_close()
