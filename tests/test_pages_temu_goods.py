"""Temu goods page (tests/pages/temu/item-1, a real 2026 Korean page): the `rawData` state
first, the rendered seller link and generic layers without it; malformed state is ignored."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

from crawler.prices import parse_price
from spiders.extract import extract_listing
from spiders.extract.strip import strip_state
from spiders.pages._temu_goods import goods_fields
from spiders.pages.temu import TemuListingPage

CASE = Path(__file__).parent / "pages" / "temu" / "item-1"
URL = json.loads((CASE / "case.json").read_text(encoding="utf-8"))["url"]
HTML = gzip.decompress((CASE / "page.html.gz").read_bytes()).decode("utf-8")


def test_state_fields_on_the_real_page() -> None:
    got = goods_fields(HTML, URL)
    assert (got["listing_id"], got["price"], got["currency"], got["seller_name"]) == (
        "606532611704451", Decimal("8359"), "KRW", "VEVESONAL FASHION BAGS")
    assert len(got["images"]) == len(set(got["images"])) >= 5
    assert all(u.startswith("https://img.kwcdn.com/") for u in got["images"])


def test_without_state_the_seller_link_and_the_price_text_still_read() -> None:
    stripped = strip_state(HTML)
    assert goods_fields(stripped, URL) == {}
    listing = extract_listing(TemuListingPage(URL, stripped)).listing
    assert (listing.price, listing.currency, listing.seller_name) == (
        Decimal("8359"), "KRW", "VEVESONAL FASHION BAGS")
    assert listing.field_sources["seller_name"] == "page"
    assert listing.field_sources["price"] == "heuristic"


def test_malformed_state_is_ignored() -> None:
    for state in ('{"store": []}', '{"store": {"goods": "x"}}',
                  '{"store": {"goods": {"goodsId": "1 OR 1", "goodsName": 7, '
                  '"minOnSalePriceStr": "free", "gallery": [1, {"url": 2}]}}}'):
        html = f"<html><script>window.rawData = {state};</script></html>"
        assert goods_fields(html, "https://www.temu.com/kr/x-g-601099521154377.html") == {}


def test_won_is_a_currency_sign() -> None:
    money = parse_price("8,359원")
    assert money is not None and (money.amount, money.currency) == (Decimal("8359"), "KRW")
