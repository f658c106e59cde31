"""Trapdoor: a local attacker marketplace, and the destinations it must never reach.

Trapdoor serves an ordinary-looking search page on 127.0.0.1 whose results lead to every place
a hostile seller would send a crawler: `file://` (the store's secrets, `/proc/self/environ`),
`data:`, `ftp://`, a "cloud metadata service" and an "intranet" (simulated by counting servers
on 127.0.0.2 and 127.0.0.3, which Linux routes to the loopback interface), a "local service"
on 127.0.0.1 at another port (as the recording proxy or the scheduler's health port would be),
directly, by HTTP redirect, by meta refresh, and as the images, scripts, frames and fetches of
ordinary listing pages. Among the results are also an endless redirect, a page that fakes its
user agent, a WebSocket page, a gzip bomb, a DOM bomb and a download.

Every forbidden destination counts every connection it accepts (`Forbidden.hits`) and answers
with a marker (`MARKER`) that must never appear in the store. `Trapdoor.ordinary` lists the
listings a crawl must capture.
"""

from __future__ import annotations

import socketserver
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

MARKER = "FORBIDDEN-CONTENT-7f3a"
"""In every answer of a forbidden destination and in the secret file: never to be stored."""


class _CountingHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _CountingServer)
        with server.lock:
            server.hits += 1
        self.request.settimeout(2)
        try:
            self.request.recv(65536)
            body = f"{MARKER} {server.name}".encode()
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 b"Content-Length: " + str(len(body)).encode()
                                 + b"\r\nConnection: close\r\n\r\n" + body)
        except OSError:
            pass


class _CountingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str, address: str) -> None:
        super().__init__((address, 0), _CountingHandler)
        self.name = name
        self.hits = 0
        self.lock = threading.Lock()


class Forbidden:
    """The destinations Trapdoor points at, each a TCP server counting connections."""

    PLACES = (("metadata", "127.0.0.2"), ("intranet", "127.0.0.3"), ("local", "127.0.0.1"))

    def __init__(self) -> None:
        self.servers = {name: _CountingServer(name, address) for name, address in self.PLACES}

    def url(self, name: str, path: str = "/") -> str:
        host, port = self.servers[name].server_address[:2]
        return f"http://{host}:{port}{path}"

    def netloc(self, name: str) -> str:
        host, port = self.servers[name].server_address[:2]
        return f"{host}:{port}"

    @property
    def hits(self) -> dict[str, int]:
        return {name: server.hits for name, server in self.servers.items()}

    def start(self) -> None:
        for server in self.servers.values():
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def _bomb(mebibytes: int = 96) -> bytes:
    """A gzip body that inflates to `mebibytes` MiB (about 0.1 % of it sent)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(b"<html><body><h1>bomb</h1>")]
    block = b" " * (1 << 20)
    out += [z.compress(block) for _ in range(mebibytes)]
    return b"".join([*out, z.flush()])


class Trapdoor:
    """The attacker marketplace on 127.0.0.1 (a free port), with its forbidden places."""

    ORDINARY = ("ok1", "ok2", "ok3", "fakeua", "sockets", "badtext")
    """Listings a crawl must capture (the last three are hostile but legitimate pages)."""
    BADTEXT_BRAND = "Lum\\ud800ara\\u0000 \\udfff"
    """The brand `badtext`'s JSON-LD gives, as written in its JSON: two lone UTF-16 surrogates
    and a NUL, which no UTF-8 record or PostgreSQL text can hold."""

    def __init__(self, secret_file: Path, bomb_mib: int = 96) -> None:
        self.secret_file = secret_file
        self.forbidden = Forbidden()
        self.upgrades = 0
        """WebSocket upgrade requests that reached Trapdoor itself (must stay 0)."""
        self.requests: list[str] = []
        self._bomb = _bomb(bomb_mib)
        handler = type("TrapdoorHandler", (_Handler,), {"site": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def traps(self) -> list[tuple[str, str]]:
        """(title, href) of every trap result on the search page."""
        f = self.forbidden
        return [
            ("secret file", self.secret_file.as_uri()),
            ("process environment", "file:///proc/self/environ"),
            ("data page", "data:text/html,<h1>a page made of its own address</h1>"),
            ("ftp", f"ftp://{f.netloc('metadata')}/secret"),
            ("metadata service", f.url("metadata", "/latest/meta-data/")),
            ("intranet", f.url("intranet", "/admin")),
            ("local service", f.url("local", "/health")),
            ("mapped address", f"http://[::ffff:127.0.0.2]:{f.netloc('metadata').split(':')[1]}/"),
            ("localhost", f"http://localhost:{f.netloc('local').split(':')[1]}/"),
            ("redirect to metadata", "/item/to-metadata"),
            ("redirect to file", "/item/to-file"),
            ("refresh to intranet", "/item/refresh"),
            ("endless redirect", "/item/loop/0"),
            ("gzip bomb", "/item/bomb"),
            ("dom bomb", "/item/dombomb"),
            ("download", "/item/download"),
        ]

    # -- pages -----------------------------------------------------------------------------

    def search(self) -> str:
        f = self.forbidden
        rows = [(f"Lumara {sku}", f"/item/{sku}") for sku in self.ORDINARY] + self.traps()
        items = "".join(
            f'<li class="result"><a class="result-link" href="{href}">{title}</a>'
            f'<span class="price">$10.00</span></li>' for title, href in rows)
        return (f"<!doctype html><html><head><title>Trapdoor</title>"
                f'<link rel="prefetch" href="{f.url("intranet", "/prefetch")}">'
                f"</head><body><h1>Results</h1><ul id=\"results\">{items}</ul>"
                f'<img src="{f.url("metadata", "/pixel.gif")}">'
                f"<script>fetch('{f.url('local', '/api')}').catch(() => 0);</script>"
                f"</body></html>")

    def listing(self, sku: str) -> str:
        f = self.forbidden
        extra = ""
        if sku == "fakeua":
            extra = ("<script>Object.defineProperty(navigator, 'userAgent', "
                     "{get: () => 'FakeBrowser/1.0 (trapdoor)'});</script>")
        elif sku == "badtext":
            extra = ('<script type="application/ld+json">{"@context": "https://schema.org", '
                     '"@type": "Product", "name": "Lumara bag badtext", "brand": {"@type": '
                     f'"Brand", "name": "{self.BADTEXT_BRAND}"}}, "sku": "bad\\ud83d"}}'
                     "</script>")
        elif sku == "sockets":
            extra = ("<script>for (const u of ['ws://" + self.netloc + "/ws', 'ws://"
                     + f.netloc("metadata") + "/ws']) { try { new WebSocket(u); } "
                     "catch (e) {} }</script>")
        return (f"<!doctype html><html><head><title>Lumara {sku}</title>"
                f'<script src="{f.url("intranet", "/lib.js")}"></script></head><body>'
                f'<h1>Lumara bag {sku}</h1><p class="price">$10.00</p>'
                f'<div class="seller"><a href="/seller/s1">Seller One</a></div>'
                f'<div class="gallery"><img data-src="/img/{sku}.png" src="/img/{sku}.png">'
                f'<img src="{f.url("metadata", "/latest/meta-data/iam")}"></div>'
                f'<iframe src="{self.secret_file.as_uri()}"></iframe>'
                f'<iframe src="{f.url("local", "/frame")}"></iframe>'
                f"<script>fetch('{f.url('intranet', '/xhr')}').catch(() => 0);"
                f"navigator.sendBeacon && navigator.sendBeacon('{f.url('metadata', '/b')}');"
                f"</script>{extra}</body></html>")

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Trapdoor:
        self.forbidden.start()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.forbidden.stop()


_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1e0e50000000049454e44ae426082")


class _Handler(BaseHTTPRequestHandler):
    site: Trapdoor
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        site = self.site
        path = urlsplit(self.path).path
        site.requests.append(path)
        if self.headers.get("Upgrade"):
            site.upgrades += 1
            self._send(400, b"no")
            return
        f = site.forbidden
        if path == "/robots.txt":
            self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
        elif path == "/search":
            self._send(200, site.search().encode())
        elif path.startswith("/item/loop/"):
            n = int(path.rsplit("/", 1)[1] or 0) + 1
            self._send(302, b"", headers={"Location": f"/item/loop/{n}"})
        elif path == "/item/to-metadata":
            self._send(302, b"", headers={"Location": f.url("metadata", "/latest/")})
        elif path == "/item/to-file":
            self._send(302, b"", headers={"Location": site.secret_file.as_uri()})
        elif path == "/item/refresh":
            target = f.url("intranet", "/refreshed")
            self._send(200, f'<html><head><meta http-equiv="refresh" content="0;url={target}">'
                            f"</head><body><h1>moving</h1></body></html>".encode())
        elif path == "/item/bomb":
            self._send(200, site._bomb, headers={"Content-Encoding": "gzip"})
        elif path == "/item/dombomb":
            js = b"<script>document.body.innerHTML = '<p>x</p>'.repeat(3000000)</script>"
            self._send(200, b"<html><body><h1>dom</h1>" + js + b"</body></html>")
        elif path == "/item/download":
            self._send(200, b"MZ" + b"\0" * 4096, "application/octet-stream",
                       {"Content-Disposition": 'attachment; filename="setup.exe"'})
        elif path.startswith("/item/") and path[6:] in Trapdoor.ORDINARY:
            self._send(200, site.listing(path[6:]).encode())
        elif path.startswith("/img/"):
            self._send(200, _PNG, "image/png")
        else:
            self._send(404, b"<h1>not here</h1>")
