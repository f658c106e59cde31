"""The demo marketplace's HTTP server: stdlib `ThreadingHTTPServer` in a daemon thread.

It listens on a loopback address only (unless told otherwise), serves the pages of
`crawler.demo.pages`, the JSON search API, generated images and static files, compresses text
with gzip when the client asks, and records every request for tests. Loopback clients may
move it to a next state (``POST /__admin/advance``, ``/__admin/mode``, ``GET /__admin/state``:
`crawler.demo.state`).

Run it in the foreground with ``python -m crawler.demo.server [--port N] [--listings N]``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from crawler.demo import pages
from crawler.demo.data import Catalog, DemoListing, build_catalog
from crawler.demo.state import MODES, MarketState

logger = logging.getLogger(__name__)

SERVER_NAME = "demo-marketplace"
"""Value of the ``Server`` header."""

_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_HTML = "text/html; charset=utf-8"
_ROBOTS = "User-agent: *\nAllow: /\n"
_ID = re.compile(r"[A-Za-z0-9]{1,32}")


@dataclass
class Response:
    """What the server sends back for one request."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    compressible: bool = True
    """Text that may be sent gzip-compressed."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def accepts_gzip(accept_encoding: str) -> bool:
    """True when an ``Accept-Encoding`` value allows gzip (``q=0`` refuses it)."""
    quality: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[name.strip().lower()] = q
    return quality.get("gzip", quality.get("x-gzip", quality.get("*", 0.0))) > 0


class DemoMarketplace:
    """A running (or ready to run) demo marketplace."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 12,
        allow_non_loopback: bool = False,
        verbose: bool = False,
    ) -> None:
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(f"refusing to serve the demo marketplace on non-loopback {host!r}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.catalog = catalog if catalog is not None else build_catalog()
        self.base_catalog = self.catalog
        """The catalog as generated; `catalog` is what the marketplace shows now."""
        self.state = MarketState()
        self.host, self.port, self.page_size, self.verbose = host, port, page_size, verbose
        self._static = _load_static()
        self._log: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.page_delay = 0.0
        """Seconds each search or item page takes to answer (tests of politeness)."""
        self.pages_in_flight = 0
        self.max_pages_in_flight = 0
        """The most search or item pages served at once (tests of politeness)."""

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._httpd is None:
            raise RuntimeError("the demo marketplace is not running; call start() first")
        return self._httpd.base_url

    @property
    def request_log(self) -> list[tuple[str, str]]:
        """A copy of the (method, path with query) of every request served so far."""
        with self._lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        """Forget the requests served so far."""
        with self._lock:
            self._log.clear()

    def start(self) -> DemoMarketplace:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the demo marketplace is already running")
        server_class = _Server6 if ":" in self.host else _Server
        self._httpd = server_class((self.host, self.port), _Handler)
        self._httpd.app = self
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._httpd.base_url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="demo-marketplace", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> DemoMarketplace:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def record(self, method: str, path: str) -> None:
        """Add a request to the request log."""
        with self._lock:
            self._log.append((method, path))

    def advance(self, step: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """Move the marketplace to its next state (`crawler.demo.state`); returns what changed."""
        with self._lock:
            applied = self.state.advance(self.base_catalog, step)
            self.catalog = self.state.catalog(self.base_catalog)
        return applied

    def set_mode(self, mode: str) -> None:
        """`normal`, `botwall` (captcha page, HTTP 200) or `503` for every search and item."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}")
        self.state.mode = mode

    def admin(self, method: str, path: str, body: bytes) -> Response:
        """The admin endpoint (`/__admin/...`; the handler lets loopback clients only)."""
        try:
            data = json.loads(body or b"null")
            if method == "GET" and path == "/__admin/state":
                return _json(self.state.to_json())
            if method == "POST" and path == "/__admin/advance":
                return _json({"applied": self.advance(data or None),
                              "step": self.state.step})
            if method == "POST" and path == "/__admin/mode":
                mode = data.get("mode") if isinstance(data, dict) else data
                self.set_mode(str(mode))
                return _json({"mode": self.state.mode})
        except (ValueError, AttributeError) as exc:
            return Response(400, json.dumps({"error": str(exc)}).encode(),
                            "application/json; charset=utf-8")
        return Response(404, b'{"error": "no such admin endpoint"}', "application/json")

    def handle(self, target: str, cookie_header: str = "", base_url: str = "") -> Response:
        """Answer a GET for `target` (path and query)."""
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        consented = _consented(cookie_header)
        if self.state.mode != "normal" and (path.startswith(("/item/", "/seller/"))
                                            or path in ("/search", "/api/search")):
            return _refusal(self.state.mode)
        if path == "/":
            return _html(200, pages.home_page(self.catalog, consented=consented))
        if path in ("/search", "/api/search"):
            return self._search(path, query, consented)
        if path.startswith("/item/"):
            return self._item(path.removeprefix("/item/"), base_url, consented)
        if path.startswith("/seller/"):
            return self._seller(path.removeprefix("/seller/"), consented)
        if path.startswith("/img/") and path.endswith(".png"):
            return self._image(path[len("/img/") : -len(".png")])
        if path.startswith("/static/") and path.removeprefix("/static/") in self._static:
            return self._static[path.removeprefix("/static/")]
        if path == "/robots.txt":
            return Response(200, _ROBOTS.encode(), "text/plain; charset=utf-8")
        return _not_found("Page not found", "The page you requested does not exist.", consented)

    def _search(self, path: str, query: dict[str, list[str]], consented: bool) -> Response:
        term = query.get("q", [""])[0]
        try:
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            page = 0
        if page < 1:
            text = "The page number must be a positive integer."
            return _html(400, pages.error_page("Bad request", text, consented=consented))
        if path == "/search":
            return _html(200, pages.search_page(term, page, self.page_size, consented=consented))
        return _json(self.search_json(term, page))

    def search_json(self, term: str, page: int) -> dict[str, Any]:
        """The body of ``/api/search?q=term&page=page``."""
        found = self.catalog.search(term)
        results, pages_count = self.catalog.search_page(term, page, self.page_size)
        return {
            "term": term,
            "page": page,
            "pages": pages_count,
            "total": len(found),
            "results": [_result_json(item) for item in results],
        }

    def _item(self, listing_id: str, base_url: str, consented: bool) -> Response:
        item = self.catalog.get(listing_id) if _ID.fullmatch(listing_id) else None
        removed = self.state.removed(listing_id) if item is None else None
        if removed == "gone":
            return _html(410, pages.error_page("Listing removed", pages.GONE_TEXT,
                                                consented=consented))
        if removed == "unavailable":
            old = self.state.removed_item(self.base_catalog, listing_id)
            return _html(200, pages.unavailable_page(old, consented=consented))
        if removed == "redirected":
            return Response(302, b"", _HTML, {"Location": "/search?q=", "Cache-Control":
                                              "no-cache"})
        if item is None:
            return _not_found("Listing not found", pages.GONE_TEXT, consented)
        return _html(200, pages.item_page(item, base_url, consented=consented))

    def _seller(self, seller_id: str, consented: bool) -> Response:
        seller = self.catalog.seller(seller_id)
        if seller is None:
            return _not_found("Seller not found", "This seller does not exist.", consented)
        items = self.catalog.listings_of(seller_id)
        return _html(200, pages.seller_page(seller, items, consented=consented))

    def _image(self, name: str) -> Response:
        if name not in self.catalog.images:
            return Response(404, b"image not found", "text/plain; charset=utf-8")
        data = self.catalog.images[name]
        return _cacheable(data, "image/png", compressible=False)


def _result_json(item: DemoListing) -> dict[str, Any]:
    return {
        "listing_id": item.listing_id,
        "title": item.title,
        "price_text": item.price_text,
        "url": item.url,
        "image": item.image_urls[0],
        "seller": {"id": item.seller.seller_id, "name": item.seller.name, "url": item.seller.url},
        "sponsored": item.sponsored,
    }


def _refusal(mode: str) -> Response:
    if mode == "503":
        return Response(503, b"<html><head><title>Service Unavailable</title></head><body>"
                        b"<h1>Service temporarily unavailable</h1></body></html>", _HTML,
                        {"Retry-After": "1", "Cache-Control": "no-cache"})
    return _html(200, pages.captcha_page())


def _consented(cookie_header: str) -> bool:
    try:
        cookies = SimpleCookie(cookie_header)
    except CookieError:
        return False
    morsel = cookies.get("consent")
    return morsel is not None and morsel.value == "yes"


def _html(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), _HTML, {"Cache-Control": "no-cache"})


def _json(data: dict[str, Any]) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(200, body, "application/json; charset=utf-8", {"Cache-Control": "no-cache"})


def _not_found(heading: str, text: str, consented: bool) -> Response:
    return _html(404, pages.error_page(heading, text, consented=consented))


def _cacheable(data: bytes, content_type: str, compressible: bool = True) -> Response:
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "public, max-age=86400", "ETag": etag}
    return Response(200, data, content_type, headers, compressible)


def _load_static() -> dict[str, Response]:
    folder = resources.files("crawler.demo") / "static"
    static = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _STATIC_TYPES:
            static[entry.name] = _cacheable(entry.read_bytes(), _STATIC_TYPES[suffix])
    return static


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: DemoMarketplace
    base_url: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("demo marketplace: connection from %s dropped", client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True
    """The head and the body of a response are two writes: with Nagle's algorithm on, the body
    of every response after the first on a kept-alive connection waits for the client's
    delayed acknowledgement of the head (40 ms on Linux)."""
    server: _Server

    def version_string(self) -> str:
        return SERVER_NAME

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_POST(self) -> None:
        self._admin()

    def _admin(self) -> None:
        app = self.server.app
        path = urlsplit(self.path).path
        app.record(self.command, self.path)
        if not path.startswith("/__admin/") or not is_loopback(self.client_address[0]):
            self._send(404, b"not found", {"Content-Type": "text/plain", "Content-Length": "9"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= 1_000_000:
            self._send(413, b"", {"Content-Length": "0"})
            return
        response = app.admin(self.command, path, self.rfile.read(length))
        self._send(response.status, response.body,
                   {"Content-Type": response.content_type,
                    "Content-Length": str(len(response.body)), "Cache-Control": "no-cache"})

    def _serve(self, send_body: bool) -> None:
        app = self.server.app
        if self.path.startswith("/__admin/"):
            self._admin()
            return
        app.record(self.command, self.path)
        if not self.path.startswith(("/search", "/item/")):
            self._answer(app, send_body)
            return
        with app._lock:
            app.pages_in_flight += 1
            app.max_pages_in_flight = max(app.max_pages_in_flight, app.pages_in_flight)
        try:
            if app.page_delay:
                time.sleep(app.page_delay)
            self._answer(app, send_body)
        finally:
            with app._lock:
                app.pages_in_flight -= 1

    def _answer(self, app: DemoMarketplace, send_body: bool) -> None:
        try:
            cookies = self.headers.get("Cookie", "")
            response = app.handle(self.path, cookies, self.server.base_url)
        except Exception:  # boundary: one failed request must not stop the server
            logger.exception("demo marketplace: error serving %s", self.path)
            response = _html(500, pages.error_page("Server error", "Please retry.", consented=True))
        etag = response.headers.get("ETag")
        if etag is not None and etag in self.headers.get("If-None-Match", ""):
            self._send(304, b"", {"ETag": etag, "Cache-Control": response.headers["Cache-Control"]})
            return
        body, headers = response.body, {"Content-Type": response.content_type, **response.headers}
        if response.compressible:
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(self.headers.get("Accept-Encoding", "")):
                body = gzip.compress(body, mtime=0)
                headers["Content-Encoding"] = "gzip"
        headers["Content-Length"] = str(len(body))
        self._send(response.status, body if send_body else b"", headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            super().log_message(format, *args)


def main(argv: list[str] | None = None) -> None:
    """Run the demo marketplace in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m crawler.demo.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--listings", type=int, default=360, help="number of listings")
    parser.add_argument("--seed", type=int, default=7, help="catalog seed")
    parser.add_argument("--page-size", type=int, default=12, help="search results per page")
    parser.add_argument("--allow-non-loopback", action="store_true", help="allow any address")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        server = DemoMarketplace(
            build_catalog(args.listings, args.seed),
            args.host,
            args.port,
            args.page_size,
            args.allow_non_loopback,
            args.verbose,
        )
    except ValueError as exc:
        parser.error(str(exc))
    with server:
        print(f"Demo marketplace running at {server.base_url}/ (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopping.", flush=True)


if __name__ == "__main__":
    main()
