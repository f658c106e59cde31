"""Kiosk: a second local test marketplace, built unlike the demo marketplace.

Where the demo marketplace draws numbered result pages from a JSON API behind page links,
Kiosk has:

- an infinite-scroll search (`/find?query=`): the HTML holds the first batch of tiles, and a
  script appends the next batch from `/feed?query=&offset=` each time the reader nears the
  bottom; there are no page links;
- a consent overlay (`.cmp-layer`, accept button `button[data-cmp=accept]`): until it is
  accepted, no further batch is loaded;
- sponsored tiles, marked with an inner `<em class="promo-tag">Promoted</em>`;
- listing pages (`/p/<sku>`) with no JSON-LD: the title in `<h2 class="item-name">` and
  `og:title`, European prices (`1.234,56 €`), the merchant in `.merchant a`;
- a soft "no longer available" listing page with HTTP 200 for removed items, which still
  appear in search results;
- HTTP 429 with `Retry-After: 1` on the first request of some listing pages.

`Kiosk.truth` says what a crawl must find. Stdlib only; listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

BATCH = 6
"""Tiles per batch (the first batch is in the HTML, the rest arrive while scrolling)."""
GONE_TEXT = "Sorry, this item is no longer available."


@dataclass(frozen=True)
class Item:
    """One Kiosk listing."""

    sku: str
    title: str
    price: Decimal
    merchant: str
    promoted: bool = False
    removed: bool = False
    throttled: bool = False
    """The first request of its page is answered 429 with Retry-After."""

    @property
    def price_text(self) -> str:
        whole, cents = f"{self.price:.2f}".split(".")
        grouped = f"{int(whole):,}".replace(",", ".")
        return f"{grouped},{cents}\u00a0€"

    @property
    def images(self) -> list[str]:
        return [f"/pics/{self.sku}-{n}.png" for n in (1, 2)]


def build_items() -> list[Item]:
    """The catalogue: two brands, a few promoted, one removed, two throttled."""
    items: list[Item] = []
    for n in range(1, 16):
        items.append(Item(
            sku=f"lm-{100 + n}",
            title=f"Lumara {('tote', 'clutch', 'satchel')[n % 3]} bag no. {n}",
            price=Decimal(400 + 83 * n) + Decimal("0.90"),
            merchant=("Atelier Nord", "Bazaar Lux", "Quick Deals")[n % 3],
            promoted=n in (2, 9),
            removed=n == 7,
            throttled=n in (4, 12),
        ))
    for n in range(1, 5):
        items.append(Item(sku=f"cv-{200 + n}", title=f"Corvane chronograph watch {n}",
                          price=Decimal(1200 + 10 * n), merchant="Time Store"))
    return items


@dataclass
class Truth:
    """What a crawl of Kiosk for a term must find."""

    items: list[Item]

    def search(self, term: str) -> list[Item]:
        words = term.lower().split()
        return [i for i in self.items if all(w in i.title.lower() for w in words)]

    def get(self, sku: str) -> Item | None:
        return next((i for i in self.items if i.sku == sku), None)


@dataclass
class Kiosk:
    """The running site; `hits` counts requests per path (with query)."""

    host: str = "127.0.0.1"
    truth: Truth = field(default_factory=lambda: Truth(build_items()))
    hits: dict[str, list[float]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def __enter__(self) -> Kiosk:
        site = self

        class Handler(_Handler):
            kiosk = site

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def hit(self, path: str) -> int:
        import time

        with self._lock:
            self.hits.setdefault(path, []).append(time.monotonic())
            return len(self.hits[path])


class _Handler(BaseHTTPRequestHandler):
    kiosk: Kiosk

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        count = self.kiosk.hit(parts.path)
        truth = self.kiosk.truth
        consented = "cmp=ok" in (self.headers.get("Cookie") or "")
        if parts.path == "/robots.txt":
            self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
        elif parts.path == "/find":
            found = truth.search(query.get("query", ""))
            self._html(200, search_page(query.get("query", ""), found[:BATCH], consented))
        elif parts.path == "/feed":
            found = truth.search(query.get("query", ""))
            offset = int(query.get("offset", "0"))
            batch = [tile(i) for i in found[offset:offset + BATCH]]
            body = json.dumps({"tiles": batch, "more": offset + BATCH < len(found)})
            self._send(200, body.encode(), "application/json")
        elif parts.path.startswith("/p/"):
            item = truth.get(parts.path.removeprefix("/p/"))
            if item is None:
                self._html(404, layout("Not found", "<p>No such page.</p>", consented))
            elif item.throttled and count == 1:
                self._send(429, b"Slow down", "text/plain", {"Retry-After": "1"})
            else:
                self._html(200, item_page(item, consented))
        elif parts.path.startswith("/pics/"):
            self._send(200, png(parts.path), "image/png")
        elif parts.path == "/kiosk.js":
            self._send(200, SCRIPT.encode(), "text/javascript")
        else:
            self._html(404, layout("Not found", "<p>No such page.</p>", consented))

    def _html(self, status: int, text: str) -> None:
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, media_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


STYLE = ("body{font-family:sans-serif;margin:0}#feed{list-style:none;padding:0}"
         ".tile{display:block;height:240px;border-bottom:1px solid #ccc;padding:8px}")


def tile(item: Item) -> str:
    promo = '<em class="promo-tag">Promoted</em>' if item.promoted else ""
    return (f'<li class="tile" data-sku="{item.sku}">{promo}'
            f'<a class="tile-link" href="/p/{item.sku}">{escape(item.title)}</a>'
            f'<b class="cost">{escape(item.price_text)}</b></li>')


def layout(title: str, body: str, consented: bool, head: str = "") -> str:
    overlay = "" if consented else (
        '<div class="cmp-layer" style="position:fixed;inset:0;background:#000c;z-index:9">'
        '<p style="color:#fff">Kiosk uses cookies.</p>'
        '<button data-cmp="accept" type="button">OK, continue</button></div>')
    return (f'<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>'
            f'{escape(title)} | Kiosk</title>{head}<style>{STYLE}</style>'
            f'<script src="/kiosk.js" defer></script>'
            f'</head><body><nav>Kiosk</nav>{body}{overlay}</body></html>')


def search_page(term: str, first: list[Item], consented: bool) -> str:
    tiles = "".join(tile(i) for i in first)
    body = (f'<section class="hits"><p>Treffer für „{escape(term)}“</p>'
            f'<ul id="feed" data-query="{escape(term)}" data-offset="{len(first)}">{tiles}</ul>'
            f'<div id="feed-end" style="height:40px"></div></section>')
    return layout(f"{term}", body, consented)


def item_page(item: Item, consented: bool) -> str:
    head = f'<meta property="og:title" content="{escape(item.title)}">'
    if item.removed:
        body = (f'<div class="notice"><h2 class="item-name">{escape(item.title)}</h2>'
                f"<p>{GONE_TEXT}</p></div>")
        return layout(item.title, body, consented, head)
    pics = "".join(f'<img src="{src}" alt="" width="200" height="200">' for src in item.images)
    body = (f'<article class="sheet"><h2 class="item-name">{escape(item.title)}</h2>'
            f'<p class="offer"><span class="amount">{escape(item.price_text)}</span></p>'
            f'<div class="merchant">Verkäufer: <a href="/m/{item.merchant.replace(" ", "-")}">'
            f'{escape(item.merchant)}</a></div><div class="pics">{pics}</div></article>')
    return layout(item.title, body, consented, head)


def png(seed: str, size: int = 8) -> bytes:
    """A small solid PNG whose colour depends on `seed`."""
    r, g, b = zlib.crc32(seed.encode()).to_bytes(4, "big")[:3]
    raw = b"".join(b"\x00" + bytes((r, g, b)) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


SCRIPT = """
(function () {
  "use strict";
  var layer = document.querySelector(".cmp-layer");
  var consented = !layer;
  if (layer) {
    layer.querySelector("button").addEventListener("click", function () {
      document.cookie = "cmp=ok; path=/";
      layer.remove();
      consented = true;
      check();
    });
  }
  var feed = document.getElementById("feed");
  if (!feed) { return; }
  var loading = false, more = true;
  function check() {
    if (!consented || loading || !more) { return; }
    var end = document.getElementById("feed-end").getBoundingClientRect().top;
    if (end > window.innerHeight + 200) { return; }
    loading = true;
    var offset = Number(feed.dataset.offset);
    fetch("/feed?query=" + encodeURIComponent(feed.dataset.query) + "&offset=" + offset)
      .then(function (r) { return r.json(); })
      .then(function (data) {
        setTimeout(function () {
          data.tiles.forEach(function (html) { feed.insertAdjacentHTML("beforeend", html); });
          feed.dataset.offset = String(offset + data.tiles.length);
          more = data.more;
          loading = false;
        }, 150);
      });
  }
  window.addEventListener("scroll", check, { passive: true });
})();
"""
