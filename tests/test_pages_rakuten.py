"""Rakuten search page object on the real 2026 search page (tests/pages/rakuten/search-1):
the embedded state and the rendered cards give the same results, ads take no organic rank."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

from spiders.extract.search import extract_results
from spiders.extract.strip import strip_state
from spiders.pages.rakuten import RakutenSearchPage

CASE = Path(__file__).parent / "pages" / "rakuten" / "search-1"
URL = json.loads((CASE / "case.json").read_text(encoding="utf-8"))["url"]
HTML = gzip.decompress((CASE / "page.html.gz").read_bytes()).decode("utf-8")


def _rows(page: RakutenSearchPage) -> list[tuple[object, ...]]:
    return [(r.url, r.listing_id, r.title, r.price, r.currency, r.seller_name, r.sponsored,
             r.position) for r in page.results()]


def test_state_and_cards_agree_on_the_real_page() -> None:
    with_state = _rows(RakutenSearchPage(URL, HTML))
    stripped = strip_state(HTML)
    assert "__INITIAL_STATE__" in HTML and "__INITIAL_STATE__" not in stripped
    from_cards = _rows(RakutenSearchPage(URL, stripped))
    assert len(with_state) == 33
    assert with_state == from_cards
    last = with_state[-1]
    assert last[1] == "suzunoen/10001279"
    assert str(last[2]).startswith("雑穀種子 モチ系雑穀類「モチキビ」1dl")
    assert str(last[2]).endswith("【送料込み】 もちきび イナキビ 餅 団子 家庭菜園 雑穀 種")
    assert last[3:6] == (Decimal("1010"), "JPY", "鈴乃園 楽天市場店")
    assert [row[7] for row in with_state] == list(range(1, 34))


def test_recommendation_carousel_is_not_a_result() -> None:
    """The `.adBta` carousel's ten ad redirects are on the page but not among the results."""
    assert HTML.count("redirect_rpp") >= 10
    assert not any("redirect_rpp" in str(row[0]) for row in _rows(RakutenSearchPage(URL, HTML)))


def _card(n: int, title: str, href: str) -> str:
    return (f'<div class="searchresultitem" data-id="{n}" data-track-price="{n}00">'
            f'<h2><a href="{href}">{title}</a></h2>'
            f'<div class="merchant"><a href="https://www.rakuten.co.jp/s{n}/">Shop {n}</a></div>'
            "</div>")


def test_pr_titles_and_ad_redirects_are_sponsored_without_organic_position() -> None:
    cards = [
        _card(1, "[PR] Lumara bag", "https://item.rakuten.co.jp/s1/bag1/"),
        _card(2, "Lumara bag", "https://item.rakuten.co.jp/s2/bag2/?variantId=x"),
        _card(3, "Lumara tote", "https://grp07.ias.rakuten.co.jp/redirect_rpp/?s=1"),
        _card(4, "Lumara purse", "https://item.rakuten.co.jp/s4/purse/"),
    ]
    page = RakutenSearchPage("https://search.rakuten.co.jp/search/mall/lumara/",
                             f"<html><body>{''.join(cards)}</body></html>")
    got = extract_results(page).results
    assert [r.sponsored for r in got] == [True, False, True, False]
    assert [r.organic_position for r in got] == [None, 1, None, 2]
    assert [r.position for r in got] == [1, 2, 3, 4]
    assert (got[1].listing_id, got[1].url, got[1].price, got[1].seller_name) == (
        "s2/bag2", "https://item.rakuten.co.jp/s2/bag2/", Decimal("200"), "Shop 2")
    assert got[2].listing_id is None and got[2].url.startswith("https://grp07.ias.")


def test_hostile_state_falls_back_to_cards() -> None:
    """A state whose items are not objects (or have no URL) is skipped, not trusted."""
    state = ('<script>window.__INITIAL_STATE__ = {"state": {"data": {"ichibaSearch": '
             '{"items": [1, "x", {"name": "no url", "price": "abc"}]}}}};</script>')
    html = f"<html><head>{state}</head><body>{_card(5, 'Bag', 'https://item.rakuten.co.jp/s5/b/')}"
    got = RakutenSearchPage("https://search.rakuten.co.jp/search/mall/x/", html + "</body></html>")
    results = got.results()
    assert [(r.listing_id, r.price) for r in results] == [("s5/b", Decimal("500"))]
