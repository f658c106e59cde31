"""The shared-context recording mode: requests are routed to captures by their tag, the tag
never reaches the site nor the record, and untagged requests are refused, not misfiled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawler.config import CaptureLimits
from crawler.recording import RecordingProxy
from crawler.recording.proxy import CAPTURE_HEADER

SEEN: list[dict[str, str]] = []


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        SEEN.append({k.lower(): v for k, v in self.headers.items()})
        body = f"page {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


async def _get(port: int, host: str, path: str, tag: str | None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET http://{host}{path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if tag is not None:
        lines.append(f"{CAPTURE_HEADER.decode()}: {tag}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_tagged_requests_go_to_their_capture_untagged_are_refused(site: str) -> None:
    SEEN.clear()

    async def scenario() -> None:
        with RecordingProxy() as proxy:
            a = await proxy.open_tagged_session("cap-a", CaptureLimits())
            b = await proxy.open_tagged_session("cap-b", CaptureLimits())
            assert a.port == b.port  # one listener for the shared context
            assert b"page /one" in await _get(a.port, site, "/one", "cap-a")
            assert b"page /two" in await _get(a.port, site, "/two", "cap-b")
            refused = await _get(a.port, site, "/three", None)
            assert b" 503 " in refused.split(b"\r\n", 1)[0] + b" "
            assert proxy.unclaimed == 1
            await proxy.close_session(a)
            late = await _get(a.port, site, "/four", "cap-a")  # capture a has ended
            assert b" 503 " in late.split(b"\r\n", 1)[0] + b" "
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
