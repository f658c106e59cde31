"""The dedicated marketplace spiders, offline: saved real pages fed to their callbacks.

Responses are built with Scrapy's `HtmlResponse` from `tests/pages/<site>/<case>/page.html.gz`
and given to `parse_search` / `parse_listing`; what comes out (captures, listing requests,
the next search page) is checked. Nothing is fetched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

import crawler.settings as project
from crawler.evidence.manifest import CaptureItem, FailureItem
from crawler.middlewares.timing import STARTED_META
from crawler.registry import known_marketplaces
from crawler.runs.runner import project_settings
from spiders.base import MarketplaceSpider
from spiders.pages import page_class

PAGES = Path(__file__).parent / "pages"
SITES = {
    "aliexpress": "AliexpressSpider", "alibaba": "AlibabaSpider", "1688": "M1688Spider",
    "taobao": "TaobaoSpider", "tmall": "TmallSpider", "dhgate": "DhgateSpider",
    "ebay": "EbaySpider", "amazon": "AmazonSpider", "etsy": "EtsySpider",
    "walmart": "WalmartSpider", "mercadolibre": "MercadolibreSpider", "lazada": "LazadaSpider",
    "jd": "JdSpider", "rakuten": "RakutenSpider",
}
"""Spider name -> class, for every dedicated site (the module is `spiders/<module>.py`)."""


def spider_class(name: str) -> type[MarketplaceSpider]:
    import importlib

    module = importlib.import_module(f"spiders.{'m1688' if name == '1688' else name}")
    cls = getattr(module, SITES[name])
    assert issubclass(cls, MarketplaceSpider) and cls.name == name
    return cls


def make_spider(tmp_path: Path, name: str, **kwargs: Any) -> tuple[Crawler, MarketplaceSpider]:
    settings = {k: getattr(project, k) for k in dir(project) if k.isupper()}
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings.update(STORAGE_URI=f"file://{tmp_path}/store", **kwargs.pop("settings", {}))
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(
        "version: 1\nsettings: {max_pages: 3, max_listings: 5}\nbrands:\n"
        f"  - name: Lumara\n    terms: [lumara handbag]\n    marketplaces: ['{name}']\n",
        encoding="utf-8")
    crawler = get_crawler(spider_class(name), settings)
    spider = crawler._create_spider(watchlist=str(watchlist), **kwargs)
    assert isinstance(spider, MarketplaceSpider)
    crawler.spider = spider
    return crawler, spider


def fixture(case: str) -> tuple[str, bytes, dict[str, Any]]:
    folder = PAGES / case
    meta = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    return meta["url"], gzip.decompress((folder / "page.html.gz").read_bytes()), meta


def respond(request: Request, body: bytes, status: int = 200,
            headers: dict[str, str] | None = None, url: str | None = None) -> HtmlResponse:
    request.meta[STARTED_META] = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return HtmlResponse(url or request.url, status=status, body=body, headers=headers,
                        request=request, encoding="utf-8")


def drive(callback: Any, response: HtmlResponse) -> list[Any]:
    async def collect() -> list[Any]:
        return [item async for item in callback(response)]

    return asyncio.run(collect())


def search_response(spider: MarketplaceSpider, case: str) -> HtmlResponse:
    url, body, meta = fixture(case)
    request = spider._search_request(spider.states[0], 1, url)
    return respond(request, body, meta.get("status", 200), meta.get("headers"))


# -- registry ---------------------------------------------------------------------------------


def test_every_site_is_a_known_marketplace() -> None:
    names = known_marketplaces(project_settings())
    assert set(SITES) <= set(names)
    assert "demo" in names and "recipe" not in names


@pytest.mark.parametrize("name", sorted(SITES))
def test_every_site_has_page_objects_and_a_search_url(tmp_path: Path, name: str) -> None:
    _, spider = make_spider(tmp_path, name)
    assert page_class(name, "search") and page_class(name, "listing")
    first = spider.search_url("lumara handbag", 1)
    second = spider.search_url("lumara handbag", 2)
    assert first.startswith("https://") and first != second
    assert "lumara" in first
    assert spider.render_listing  # listings are rendered: screenshot and product photos


def test_rendering_is_declared_per_page_kind(tmp_path: Path) -> None:
    plain = {n for n in SITES if not make_spider(tmp_path / n, n)[1].render_search}
    assert {"ebay", "amazon", "walmart", "mercadolibre"} <= plain
    assert not {"aliexpress", "taobao", "1688", "lazada"} & plain
    _, ebay = make_spider(tmp_path / "e", "ebay")
    request = ebay._search_request(ebay.states[0], 1, ebay.search_url("x", 1))
    assert "playwright" not in request.meta  # plain Scrapy download, body kept as received
    listing = ebay._listing_request(ebay.states[0], "https://www.ebay.com/itm/1234567")
    assert listing.meta["playwright"] is True


# -- country sites ------------------------------------------------------------------------------


def test_ebay_site_from_argument_and_setting(tmp_path: Path) -> None:
    _, default = make_spider(tmp_path / "a", "ebay")
    assert default.search_url("x y", 1).startswith("https://www.ebay.com/sch/i.html?_nkw=x+y")
    _, by_setting = make_spider(tmp_path / "b", "ebay", settings={"EBAY_SITE": "co.uk"})
    assert by_setting.search_url("x", 2) == "https://www.ebay.co.uk/sch/i.html?_nkw=x&_pgn=2"
    _, by_arg = make_spider(tmp_path / "c", "ebay", site="de",
                            settings={"EBAY_SITE": "co.uk"})
    assert by_arg.search_url("x", 1).startswith("https://www.ebay.de/")


def test_amazon_and_mercadolibre_sites(tmp_path: Path) -> None:
    _, amazon = make_spider(tmp_path / "a", "amazon", settings={"AMAZON_SITE": "co.jp"})
    assert amazon.search_url("x", 1).startswith("https://www.amazon.co.jp/s?k=x")
    _, meli = make_spider(tmp_path / "m", "mercadolibre", site="com.br")
    assert meli.search_url("jogo ps4", 1) == "https://lista.mercadolivre.com.br/jogo-ps4"
    assert "_Desde_49_" in meli.search_url("jogo ps4", 2)


# -- search callbacks on saved pages ------------------------------------------------------------


@pytest.mark.parametrize(("name", "case", "paginates"), [
    ("ebay", "ebay/search-1", True),
    ("ebay", "ebay/search-3", True),
    ("amazon", "amazon/search-1", True),
    ("walmart", "walmart/search-1", True),
    ("mercadolibre", "mercadolibre/search-1", True),
    ("lazada", "lazada/search-1", True),
    ("jd", "jd/search-1", True),
    ("taobao", "taobao/search-1", True),
    ("alibaba", "alibaba/search-1", None),
    ("aliexpress", "aliexpress/search-1", None),
    ("1688", "1688/search-1", None),
])
def test_search_page_gives_capture_listings_and_next_page(
        tmp_path: Path, name: str, case: str, paginates: bool | None) -> None:
    _, spider = make_spider(tmp_path, name)
    out = drive(spider.parse_search, search_response(spider, case))
    captures = [o for o in out if isinstance(o, CaptureItem)]
    requests = [o for o in out if isinstance(o, Request)]
    assert len(captures) == 1 and captures[0].kind == "search"
    assert captures[0].results, "a real results page is never 'no results'"
    listing_requests = [r for r in requests if r.meta["page_kind"] == "listing"]
    assert len(listing_requests) == spider.max_listings == 5
    results = {r.url for r in captures[0].results if not r.placeholder}
    assert {r.url for r in listing_requests} <= results
    assert all(r.meta.get("playwright") == spider.render_listing for r in listing_requests)
    if paginates:
        # max_listings reached on the first page: no further page needed
        assert not [r for r in requests if r.meta["page_kind"] == "search"]


@pytest.mark.parametrize(("name", "case"), [
    ("walmart", "walmart/search-1"),  # no next link in the page object: page + 1
    ("lazada", "lazada/search-1"),
    ("ebay", "ebay/search-1"),
    ("amazon", "amazon/search-1"),
])
def test_pagination_follows_next_link_or_counts_pages(
        tmp_path: Path, name: str, case: str) -> None:
    _, spider = make_spider(tmp_path, name)
    spider.max_listings = 1000
    response = search_response(spider, case)
    page = spider.search_page(response.url, response.body, 200, {})
    out = drive(spider.parse_search, response)
    nexts = [o for o in out if isinstance(o, Request) and o.meta["page_kind"] == "search"]
    assert len(nexts) == 1
    assert nexts[0].meta["search_page"] == 2
    expected = page.next_page_url() or spider.search_url("lumara handbag", 2)
    assert nexts[0].url == expected


def test_last_page_and_max_pages_stop_pagination(tmp_path: Path) -> None:
    _, spider = make_spider(tmp_path, "walmart")
    spider.max_listings, spider.max_pages = 1000, 1
    out = drive(spider.parse_search, search_response(spider, "walmart/search-1"))
    assert not [o for o in out if isinstance(o, Request) and o.meta["page_kind"] == "search"]


# -- blocks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "case", "kind"), [
    ("ebay", "ebay/blocked-1", "bot-wall"),
    ("amazon", "amazon/blocked-1", "bot-wall"),
    ("aliexpress", "aliexpress/blocked-1", "captcha"),
    ("etsy", "etsy/blocked-1", "captcha"),
    ("walmart", "walmart/blocked-1", "captcha"),
    ("jd", "jd/blocked-1", "rate-limit"),
])
def test_blocked_search_page_is_a_blocked_capture(
        tmp_path: Path, name: str, case: str, kind: str) -> None:
    crawler, spider = make_spider(tmp_path, name)
    out = drive(spider.parse_search, search_response(spider, case))
    assert len(out) == 1 and isinstance(out[0], CaptureItem)
    capture = out[0]
    assert capture.kind == "blocked" and capture.block is not None
    assert capture.block.kind == kind and capture.block.reason
    assert capture.results == [] and capture.listing is None
    assert crawler.stats is not None
    assert crawler.stats.get_value("evidence/blocked") == 1
    assert crawler.stats.get_value(f"evidence/blocked/{kind}") == 1
    assert spider.backoff.consecutive == 1 and spider.backoff.delay > 0


@pytest.mark.parametrize(("name", "case"), [
    ("alibaba", "alibaba/blocked-1"),
    ("amazon", "amazon/blocked-2"),
])
def test_blocked_listing_page_is_never_listing_evidence(
        tmp_path: Path, name: str, case: str) -> None:
    _, spider = make_spider(tmp_path, name)
    url, body, _ = fixture(case)
    response = respond(spider._listing_request(spider.states[0], url), body)
    out = drive(spider.parse_listing, response)
    assert [o.kind for o in out] == ["blocked"]
    assert out[0].listing is None


def test_forbidden_without_markers_is_blocked_and_500_is_a_failure(tmp_path: Path) -> None:
    _, spider = make_spider(tmp_path, "rakuten")
    request = spider._search_request(spider.states[0], 1, spider.search_url("x", 1))
    out = drive(spider.parse_search, respond(request, b"<html><body>nope</body></html>", 403))
    assert out[0].kind == "blocked" and out[0].block.kind == "bot-wall"
    request = spider._listing_request(spider.states[0], "https://item.rakuten.co.jp/a/b/")
    out = drive(spider.parse_listing, respond(request, b"<html>gone</html>", 404))
    assert out[0].kind == "gone"
    request = spider._listing_request(spider.states[0], "https://item.rakuten.co.jp/a/c/")
    out = drive(spider.parse_listing, respond(request, b"<html>oops</html>", 500))
    assert isinstance(out[0], FailureItem) and "500" in out[0].reason


# -- listing callbacks on saved pages -----------------------------------------------------------


@pytest.mark.parametrize(("name", "case"), [
    ("ebay", "ebay/item-1"), ("amazon", "amazon/item-1"), ("aliexpress", "aliexpress/item-1"),
    ("alibaba", "alibaba/item-1"), ("taobao", "taobao/item-1"), ("tmall", "tmall/item-1"),
    ("dhgate", "dhgate/item-2"), ("etsy", "etsy/item-1"), ("walmart", "walmart/item-1"),
    ("mercadolibre", "mercadolibre/item-1"), ("rakuten", "rakuten/item-1"),
])
def test_listing_page_gives_listing_capture(tmp_path: Path, name: str, case: str) -> None:
    _, spider = make_spider(tmp_path, name)
    url, body, _ = fixture(case)
    out = drive(spider.parse_listing, respond(spider._listing_request(spider.states[0], url),
                                              body))
    assert len(out) == 1 and out[0].kind == "listing"
    listing = out[0].listing
    assert listing is not None and listing.marketplace == name and listing.title
    names = [a.name for a in out[0].artifacts]
    assert "listing.json" in names and "dom.html" in names
    dom = next(a for a in out[0].artifacts if a.name == "dom.html")
    assert dom.data == body  # an unrendered page is kept exactly as received


def test_1688_and_dhgate_pages_without_saved_fixtures() -> None:
    listing_cls = page_class("1688", "listing")
    html = ('<html lang="zh"><head><meta property="og:title" content="日用品 收纳盒">'
            '<meta property="og:image" content="//cbu01.alicdn.com/img/a.jpg"></head>'
            '<body><h1>日用品 收纳盒</h1><span itemprop="price">¥12.50</span></body></html>')
    listing = listing_cls("https://detail.1688.com/offer/712345678901.html", html).listing()
    assert listing.listing_id == "712345678901" and listing.title == "日用品 收纳盒"
    assert (listing.price, listing.currency) == (__import__("decimal").Decimal("12.50"), "CNY")
    search_cls = page_class("dhgate", "search")
    html = ('<ul><li class="item"><a href="/product/a-b/123456789.html" title="Bag A">'
            '<img src="//img.dhgate.com/1.jpg"></a><span>US $12.34</span></li>'
            '<li class="item"><a href="/product/a-b/123456789.html">again</a></li>'
            '<li class="item"><a href="https://www.dhgate.com/product/c/987654321.html">Bag C</a>'
            '</li></ul>')
    results = search_cls("https://www.dhgate.com/wholesale/search.do?searchkey=bag",
                         html).results()
    assert [r.listing_id for r in results] == ["123456789", "987654321"]
    assert results[0].title == "Bag A" and str(results[0].price) == "12.34"


def test_a_watchlist_may_name_every_site() -> None:
    from crawler.watchlist import parse_watchlist

    names = ", ".join(f"'{n}'" for n in sorted(SITES))
    text = f"version: 1\nbrands:\n  - name: B\n    terms: [x]\n    marketplaces: [{names}]\n"
    watchlist = parse_watchlist(text, "w.yaml", known_marketplaces(project_settings()))
    assert {w.marketplace for w in watchlist.watches()} == set(SITES)
