"""Drift: a local test marketplace whose markup changes under a running crawler.

`/search?q=` lists every item (the second one sponsored, marked `.ad`); `/item/<sku>` shows
title, price and seller. An admin switch (`Drift.layout = 2`, or `GET /__admin/layout?v=2`
from 127.0.0.1) turns on the redesigned listing page: no JSON-LD, the seller no longer a link
in `.seller` but a plain `<div class="mrc-name">`, as marketplaces do between two runs.
A separate switch (`Drift.search_layout`, or `GET /__admin/layout?search=N`) redesigns the
search page: layout 2 draws the results as `div.tile` cards with a text-less "promoted" badge
(the recipe's `li.hit` finds nothing; the repeated-card layer still finds the cards but not
the adverts), layout 3 also links each card through `/v/<sku>` (no layer finds the results
any more). `/v/<sku>` serves the item page too.
Stdlib only; listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Item:
    sku: str
    title: str
    price: Decimal
    seller: str
    sponsored: bool = False

    @property
    def price_text(self) -> str:
        return f"{self.price:.2f}".replace(".", ",") + " \u20ac"


ITEMS = tuple(
    Item(f"dr{n:04d}", f"Lumara Drift Bag {n}", Decimal(f"{40 + n}.50"), f"Seller {n % 3}",
         sponsored=n == 2)
    for n in range(1, 7)
)


def search_page(items: tuple[Item, ...]) -> str:
    rows = "".join(
        f'<li class="hit"><a class="hit-link" href="/item/{i.sku}">{escape(i.title)}</a>'
        + ('<span class="ad">Sponsored</span>' if i.sponsored else "") + "</li>"
        for i in items)
    return f"<!doctype html><html><head><title>Search</title></head><body><ul>{rows}</ul>" \
           "</body></html>"


def tiles_page(items: tuple[Item, ...], layout: int) -> str:
    """The redesigned search page (layouts 2 and 3, see the module doc)."""
    prefix = "/item/" if layout == 2 else "/v/"
    cards = "".join(
        f'<div class="tile"><a class="tile-link" href="{prefix}{i.sku}">'
        f'<span class="tile-name">{escape(i.title)}</span></a>'
        f'<span class="tile-price">{escape(i.price_text)}</span>'
        + ('<i class="promo-badge" title="Promoted"></i>' if i.sponsored else "") + "</div>"
        for i in items)
    return ("<!doctype html><html><head><title>Search</title></head><body>"
            f'<main><section class="grid">{cards}</section></main></body></html>')


def item_page(item: Item, layout: int) -> str:
    if layout == 1:
        ld = {"@context": "https://schema.org", "@type": "Product", "name": item.title,
              "offers": {"@type": "Offer", "price": str(item.price), "priceCurrency": "EUR",
                         "seller": {"@type": "Organization", "name": item.seller}}}
        head = f'<script type="application/ld+json">{json.dumps(ld)}</script>'
        seller = (f'<p class="seller">Sold by <a href="/seller/{item.seller[-1]}">'
                  f"{escape(item.seller)}</a></p>")
    else:
        head = ""
        seller = f'<div class="mrc-box"><div class="mrc-name">{escape(item.seller)}</div></div>'
    return (f"<!doctype html><html><head><title>{escape(item.title)}</title>{head}</head><body>"
            f'<h1 class="name">{escape(item.title)}</h1>'
            f'<p class="price">{escape(item.price_text)}</p>{seller}</body></html>')


class Drift:
    """The Drift marketplace on 127.0.0.1 (a free port)."""

    def __init__(self) -> None:
        self.layout = 1
        self.search_layout = 1
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> Drift:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body = site.answer(parts.path, parse_qs(parts.query))
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str]:
        if path == "/__admin/layout":
            if "search" in query:
                self.search_layout = {"2": 2, "3": 3}.get(query["search"][0], 1)
                return 200, f"search layout {self.search_layout}"
            self.layout = 2 if query.get("v") == ["2"] else 1
            return 200, f"layout {self.layout}"
        if path == "/search":
            if self.search_layout > 1:
                return 200, tiles_page(ITEMS, self.search_layout)
            return 200, search_page(ITEMS)
        if path.startswith(("/item/", "/v/")):
            sku = path.rsplit("/", 1)[-1]
            item = next((i for i in ITEMS if i.sku == sku), None)
            if item is not None:
                return 200, item_page(item, self.layout)
        if path == "/robots.txt":
            return 200, ""
        return 404, "<html><body><h1>Not found</h1></body></html>"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Drift:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
