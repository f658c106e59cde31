"""Shopee and Temu page objects: URLs, listing ids, and result cards of the rendered DOM as
their public pages draw them (the real saved pages, results and login walls, are cases under
tests/pages/shopee/ and tests/pages/temu/)."""

from __future__ import annotations

from decimal import Decimal

from spiders.extract import extract_listing
from spiders.pages import page_class, shopee, temu


def test_shopee_urls_and_ids() -> None:
    assert shopee.search_url("áo thun", 1, "vn") == (
        "https://shopee.vn/search?keyword=%C3%A1o+thun&page=0")
    assert shopee.search_url("bag", 3).startswith("https://shopee.sg/search?keyword=bag&page=2")
    assert shopee.listing_id("https://shopee.sg/Lumara-Bag-i.123456.987654321?sp_atk=x") == (
        "123456.987654321")
    assert shopee.listing_id("https://shopee.co.th/product/123/456") == "123.456"
    assert shopee.site_currency("https://shopee.co.th/x") == "THB"


def test_shopee_rendered_cards() -> None:
    html = """<html><body><ul>
    <li class="shopee-search-item-result__item"><a href="/Lumara-Tote-i.11.22?sp=1">
      <img src="https://cf.shopee.sg/file/a" alt="Lumara Tote"><div data-sqe="name">
      <div>Lumara Tote Bag Leather</div></div><span>$</span><span>12.90</span>
      <div>Ad</div></a></li>
    <li class="shopee-search-item-result__item"><a href="/Lumara-Mini-i.11.23">
      <div data-sqe="name">Lumara Mini</div><span>$9.50</span></a></li>
    </ul></body></html>"""
    page = shopee.ShopeeSearchPage("https://shopee.sg/search?keyword=lumara", html)
    results = page.results()
    assert [r.listing_id for r in results] == ["11.22", "11.23"]
    assert results[0].url == "https://shopee.sg/Lumara-Tote-i.11.22"
    assert results[0].title == "Lumara Tote Bag Leather" and results[0].sponsored
    assert (results[1].price, results[1].currency) == (Decimal("9.50"), "SGD")
    assert not results[1].sponsored


def test_temu_urls_cards_and_listing() -> None:
    assert temu.search_url("lumara bag") == (
        "https://www.temu.com/search_result.html?search_key=lumara+bag")
    assert temu.search_url("x", 1, "uk").startswith("https://www.temu.com/uk/search_result")
    html = """<html><body><div class="grid">
      <div class="g"><a href="/lumara-tote-g-601099512345678.html?_x=1" title="Lumara Tote">
        <img src="https://img.kwcdn.com/a.jpg"></a><span>€12,49</span></div>
      <div class="g"><a href="/lumara-belt-g-601099587654321.html">Lumara Belt</a></div>
    </div></body></html>"""
    results = temu.TemuSearchPage("https://www.temu.com/search_result.html", html).results()
    assert [r.listing_id for r in results] == ["601099512345678", "601099587654321"]
    assert (results[0].title, results[0].price, results[0].currency) == (
        "Lumara Tote", Decimal("12.49"), "EUR")
    item = """<html><head><script type="application/ld+json">{"@type": "Product",
      "name": "Lumara Tote", "offers": {"price": "12.49", "priceCurrency": "EUR",
      "seller": {"name": "Tote Store"}}}</script></head><body><h1>Lumara Tote</h1></body></html>"""
    cls = page_class("temu", "listing")
    got = extract_listing(cls("https://www.temu.com/lumara-tote-g-601099512345678.html",
                              item)).listing
    assert (got.listing_id, got.title, got.price, got.currency, got.seller_name) == (
        "601099512345678", "Lumara Tote", Decimal("12.49"), "EUR", "Tote Store")
