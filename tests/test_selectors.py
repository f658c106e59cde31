"""The recipe selector language: each form on a small page, fallbacks, and bad selectors."""

from __future__ import annotations

import re

import pytest
from parsel import Selector

from crawler.selectors import (
    compile_selector,
    evaluate,
    extract_all,
    extract_first,
    matches,
    playwright_selector,
    select,
    visible_text,
)

PAGE = """
<html><head>
  <title>Lumara bag</title>
  <meta name="description" content="  A   fine bag ">
  <meta property="og:image" content="https://img.example/og.jpg">
  <script type="application/ld+json">{"@context": "https://schema.org", "@type": "Organization",
    "name": "Bazaar Inc"}</script>
  <script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
    {"@type": "WebPage", "name": "page"},
    {"@type": ["Product", "Thing"], "name": "Lumara  Handbag", "sku": 1234,
     "brand": {"@type": "Brand", "name": "Lumara"},
     "image": ["https://img.example/1.jpg", "https://img.example/2.jpg"],
     "offers": [{"@type": "Offer", "price": 899.90, "priceCurrency": "EUR"},
                {"@type": "Offer", "price": 950.00, "priceCurrency": "EUR"}]}
  ]}</script>
  <script type="application/ld+json">{ not json </script>
  <style>.hidden { display: none }</style>
</head><body>
  <h1>  Lumara
      Handbag </h1>
  <div class="price" itemprop="price" content="899.90">€ 899,90</div>
  <div class="seller"><a href="/shop/7">Best   Shop</a></div>
  <ul class="gallery"><li><img src="/a.jpg"></li><li><img src="/b.jpg"></li></ul>
  <div id="results">
    <div class="result"><a class="result-link" href="/item/1">One</a></div>
    <div class="result ad-slot"><a class="result-link" href="/item/2">Two</a></div>
    <div class="result"><span class="badge">Sponsored</span><a href="/item/3">Three</a></div>
  </div>
  <p class="empty">   </p>
  <script>var message = "no longer available";</script>
</body></html>
"""


@pytest.fixture
def page() -> Selector:
    return Selector(text=PAGE, base_url="https://market.example/item/1")


def first(page: Selector, *selectors: str) -> str | None:
    return extract_first(page, [compile_selector(s) for s in selectors])


def test_css_text_and_attr(page: Selector) -> None:
    assert first(page, ".seller a::text") == "Best Shop"
    assert first(page, ".seller a::attr(href)") == "/shop/7"
    assert first(page, "[itemprop=price]::attr(content)") == "899.90"
    assert compile_selector("h1::text").pseudo


def test_css_element_gives_its_visible_text(page: Selector) -> None:
    assert first(page, "h1") == "Lumara Handbag"
    assert first(page, "body") is not None
    assert "no longer available" not in (first(page, "body") or "")


def test_css_comma_groups(page: Selector) -> None:
    spec = compile_selector(".nothing::text, .seller a::text, h1::text")
    assert extract_all(page, spec) == ["Lumara Handbag", "Best Shop"]


def test_extract_all(page: Selector) -> None:
    assert extract_all(page, compile_selector(".gallery img::attr(src)")) == ["/a.jpg", "/b.jpg"]
    assert extract_all(page, compile_selector(".missing::text")) == []


def test_xpath(page: Selector) -> None:
    assert first(page, "xpath://div[@class='seller']/a/@href") == "/shop/7"
    assert first(page, "xpath://h1") == "Lumara Handbag"
    assert first(page, "xpath: //h1/text()") == "Lumara Handbag"
    assert first(page, "xpath:count(//div[has-class('result')])") == "3.0"


def test_jsonld_product(page: Selector) -> None:
    assert first(page, "jsonld:name") == "Lumara Handbag"
    assert first(page, "jsonld:offers.price") == "899.90"  # first offer, exact digits
    assert first(page, "jsonld:offers.1.price") == "950.00"
    assert first(page, "jsonld:offers.priceCurrency") == "EUR"
    assert first(page, "jsonld:brand") == "Lumara"
    assert first(page, "jsonld:brand.name") == "Lumara"
    assert first(page, "jsonld:sku") == "1234"
    assert extract_all(page, compile_selector("jsonld:image")) == [
        "https://img.example/1.jpg",
        "https://img.example/2.jpg",
    ]
    assert first(page, "jsonld:offers.nothing") is None
    assert first(page, "jsonld:missing.deeper") is None


def test_jsonld_single_product_and_no_product() -> None:
    doc = Selector(
        text='<script type="application/ld+json">'
        '{"@type": "Product", "offers": {"price": "12", "priceCurrency": "USD"}}</script>'
    )
    assert extract_first(doc, compile_selector("jsonld:offers.price")) == "12"
    other = Selector(
        text='<script type="application/ld+json">{"@type": "Thing", "name": "x"}</script>'
    )
    assert extract_first(other, compile_selector("jsonld:name")) is None


def test_meta(page: Selector) -> None:
    assert first(page, "meta:description") == "A fine bag"
    assert first(page, "meta:og:image") == "https://img.example/og.jpg"
    assert first(page, "meta:keywords") is None


def test_text_contains(page: Selector) -> None:
    assert matches(page, compile_selector("text:best shop"))
    assert matches(page, compile_selector("text:Lumara   Handbag"))
    assert not matches(page, compile_selector("text:no longer available"))  # only in a script
    assert evaluate(page, compile_selector("text:Best Shop")) == ["Best Shop"]


def test_visible_text_skips_scripts_and_styles(page: Selector) -> None:
    text = visible_text(page)
    assert "display: none" not in text and "var message" not in text
    assert "Best Shop" in text


def test_fallbacks_first_non_empty_wins(page: Selector) -> None:
    assert first(page, ".empty::text", "p.empty", "h1::text", "jsonld:name") == "Lumara Handbag"
    assert first(page, "jsonld:offers.price", ".price::text") == "899.90"
    assert first(page, ".nope::text", "meta:nope") is None
    images = [
        compile_selector(s) for s in (".none::attr(src)", "jsonld:image", ".gallery img::attr(src)")
    ]
    assert extract_all(page, images) == ["https://img.example/1.jpg", "https://img.example/2.jpg"]


def test_select_and_relative_extraction(page: Selector) -> None:
    results = select(page, [compile_selector("#results .result")])
    assert len(results) == 3
    link = compile_selector("a::attr(href)")
    assert [extract_first(r, link) for r in results] == ["/item/1", "/item/2", "/item/3"]
    sponsored = [compile_selector(".ad-slot"), compile_selector("text:sponsored")]
    assert [matches(r, sponsored) for r in results] == [False, True, True]
    with pytest.raises(ValueError, match="does not select elements"):
        select(page, compile_selector("jsonld:name"))


def test_playwright_selector() -> None:
    assert playwright_selector(compile_selector("#results .result")) == "#results .result"
    assert playwright_selector(compile_selector("xpath://h1")) == "xpath=//h1"
    with pytest.raises(ValueError):
        playwright_selector(compile_selector("h1::text"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (".price[", "not a valid CSS selector"),
        ("div > > p", "not a valid CSS selector"),
        ("a::attr()", "not a valid CSS selector"),
        ("a::href", "not a valid CSS selector"),
        ("xpath://div[", "not a valid XPath expression"),
        ("xpath:", "nothing follows 'xpath:'"),
        ("xpath:nosuchfunction(.)", "not a usable XPath expression"),
        ("jsonld:offers..price", "not a dotted path"),
        ("jsonld:", "nothing follows"),
        ("meta:og title", "no spaces"),
        ("text:", "nothing follows 'text:'"),
    ],
)
def test_bad_selectors_rejected(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        compile_selector(text)


def test_kinds() -> None:
    kinds = [
        compile_selector(s).kind
        for s in ("a", "xpath://a", "jsonld:name", "meta:description", "text:gone")
    ]
    assert kinds == ["css", "xpath", "jsonld", "meta", "text"]
    assert str(compile_selector(" jsonld:name ")) == " jsonld:name "
