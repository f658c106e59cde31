"""The recipe page objects and the recipe spider, offline (recipes from docs/recipes.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from crawler.watchlist import Watchlist, parse_watchlist
from spiders.pages.recipe import RecipeListingPage, RecipeSearchPage
from spiders.recipe import browser_selector
from tests.helpers import ROOT, doc_recipes, run_markwatch, watchlist_for
from tests.sites import kiosk


def load(name: str, base_url: str = "http://127.0.0.1:9") -> Watchlist:
    return parse_watchlist(watchlist_for(name, base_url), "recipes.md", ["demo"])


def test_doc_recipes_are_valid() -> None:
    assert len(doc_recipes()) == 2
    assert set(load("demobazaar").recipes) == {"demobazaar"}
    assert load("kiosk").recipes["kiosk"].search.infinite_scroll


def test_kiosk_search_page_results_and_sponsored() -> None:
    recipe = load("kiosk").recipes["kiosk"]
    items = kiosk.build_items()[:8]
    html = kiosk.search_page("lumara", items, consented=False)
    page = RecipeSearchPage(recipe, "http://127.0.0.1:9/find?query=lumara", html)
    results = page.results()
    assert [r.listing_id for r in results] == [i.sku for i in items]
    assert [r.sponsored for r in results] == [i.promoted for i in items]
    assert results[0].url == f"http://127.0.0.1:9/p/{items[0].sku}"
    assert results[0].title == items[0].title
    assert page.next_page_url() is None and page.block() is None


def test_kiosk_listing_and_soft_gone_page() -> None:
    recipe = load("kiosk").recipes["kiosk"]
    item = kiosk.build_items()[9]
    html = kiosk.item_page(item, consented=True)
    listing = RecipeListingPage(recipe, f"http://127.0.0.1:9/p/{item.sku}", html).listing()
    assert listing.marketplace == "kiosk" and listing.listing_id == item.sku
    assert listing.title == item.title  # h1 missing: the second fallback
    assert (listing.price, listing.currency) == (item.price, "EUR")
    assert listing.price_text == item.price_text.replace("\u00a0", " ")
    assert listing.seller_name == item.merchant
    assert listing.images == [f"http://127.0.0.1:9{src}" for src in item.images]
    assert listing.available
    gone = next(i for i in kiosk.build_items() if i.removed)
    page = RecipeListingPage(recipe, f"http://127.0.0.1:9/p/{gone.sku}",
                             kiosk.item_page(gone, consented=True))
    assert not page.listing().available and page.status == 200


def test_demo_listing_uses_jsonld_and_status_gone() -> None:
    from crawler.demo import pages
    from crawler.demo.data import build_catalog

    recipe = load("demobazaar").recipes["demobazaar"]
    item = build_catalog().listings[0]
    html = pages.item_page(item, "http://127.0.0.1:9", consented=True)
    listing = RecipeListingPage(recipe, f"http://127.0.0.1:9{item.url}", html).listing()
    assert listing.listing_id == item.listing_id and listing.title == item.title
    assert listing.price == Decimal(item.price_content) and listing.currency == item.currency
    assert listing.seller_name == item.seller.name and len(listing.images) == len(item.images)
    assert not RecipeListingPage(recipe, "http://127.0.0.1:9/item/x", html, 410).listing() \
        .available


def test_browser_selector_joins_css_fallbacks() -> None:
    recipe = load("kiosk").recipes["kiosk"]
    assert browser_selector(recipe.consent_click) == "button[data-cmp=accept]"
    assert browser_selector(()) is None


@pytest.mark.parametrize("kind", ["search", "listing"])
def test_parse_command_reads_a_recipe_from_the_watchlist(tmp_path: Path, kind: str) -> None:
    (tmp_path / "w.yaml").write_text(watchlist_for("kiosk", "http://127.0.0.1:9"),
                                     encoding="utf-8")
    items = kiosk.build_items()
    html = (kiosk.search_page("lumara", items[:6], consented=True) if kind == "search"
            else kiosk.item_page(items[0], consented=True))
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    url = "http://127.0.0.1:9/find?query=lumara" if kind == "search" \
        else f"http://127.0.0.1:9/p/{items[0].sku}"
    out = run_markwatch(["parse", "--watchlist", "w.yaml", "--marketplace", "kiosk", "--kind",
                         kind, "--url", url, "page.html"], cwd=tmp_path)
    assert out.code == 0, out.err
    data = json.loads(out.out)
    if kind == "search":
        assert data["count"] == 6 and data["results"][1]["sponsored"] is True
    else:
        assert data["listing"]["price"] == str(items[0].price)
    missing = run_markwatch(["parse", "--marketplace", "kiosk", "--kind", kind, "page.html"],
                            cwd=tmp_path)
    assert missing.code != 0 and "--watchlist" in missing.err


@pytest.mark.parametrize("case", sorted(p.parent.relative_to(ROOT / "tests" / "pages")
                                        for p in (ROOT / "tests" / "pages").glob("*/*/case.json")))
def test_parse_command_works_for_every_site(tmp_path: Path, case: Path) -> None:
    meta = json.loads((ROOT / "tests" / "pages" / case / "case.json").read_text())
    kind = {"blocked": "search", "item": "listing"}.get(meta["kind"], meta["kind"])
    from crawler.cli.parse import run_parse

    out = json.loads(run_parse(case.parts[0], kind, meta["url"],
                               ROOT / "tests" / "pages" / case / "page.html.gz"))
    assert out["marketplace"] == case.parts[0]
    assert (out["blocked"] is not None) == (meta["kind"] == "blocked")
