"""End to end: the recipe spider crawls two differently built sites, each from its recipe in
docs/recipes.md, in one `markwatch crawl`, and the evidence matches each site's own truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.demo import DemoMarketplace
from tests.helpers import CliResult, run_markwatch, watchlist_for
from tests.sites.kiosk import Kiosk

pytestmark = pytest.mark.browser

MAX_PAGES, MAX_LISTINGS = 2, 20
TERM = "lumara"


@pytest.fixture(scope="module")
def kiosk_site() -> Iterator[Kiosk]:
    with Kiosk() as site:
        yield site


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, demo_market: DemoMarketplace,
            kiosk_site: Kiosk, chromium: str) -> tuple[Path, CliResult, dict[str, Any]]:
    root = tmp_path_factory.mktemp("recipes")
    demo = watchlist_for("demobazaar", demo_market.base_url, (TERM,),
                         f"settings: {{max_pages: {MAX_PAGES}, max_listings: {MAX_LISTINGS}}}\n")
    kiosk = watchlist_for("kiosk", kiosk_site.base_url, (TERM,))
    recipes = kiosk.split("marketplaces:\n", 1)[1]  # both recipes, one watchlist
    text = demo.replace("marketplaces: [demobazaar]", "marketplaces: [demobazaar, kiosk]")
    (root / "watchlist.yaml").write_text(text + recipes, encoding="utf-8")
    result = run_markwatch(["crawl", "-w", "watchlist.yaml", "--store", f"file://{root}/store",
                            "--report-json", "report.json", "--log-level", "WARNING"], cwd=root)
    report = json.loads((root / "report.json").read_text()) if (root / "report.json").exists() \
        else {}
    return root, result, report


def manifests(root: Path, marketplace: str) -> list[dict[str, Any]]:
    out = []
    for path in (root / "store" / "captures").rglob("*.json"):
        data = json.loads(path.read_text())
        if data["watch"]["marketplace"] == marketplace:
            out.append(data)
    return out


def by_kind(root: Path, marketplace: str, kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests(root, marketplace) if m["kind"] == kind]


def test_the_run_succeeds(crawled: tuple[Path, CliResult, dict[str, Any]]) -> None:
    _, result, report = crawled
    assert result.code == 0, result.err[-3000:]
    assert report["exit_code"] == 0 and report["counts"]["failures"] == 0
    assert {m["marketplace"] for m in report["marketplaces"]} == {"demobazaar", "kiosk"}
    assert report["counts"]["blocked"] == 0


def test_demo_marketplace_by_recipe(crawled: tuple[Path, CliResult, dict[str, Any]],
                                    demo_market: DemoMarketplace) -> None:
    root, _, _ = crawled
    shown = demo_market.catalog.search(TERM)[:demo_market.page_size * MAX_PAGES]
    expected = {x.listing_id for x in shown[:MAX_LISTINGS]}
    listings = by_kind(root, "demobazaar", "listing")
    assert {m["listing"]["listing_id"] for m in listings} == expected
    for manifest in listings:
        truth = demo_market.catalog.get(manifest["listing"]["listing_id"])
        assert truth is not None
        assert manifest["listing"]["title"] == truth.title
        assert manifest["listing"]["price"] == str(truth.price)
        assert manifest["listing"]["currency"] == truth.currency
        assert manifest["listing"]["seller_name"] == truth.seller.name
    searches = by_kind(root, "demobazaar", "search")
    assert sorted(m["search"]["page"] for m in searches) == [1, 2]  # followed next_page
    results = [r for m in searches for r in m["search"]["results"]]
    truth_sponsored = {x.listing_id for x in shown if x.sponsored}
    assert truth_sponsored, "the demo catalogue should have sponsored results"
    assert {r["listing_id"] for r in results if r["sponsored"]} == truth_sponsored


def test_kiosk_by_recipe(crawled: tuple[Path, CliResult, dict[str, Any]],
                         kiosk_site: Kiosk) -> None:
    root, _, _ = crawled
    found = kiosk_site.truth.search(TERM)
    searches = by_kind(root, "kiosk", "search")
    assert len(searches) == 1  # one infinite page, no page links
    results = searches[0]["search"]["results"]
    assert [r["listing_id"] for r in results] == [i.sku for i in found]  # scrolled to the end
    assert {r["listing_id"] for r in results if r["sponsored"]} == \
        {i.sku for i in found if i.promoted}
    listings = by_kind(root, "kiosk", "listing")
    assert {m["listing"]["listing_id"] for m in listings} == \
        {i.sku for i in found if not i.removed}
    for manifest in listings:
        item = kiosk_site.truth.get(manifest["listing"]["listing_id"])
        assert item is not None
        assert manifest["listing"]["price"] == str(item.price)
        assert manifest["listing"]["currency"] == "EUR"
        assert manifest["listing"]["seller_name"] == item.merchant
        assert manifest["status"] == 200
    gone = by_kind(root, "kiosk", "gone")
    assert [m["listing"]["listing_id"] for m in gone] == [i.sku for i in found if i.removed]
    assert gone[0]["status"] == 200  # a soft "no longer available" page
    for item in found:
        if item.throttled:  # 429 + Retry-After, then asked again and captured
            hits = kiosk_site.hits[f"/p/{item.sku}"]
            assert len(hits) == 2 and hits[1] - hits[0] >= 0.95


def test_everything_verifies(crawled: tuple[Path, CliResult, dict[str, Any]]) -> None:
    root, _, _ = crawled
    out = run_markwatch(["verify", "--all"], cwd=root,
                        env={"MARKWATCH_STORE": f"file://{root}/store"})
    assert out.code == 0, out.out[-2000:] + out.err[-2000:]
