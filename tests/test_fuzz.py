"""Property-based tests (Hypothesis, a fixed budget, derandomized): whatever a watchlist, a price
text, a selector or a page holds, the parser ends in a result or a clear error, never in a
traceback or a hang."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsel import Selector

from crawler.exceptions import ConfigError
from crawler.prices import detect_currency, parse_amount, parse_price, parse_price_range
from crawler.selectors import compile_selector, evaluate, extract_all
from crawler.watchlist import Watchlist, parse_watchlist
from spiders.pages import page_class
from spiders.pages.base import ListingPage, SearchPage

BUDGET = settings(max_examples=60, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MARKETS = ("alibaba", "aliexpress", "amazon", "demo", "dhgate", "ebay", "etsy", "jd", "lazada",
           "1688", "mercadolibre", "rakuten", "taobao", "tmall", "walmart")

# -- the watchlist loader ------------------------------------------------------------------------

_words = st.sampled_from(["version", "case", "settings", "brands", "marketplaces", "name",
                          "terms", "exclude_terms", "msrp", "currency", "min", "max",
                          "schedule", "store", "catalog", "max_pages", "max_listings",
                          "obey_robots", "egress", "allow", "base_url", "search_url", "search",
                          "listing", "result", "link", "fields", "title", "price", "demo"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**30),
                     st.floats(allow_nan=True), st.text(max_size=30), _words)
_trees = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(_words, st.text(max_size=8)),
                                                 inner, max_size=5)), max_leaves=40)


def _loads(text: str) -> Watchlist | None:
    try:
        return parse_watchlist(text, "fuzz.yaml", ["demo"])
    except ConfigError as exc:  # WatchlistError included: a clear message naming the file
        assert str(exc).startswith("fuzz.yaml"), str(exc)
        return None


@BUDGET
@given(st.text(max_size=400))
def test_any_text_is_a_watchlist_or_a_clear_error(text: str) -> None:
    _loads(text)


@BUDGET
@given(_trees)
def test_any_yaml_document_is_a_watchlist_or_a_clear_error(tree: object) -> None:
    document = {"version": 1, "brands": tree} if not isinstance(tree, dict) else tree
    _loads(yaml.safe_dump(document, allow_unicode=True))


@BUDGET
@given(st.integers(1, 40), st.integers(1, 6), st.sampled_from(["brands", "settings"]))
def test_nested_merge_keys_end_fast_whatever_their_shape(levels: int, width: int,
                                                         where: str) -> None:
    lines = ["version: 1", "brands:", "  - &b0 {name: B0, terms: [x], marketplaces: [demo]}"]
    for i in range(1, levels):
        refs = ", ".join([f"*b{i - 1}"] * width)
        lines.append(f"  - &b{i} {{<<: [{refs}], name: B{i}}}")
    if where == "settings":
        lines.append(f"settings: {{<<: *b{levels - 1}}}")
    started = time.monotonic()
    _loads("\n".join(lines) + "\n")
    assert time.monotonic() - started < 30  # a bound, not a timing claim: hours unbounded


def test_the_merge_key_bomb_is_refused_with_a_clear_message() -> None:
    lines = ["version: 1", "brands:", "  - &b0 {name: B0, terms: [x], marketplaces: [demo]}"]
    for i in range(1, 40):
        lines.append(f"  - &b{i} {{<<: [*b{i - 1}, *b{i - 1}, *b{i - 1}], name: B{i}}}")
    text = "\n".join(lines) + "\n"
    assert len(text) < 2000
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        parse_watchlist(text, "bomb.yaml", ["demo"])
    elapsed = time.monotonic() - started
    print(f"merge-key bomb of {len(text)} bytes refused in {elapsed * 1000:.1f} ms")
    assert str(caught.value).startswith("bomb.yaml:")
    assert "merge keys (<<)" in str(caught.value)


def test_a_recursive_anchor_is_refused() -> None:
    text = "version: 1\nbrands:\n  - &b {name: B, terms: [x], marketplaces: [demo], <<: *b}\n"
    with pytest.raises(ConfigError, match="merge keys"):
        parse_watchlist(text, "loop.yaml", ["demo"])


# -- prices ----------------------------------------------------------------------------------

_price_chars = st.text(alphabet="0123456789.,' \u00a0\u202f-\u2013~$€£¥￥₩₹kKrRsSUDEURJPYCN元円to",
                       max_size=60)


@BUDGET
@given(st.one_of(_price_chars, st.text(max_size=200)),
       st.one_of(st.none(), st.sampled_from(["USD", "EUR", "JPY", "CNY", "KWD", "SEK", "x"])))
def test_any_price_text_is_a_price_or_none(text: str, hint: str | None) -> None:
    for money in (parse_price(text, hint), *(parse_price_range(text, hint) or ())):
        if money is not None:
            assert isinstance(money.amount, Decimal) and money.amount.is_finite()
            assert len(money.currency) == 3
    amount = parse_amount(text)
    assert amount is None or amount.is_finite()
    detect_currency(text, hint)


def test_a_huge_price_text_is_read_only_so_far() -> None:
    assert parse_price("€ " + "9" * 100_000) is None  # not a price: no traceback, no hang
    assert parse_price("1" * 10**6 + " €") is None
    assert parse_price("€ 12,50" + " x" * 10**6) is not None


# -- the selector language -------------------------------------------------------------------

_selector_text = st.one_of(
    st.text(max_size=40),
    st.builds(lambda p, e: f"{p}:{e}", st.sampled_from(["xpath", "jsonld", "meta", "text"]),
              st.text(max_size=30)),
    st.sampled_from(["h1::text", "a::attr(href)", "//div[@id]", "xpath://a/@href",
                     "jsonld:offers.price", "meta:og:title", "text:gone", "div > p:nth-child(2)",
                     "xpath:count(//a)", "xpath://*[", "::text", "a[href$=x]::attr(href)"]),
)
_tags = st.sampled_from(["div", "p", "a", "span", "h1", "li", "ul", "script", "meta", "img"])


def _html(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        tag = draw(_tags)
        attrs = draw(st.dictionaries(st.sampled_from(["class", "id", "href", "src", "itemprop",
                                                      "content", "property", "type",
                                                      "data-src"]),
                                     st.text(max_size=15), max_size=3))
        attr = "".join(f' {k}="{v.replace(chr(34), "")}"' for k, v in attrs.items())
        body = draw(st.text(max_size=30))
        if tag == "script" and draw(st.booleans()):
            attr = ' type="application/ld+json"'
            body = json.dumps(draw(_trees))
        parts.append(f"<{tag}{attr}>{body}</{tag}>")
    return "<html><body>" + "".join(parts) + "</body></html>"


html_documents = st.composite(_html)()


@BUDGET
@given(_selector_text, html_documents)
def test_any_selector_compiles_or_says_why_and_evaluates_on_any_page(text: str,
                                                                      html: str) -> None:
    try:
        spec = compile_selector(text)
    except ValueError as exc:
        assert str(exc)
        return
    values = evaluate(Selector(text=html), spec)
    assert all(isinstance(v, str) for v in values)


def test_deep_and_huge_inputs_end_in_a_result() -> None:
    deep_json = "[" * 200_000 + "]" * 200_000
    deep_html = "<div>" * 20_000 + "x" + "</div>" * 20_000
    page = (f'<html><head><script type="application/ld+json">{deep_json}</script></head>'
            f"<body>{deep_html}</body></html>")
    sel = Selector(text=page)
    assert extract_all(sel, compile_selector("jsonld:offers.price")) == []
    assert isinstance(extract_all(sel, compile_selector("div::text")), list)
    with pytest.raises(ValueError, match="at most"):
        compile_selector("a" * 100_000)


# -- page objects ------------------------------------------------------------------------------


@BUDGET
@given(st.sampled_from(MARKETS), html_documents, st.sampled_from([200, 404, 429, 503]))
def test_every_page_object_reads_any_page(market: str, html: str, status: int) -> None:
    url = f"https://{market}.example/item/1?q=x"
    search = page_class(market, "search")(url, html, status, {})
    listing = page_class(market, "listing")(url, html.encode(), status, {})
    assert isinstance(search, SearchPage) and isinstance(listing, ListingPage)
    search.block()
    assert isinstance(search.results(), list)
    search.next_page_url()
    listing.listing()
