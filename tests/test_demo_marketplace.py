"""Tests of the bundled demo marketplace: catalog, truth API, HTTP server, and (marked
``browser``) what a real Chromium sees after rendering."""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import struct
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

import pytest
import yaml
from parsel import Selector

from crawler.demo import DemoMarketplace, build_catalog, watchlist_path
from crawler.demo.data import Catalog

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def market() -> Iterator[DemoMarketplace]:
    with DemoMarketplace() as server:
        yield server


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET `url` without following the body's encoding; returns status, headers, raw bytes."""
    request = Request(url, headers=headers or {})
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def api_pages(market: DemoMarketplace, term: str) -> list[dict]:
    pages, page = [], 1
    while True:
        _, _, body = fetch(f"{market.base_url}/api/search?q={quote(term)}&page={page}")
        data = json.loads(body)
        pages.append(data)
        if page >= data["pages"]:
            return pages
        page += 1


# --- catalog -------------------------------------------------------------------------------


def test_catalog_is_deterministic() -> None:
    first, second = build_catalog(), build_catalog()
    assert first == second
    assert list(first.images) == list(second.images)
    for name in list(first.images)[:: len(first.images) // 7]:
        assert first.images[name] == second.images[name]
    other = build_catalog(seed=8)
    assert [x.title for x in other.listings] != [x.title for x in first.listings]


def test_listings_look_like_marketplace_listings() -> None:
    catalog = build_catalog()
    assert len(catalog.listings) == 360
    ids = [item.listing_id for item in catalog.listings]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"DM1\d{5}", listing_id) for listing_id in ids)
    assert all(3 <= len(item.images) <= 5 for item in catalog.listings)
    assert {item.currency for item in catalog.listings} == {"EUR", "USD", "GBP", "JPY", "CNY"}
    assert 5 <= sum(item.sponsored for item in catalog.listings) <= 15
    brands = Counter(item.brand for item in catalog.listings)
    assert {"Lumara", "Corvane", "Velisse", "Nordhaven", None} <= set(brands)
    assert all(item.seller.url == f"/seller/{item.seller.seller_id}" for item in catalog.listings)


PRICE_FORMATS = {
    "EUR": r"\d{1,3}([\u00a0\u202f]\d{3})*,\d{2}\u00a0€",
    "USD": r"US \$\d{1,3}(,\d{3})*\.\d{2}",
    "GBP": r"£\d{1,3}(,\d{3})*\.\d{2}",
    "JPY": r"[￥¥]\d{1,3}(,\d{3})*",
    "CNY": r"CN¥\d{1,3}(,\d{3})*\.\d{2}",
}


def test_prices_are_printed_the_local_way() -> None:
    catalog = build_catalog()
    for item in catalog.listings:
        assert re.fullmatch(PRICE_FORMATS[item.currency], item.price_text), item.price_text
        digits = re.sub(r"\D", "", item.price_text)
        assert int(digits) == int(item.price * (1 if item.currency == "JPY" else 100))
    texts = [item.price_text for item in catalog.listings]
    assert any("\u00a0" in t[:-2] for t in texts) or any("\u202f" in t for t in texts)
    assert all(item.price.as_tuple().exponent == 0 for item in catalog.listings
               if item.currency == "JPY")


def test_images_are_shared_between_listings() -> None:
    catalog = build_catalog()
    uses = Counter(name for item in catalog.listings for name in item.images)
    shared = [name for name, count in uses.items() if count > 1]
    assert any(name.startswith("brand-") for name in shared)
    assert any(name.startswith("stock-") for name in shared)
    assert set(uses) <= set(catalog.images)


def test_truth_search_matches_every_word_in_page_order() -> None:
    catalog = build_catalog()
    found = catalog.search("LUMARA  Handbag")
    assert found and all(
        "lumara" in x.title.lower() and "handbag" in x.title.lower() for x in found
    )
    keys = [(not x.sponsored, x.listing_id) for x in found]
    assert keys == sorted(keys)
    assert catalog.search("") == []
    assert catalog.get(found[0].listing_id) is found[0]
    assert catalog.get("DM000000") is None


def test_watchlist_yields_between_55_and_80_distinct_listings() -> None:
    catalog = build_catalog()
    watchlist = yaml.safe_load(watchlist_path().read_text(encoding="utf-8"))
    assert watchlist["version"] == 1 and watchlist["case"] == "DEMO-0001"
    settings = watchlist["settings"]
    shown = 12 * settings["max_pages"]
    per_term = min(shown, settings["max_listings"])
    seen: set[str] = set()
    kept: set[str] = set()  # skipping excluded titles, as the spider does
    for brand in watchlist["brands"]:
        assert brand["marketplaces"] == ["demo"]
        excluded = [term.lower() for term in brand.get("exclude_terms", [])]
        for term in brand["terms"]:
            found = catalog.search(term)
            seen.update(x.listing_id for x in found[:per_term])
            wanted = [x for x in found[:shown] if not any(e in x.title.lower() for e in excluded)]
            kept.update(x.listing_id for x in wanted[: settings["max_listings"]])
    assert 55 <= len(kept) <= len(seen) <= 80
    assert (len(seen), len(kept)) == (76, 74)  # the numbers the watchlist's comment states


# --- server --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        DemoMarketplace(build_catalog(listings=5), host=host)
    DemoMarketplace(build_catalog(listings=5), host=host, allow_non_loopback=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    DemoMarketplace(build_catalog(listings=5), host=host)


def test_truth_order_equals_api_order_across_pages(market: DemoMarketplace) -> None:
    for term in ("lumara", "corvane watch", "Velisse"):
        pages = api_pages(market, term)
        truth = [x.listing_id for x in market.catalog.search(term)]
        assert [r["listing_id"] for p in pages for r in p["results"]] == truth
        assert len(pages) > 1
        assert all(len(p["results"]) == market.page_size for p in pages[:-1])


def test_api_result_fields(market: DemoMarketplace) -> None:
    first = api_pages(market, "lumara")[0]
    item = market.catalog.search("lumara")[0]
    result = first["results"][0]
    assert result == {
        "listing_id": item.listing_id,
        "title": item.title,
        "price_text": item.price_text,
        "url": f"/item/{item.listing_id}",
        "image": f"/img/{item.images[0]}.png",
        "seller": {"id": item.seller.seller_id, "name": item.seller.name,
                   "url": item.seller.url},
        "sponsored": item.sponsored,
    }
    assert result["sponsored"] is True  # Lumara has sponsored listings, and they come first


def test_pagination_fields(market: DemoMarketplace) -> None:
    total = len(market.catalog.search("lumara"))
    pages = api_pages(market, "lumara")
    assert [(p["term"], p["page"], p["total"]) for p in pages] == [
        ("lumara", n, total) for n in range(1, len(pages) + 1)
    ]
    assert pages[0]["pages"] == len(pages) == math.ceil(total / market.page_size)
    _, _, body = fetch(f"{market.base_url}/api/search?q=lumara&page={len(pages) + 1}")
    assert json.loads(body)["results"] == []
    _, _, body = fetch(f"{market.base_url}/api/search?q=nosuchbrandxyz&page=1")
    assert json.loads(body) == {
        "term": "nosuchbrandxyz", "page": 1, "pages": 1, "total": 0, "results": []
    }
    for bad in ("0", "-1", "two"):
        assert fetch(f"{market.base_url}/api/search?q=lumara&page={bad}")[0] == 400
        assert fetch(f"{market.base_url}/search?q=lumara&page={bad}")[0] == 400


def test_search_html_contains_no_results(market: DemoMarketplace) -> None:
    status, headers, body = fetch(f"{market.base_url}/search?q=lumara&page=1")
    html = body.decode("utf-8")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "/item/" not in html and "data-listing-id" not in html
    assert 'id="results"' in html and "/static/app.js" in html
    selector = Selector(text=html)
    assert selector.css("#results .result").get() is None
    assert selector.css("a.pagination-next").get() is None


def test_hostile_term_is_escaped(market: DemoMarketplace) -> None:
    term = '<script>alert(1)</script>"&'
    _, _, body = fetch(f"{market.base_url}/search?q={quote(term)}&page=1")
    html = body.decode("utf-8")
    assert "<script>alert(1)" not in html and "alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;" in html
    state = Selector(text=html).css("#search-state::text").get()
    assert state is not None and "<" not in state and ">" not in state and "&" not in state
    assert json.loads(state)["term"] == term
    api = json.loads(fetch(f"{market.base_url}/api/search?q={quote(term)}&page=1")[2])
    assert api["term"] == term and api["total"] == 0


def test_item_page(market: DemoMarketplace) -> None:
    item = next(x for x in market.catalog.listings if x.currency == "EUR" and x.brand)
    status, _, body = fetch(f"{market.base_url}/item/{item.listing_id}")
    page = Selector(text=body.decode("utf-8"))
    assert status == 200
    assert page.css("h1::text").get() == item.title
    assert page.css(".price::text").get() == item.price_text
    assert page.css("[itemprop=price]::attr(content)").get() == str(item.price)
    assert page.css("[itemprop=priceCurrency]::attr(content)").get() == "EUR"
    assert page.css("link[rel=canonical]::attr(href)").get() == market.base_url + item.url
    assert page.css(".seller a::attr(href)").get() == item.seller.url
    assert page.css(".seller a::text").get() == item.seller.name
    gallery = page.css(".gallery img")
    assert gallery.xpath("@data-src").getall() == item.image_urls
    assert gallery.xpath("@src").getall() == []
    product = json.loads(page.css("script[type='application/ld+json']::text").get() or "")
    assert product["@type"] == "Product" and product["sku"] == item.listing_id
    assert product["name"] == item.title and product["brand"]["name"] == item.brand
    assert product["image"] == [market.base_url + url for url in item.image_urls]
    assert product["offers"]["price"] == str(item.price)
    assert product["offers"]["priceCurrency"] == "EUR"
    assert product["offers"]["seller"]["name"] == item.seller.name


def test_hostile_title_cannot_close_the_jsonld_script() -> None:
    catalog = build_catalog(listings=3)
    item = catalog.listings[0]
    hostile = type(item)(**{**item.__dict__, "title": '</script><img src=x onerror=alert(1)>'})
    evil = Catalog((hostile, *catalog.listings[1:]), catalog.sellers, catalog.images)
    with DemoMarketplace(evil) as server:
        html = fetch(f"{server.base_url}/item/{item.listing_id}")[2].decode("utf-8")
    assert "<img src=x" not in html and html.count("</script>") == 3  # consent, item, json-ld
    product = json.loads(Selector(text=html).css("script[type='application/ld+json']::text").get())
    assert product["name"] == hostile.title


def test_consent_overlay_unless_cookie(market: DemoMarketplace) -> None:
    for path in ("/", "/search?q=lumara&page=1", f"/item/{market.catalog.listings[0].listing_id}"):
        plain = fetch(market.base_url + path)[2].decode("utf-8")
        assert 'id="consent"' in plain and 'id="consent-accept"' in plain
        assert 'class="consent-pending"' in plain
        accepted = fetch(market.base_url + path, {"Cookie": "consent=yes"})[2].decode("utf-8")
        assert 'id="consent"' not in accepted and "consent-pending" not in accepted


def test_unknown_listing_is_404(market: DemoMarketplace) -> None:
    for listing_id in ("DM000001", "no-such<id>"):
        status, headers, body = fetch(f"{market.base_url}/item/{quote(listing_id)}")
        assert status == 404 and headers["Content-Type"].startswith("text/html")
        assert "This listing is no longer available" in body.decode("utf-8")
    assert fetch(f"{market.base_url}/nowhere")[0] == 404
    assert fetch(f"{market.base_url}/seller/S999")[0] == 404
    assert fetch(f"{market.base_url}/img/nothing.png")[0] == 404


@pytest.mark.parametrize(
    "path", ["/", "/search?q=lumara&page=1", "/api/search?q=lumara&page=1", "/static/app.js",
             "/item/DM100006"]
)
def test_gzip_when_asked(market: DemoMarketplace, path: str) -> None:
    status, plain_headers, plain = fetch(market.base_url + path)
    assert status == 200 and "Content-Encoding" not in plain_headers
    assert plain_headers["Vary"] == "Accept-Encoding"
    assert int(plain_headers["Content-Length"]) == len(plain)
    _, headers, packed = fetch(market.base_url + path, {"Accept-Encoding": "br, gzip;q=0.8"})
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(packed) < len(plain)
    assert gzip.decompress(packed) == plain
    _, refused, _ = fetch(market.base_url + path, {"Accept-Encoding": "gzip;q=0, br"})
    assert "Content-Encoding" not in refused


def test_realistic_headers(market: DemoMarketplace) -> None:
    _, headers, _ = fetch(market.base_url + "/api/search?q=lumara&page=1")
    assert headers["Server"] == "demo-marketplace"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", headers["Date"])
    status, robots_headers, robots = fetch(market.base_url + "/robots.txt")
    assert status == 200 and robots == b"User-agent: *\nAllow: /\n"
    assert robots_headers["Content-Type"] == "text/plain; charset=utf-8"
    head = urlopen(Request(market.base_url + "/", method="HEAD"), timeout=10)
    with head:
        assert head.read() == b"" and int(head.headers["Content-Length"]) > 0


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Check signature and chunk CRCs; return width, height and the inflated pixel data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2) and b"IEND" in chunks
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_images_are_valid_pngs(market: DemoMarketplace) -> None:
    item = market.catalog.listings[3]
    etags = set()
    for url in item.image_urls:
        status, headers, data = fetch(market.base_url + url)
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert "Content-Encoding" not in headers and "max-age" in headers["Cache-Control"]
        assert int(headers["Content-Length"]) == len(data)
        assert 5_000 <= len(data) <= 30_000
        width, height, pixels = read_png(data)
        assert (width, height) == (320, 320) and len(pixels) == height * (1 + 3 * width)
        assert len(set(pixels[1 : 1 + 3 * width])) > 2  # a visible pattern, not one colour
        etags.add(headers["ETag"])
        assert fetch(market.base_url + url, {"If-None-Match": headers["ETag"]})[0] == 304
    assert len(etags) == len(item.image_urls)


def test_shared_image_is_served_once_per_url(market: DemoMarketplace) -> None:
    uses = Counter(name for item in market.catalog.listings for name in item.images)
    name = next(name for name, count in uses.items() if count > 1)
    first = fetch(f"{market.base_url}/img/{name}.png")[2]
    assert first == market.catalog.images[name]


def test_request_log(market: DemoMarketplace) -> None:
    market.clear_request_log()
    fetch(market.base_url + "/search?q=corvane%20watch&page=2")
    assert market.request_log == [("GET", "/search?q=corvane%20watch&page=2")]


def test_seller_page_lists_its_listings(market: DemoMarketplace) -> None:
    seller = market.catalog.sellers[0]
    page = Selector(text=fetch(market.base_url + seller.url)[2].decode("utf-8"))
    assert page.css("h1::text").get() == seller.name
    expected = [x.url for x in market.catalog.listings_of(seller.seller_id)]
    assert page.css(".seller-items a::attr(href)").getall() == expected


def test_module_runs_in_the_foreground() -> None:
    command = [sys.executable, "-m", "crawler.demo.server", "--port", "0", "--listings", "20"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url is not None, line
        assert fetch(url.group(0) + "/robots.txt")[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# --- browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("MARKWATCH_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.skip(f"no Chromium at {executable}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
def test_browser_renders_the_truth_first_page(market: DemoMarketplace, chromium) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{market.base_url}/search?q=lumara&page=1")
        assert page.locator("#consent").is_visible()
        page.click("#consent-accept")
        page.wait_for_selector('body[data-ready="1"]', timeout=10_000)
        assert page.locator("#consent").count() == 0
        ids = page.eval_on_selector_all(
            "#results .result", "nodes => nodes.map(n => n.dataset.listingId)"
        )
        truth = market.catalog.search("lumara")[: market.page_size]
        assert ids == [x.listing_id for x in truth]
        sponsored = page.eval_on_selector_all(
            "#results .result.sponsored .ad-slot", "nodes => nodes.length"
        )
        assert sponsored == sum(x.sponsored for x in truth) > 0
        assert page.get_attribute("a.pagination-next", "href") == "/search?q=lumara&page=2"
        assert {"name": "consent", "value": "yes"}.items() <= context.cookies()[0].items()
    finally:
        context.close()


@pytest.mark.browser
def test_browser_loads_lazy_images_when_scrolled(market: DemoMarketplace, chromium) -> None:
    item = next(x for x in market.catalog.listings if len(x.images) == 5)
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(market.base_url + item.url)
        page.click("#consent-accept")
        page.wait_for_function("document.querySelector('.gallery img').getAttribute('src')")
        last = page.locator(".gallery img").last
        box = last.bounding_box()
        assert box is not None and box["y"] > 720
        assert last.get_attribute("src") is None
        for _ in range(12):
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(50)
        page.wait_for_function(
            "[...document.querySelectorAll('.gallery img')]"
            ".every(img => img.getAttribute('src') && img.complete && img.naturalWidth === 320)",
            timeout=10_000,
        )
        sources = page.eval_on_selector_all(".gallery img", "nodes => nodes.map(n => n.src)")
        assert sources == [market.base_url + url for url in item.image_urls]
    finally:
        context.close()
