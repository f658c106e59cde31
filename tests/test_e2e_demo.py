"""End to end: the CLI crawls the demo marketplace in real Chromium and the evidence holds up."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.browser.chromium import browser_build, find_chromium
from crawler.demo import DemoMarketplace
from spiders.pages.demo import DemoSearchPage
from storage.catalog import Catalog
from tests.helpers import CliResult, run_markwatch

pytestmark = pytest.mark.browser

WATCHLIST = """\
version: 1
case: "CASE-E2E"
settings:
  max_pages: 2
  max_listings: 14
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    exclude_terms: ["case for"]
    msrp: {currency: EUR, min: 900}
    marketplaces: [demo]
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
"""
MAX_LISTINGS, MAX_PAGES = 14, 2


def expected_ids(market: DemoMarketplace) -> set[str]:
    """What the crawl must capture, from the marketplace's own truth."""
    out: set[str] = set()
    shown = market.page_size * MAX_PAGES
    for term, excluded in (("lumara handbag", ["case for"]), ("corvane watch", [])):
        hits = [x for x in market.catalog.search(term)[:shown]
                if not any(e in x.title.lower() for e in excluded)]
        out.update(x.listing_id for x in hits[:MAX_LISTINGS])
    return out


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every evidence file (not the catalog, not the temporary folder)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] in ("blobs", "captures", "runs"):
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def store_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "blobs").rglob("*") if p.is_file()) + sum(
        p.stat().st_size for p in (root / "captures").rglob("*") if p.is_file())


class Crawl:
    def __init__(self, root: Path, market: DemoMarketplace) -> None:
        self.root = root
        self.store = root / "store"
        self.market = market
        (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")

    def run(self, *extra: str, report: str = "report.json") -> tuple[CliResult, dict[str, Any]]:
        result = run_markwatch(
            ["crawl", "-w", "watchlist.yaml", "--store", f"file://{self.store}",
             "--report-json", report, "--log-level", "WARNING", *extra],
            cwd=self.root, env={"MARKWATCH_DEMO_URL": self.market.base_url})
        data = json.loads((self.root / report).read_text()) if (self.root / report).exists() \
            else {}
        return result, data

    def cli(self, *args: str, store: Path | None = None) -> CliResult:
        return run_markwatch([*args], cwd=self.root,
                             env={"MARKWATCH_STORE": f"file://{store or self.store}"})


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, demo_market: DemoMarketplace,
            chromium: str) -> tuple[Crawl, CliResult, dict[str, Any]]:
    crawl = Crawl(tmp_path_factory.mktemp("e2e"), demo_market)
    result, report = crawl.run()
    return crawl, result, report


def listing_rows(crawl: Crawl) -> list[dict[str, Any]]:
    out = crawl.cli("evidence", "list", "--kind", "listing", "--format", "json")
    assert out.code == 0, out.err
    return json.loads(out.out)


def test_crawl_succeeds_and_reports(crawled: tuple[Crawl, CliResult, dict[str, Any]]) -> None:
    crawl, result, report = crawled
    assert result.code == 0, result.err[-3000:]
    assert report["exit_code"] == 0
    counts = report["counts"]
    assert counts["failures"] == 0
    assert counts["searches"] == 4  # two pages for each term (14 listings > 12 per page)
    assert counts["listings"] == len(expected_ids(crawl.market))
    assert report["store"] == f"file://{crawl.store}"


def test_every_expected_listing_is_captured(
        crawled: tuple[Crawl, CliResult, dict[str, Any]]) -> None:
    crawl, _, _ = crawled
    got = {row["listing_id"] for row in listing_rows(crawl)}
    assert got == expected_ids(crawl.market)


def test_listing_fields_match_the_marketplace(
        crawled: tuple[Crawl, CliResult, dict[str, Any]]) -> None:
    crawl, _, _ = crawled
    for row in listing_rows(crawl):
        truth = crawl.market.catalog.get(row["listing_id"])
        assert truth is not None
        assert row["title"] == truth.title
        assert row["price"] == str(truth.price)
        assert row["currency"] == truth.currency
        assert row["seller_name"] == truth.seller.name
    one = listing_rows(crawl)[0]
    shown = crawl.cli("evidence", "show", one["capture_id"], "--format", "json")
    manifest = json.loads(shown.out)["manifest"]
    names = {a["name"] for a in manifest["artifacts"]}
    assert {"page.warc.gz", "dom.html", "screenshot.png", "listing.json"} <= names
    shot = next(a for a in manifest["artifacts"] if a["name"] == "screenshot.png")
    assert shot["media_type"] == "image/png"
    record = manifest["browser"]["screenshot"]  # the default: Chromium's PNG, default zlib level
    assert record == {"format": "png", "encoder": "chromium, default zlib level",
                      "lossless": True}
    truth = crawl.market.catalog.get(one["listing_id"])
    assert truth is not None
    images = [a for a in manifest["artifacts"] if a["name"].startswith("image-")]
    assert len(images) == len(truth.images)  # every lazy image was loaded and kept
    assert manifest["watch"]["case"] == "CASE-E2E"
    assert manifest["started_at"].endswith("Z") and manifest["finished_at"] >= \
        manifest["started_at"]
    assert "HeadlessChrome" in manifest["browser"]["user_agent"] or manifest["browser"][
        "user_agent"]
    # which headless build drew it: the one this machine's crawls launch
    assert manifest["browser"]["build"] == browser_build(find_chromium())


def test_search_needs_rendering(crawled: tuple[Crawl, CliResult, dict[str, Any]]) -> None:
    crawl, _, _ = crawled
    url = f"{crawl.market.base_url}/search?q=lumara+handbag&page=1"
    with urllib.request.urlopen(url) as resp:
        html = resp.read()
    assert DemoSearchPage(url, html).results() == []
    out = crawl.cli("evidence", "list", "--kind", "search", "--term", "lumara handbag",
                    "--format", "json")
    first = json.loads(out.out)[0]
    manifest = json.loads(crawl.cli("evidence", "show", first["capture_id"], "--format",
                                    "json").out)["manifest"]
    ids = [r["listing_id"] for r in manifest["search"]["results"]]
    truth = [x.listing_id for x in crawl.market.catalog.search("lumara handbag")[:12]]
    assert ids == truth


def test_verify_all_passes(crawled: tuple[Crawl, CliResult, dict[str, Any]]) -> None:
    crawl, _, report = crawled
    out = crawl.cli("verify", "--all")
    assert out.code == 0, out.out
    assert f"{report['counts']['captures']} of {report['counts']['captures']} captures verified" \
        in out.out


def _copy_store(crawl: Crawl, dest: Path) -> Path:
    shutil.copytree(crawl.store, dest, symlinks=False)
    return dest


def _flip(path: Path, offset: int) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("artifact", ["screenshot.png", "dom.html", "page.warc.gz",
                                      "listing.json", "image-01"])
def test_tampered_artifact_is_named(crawled: tuple[Crawl, CliResult, dict[str, Any]],
                                    tmp_path: Path, artifact: str) -> None:
    crawl, _, _ = crawled
    store = _copy_store(crawl, tmp_path / "store")
    row = listing_rows(crawl)[-1]
    manifest = json.loads(crawl.cli("evidence", "show", row["capture_id"], "--format",
                                    "json").out)["manifest"]
    entry = next(a for a in manifest["artifacts"] if a["name"] == artifact)
    _flip(store / entry["key"], entry["size"] // 2)
    out = crawl.cli("verify", row["capture_id"], store=store)
    assert out.code != 0
    assert f"FAIL {row['capture_id']}: artifact {artifact}: altered" in out.out
    everything = crawl.cli("verify", "--all", store=store)
    assert everything.code != 0
    assert f"FAIL {row['capture_id']}: artifact {artifact}" in everything.out


def test_tampered_manifest_is_named(crawled: tuple[Crawl, CliResult, dict[str, Any]],
                                    tmp_path: Path) -> None:
    crawl, _, _ = crawled
    store = _copy_store(crawl, tmp_path / "store")
    row = listing_rows(crawl)[0]
    key = json.loads(crawl.cli("evidence", "show", row["capture_id"], "--format", "json").out)
    path = store / f"captures/{row['started_at'][:4]}/{row['started_at'][5:7]}/" \
                   f"{row['started_at'][8:10]}/{row['capture_id']}.json"
    assert path.exists(), key
    text = path.read_text()
    # change one digit of the price in the listing fields: still valid, canonical JSON
    marker = f'"price":"{row["price"]}"'
    assert marker in text
    forged = row["price"][:-1] + ("1" if row["price"][-1] != "1" else "2")
    path.chmod(0o644)
    path.write_text(text.replace(marker, f'"price":"{forged}"'))
    out = crawl.cli("verify", "--all", store=store)
    assert out.code != 0
    assert f"FAIL {row['capture_id']}: manifest captures/" in out.out
    assert "altered" in out.out


def test_catalog_rebuild_gives_identical_answers(
        crawled: tuple[Crawl, CliResult, dict[str, Any]], tmp_path: Path) -> None:
    crawl, _, _ = crawled
    rebuilt = tmp_path / "rebuilt.db"
    out = run_markwatch(["catalog", "rebuild", "--store", f"file://{crawl.store}", "--catalog",
                         f"sqlite:///{rebuilt}"], cwd=crawl.root)
    assert out.code == 0, out.err
    for query in (["--brand", "Lumara"], ["--term", "corvane watch"], ["--kind", "search"],
                  ["--suspicious"], []):
        original = run_markwatch(["evidence", "list", *query, "--format", "json", "--store",
                                  f"file://{crawl.store}"], cwd=crawl.root)
        again = run_markwatch(["evidence", "list", *query, "--format", "json", "--store",
                               f"file://{crawl.store}", "--catalog", f"sqlite:///{rebuilt}"],
                              cwd=crawl.root)
        assert original.out == again.out
    with Catalog(crawl.store / "catalog.db") as a, Catalog(rebuilt) as b:
        for table in ("captures", "artifacts", "runs"):
            assert list(a.iter_rows(table)) == list(b.iter_rows(table))


def test_second_crawl_adds_history_and_touches_nothing(
        crawled: tuple[Crawl, CliResult, dict[str, Any]]) -> None:
    crawl, _, _ = crawled
    before = tree_digest(crawl.store)
    size_before = store_bytes(crawl.store)
    result, second = crawl.run(report="report2.json")
    assert result.code == 0, result.err[-3000:]
    after = tree_digest(crawl.store)
    assert all(after.get(k) == v for k, v in before.items())  # nothing old changed
    assert len(after) > len(before)
    growth = store_bytes(crawl.store) - size_before
    assert 0 < growth < size_before  # shared images and identical pages stored once
    assert second["counts"]["reused_blobs"] > 0
    row = listing_rows(crawl)[-1]
    shown = json.loads(crawl.cli("evidence", "show", row["capture_id"], "--format",
                                 "json").out)
    assert len(shown["history"]) == 2
    assert shown["manifest"]["previous_capture"] == shown["history"][0]
    assert crawl.cli("verify", "--all").code == 0


@pytest.mark.parametrize("concurrency", [1, 3])
def test_contexts_are_recycled_without_stalling(tmp_path: Path, demo_market: DemoMarketplace,
                                                chromium: str, concurrency: int) -> None:
    """A fresh context every 2 pages, with requests assigned to a context while they wait for a
    download slot: no context is closed under a request still to open its page (that stalled
    the crawl for good), every listing is captured and retired contexts are closed."""
    crawl = Crawl(tmp_path, demo_market)
    c = str(concurrency)
    result, report = crawl.run("-s", "EVIDENCE_CONTEXT_PAGES=2", "-s", f"CONCURRENT_REQUESTS={c}",
                               "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={c}",
                               "-s", f"PLAYWRIGHT_MAX_PAGES_PER_CONTEXT={c}",
                               "--log-level", "INFO")
    assert result.code == 0, result.err[-3000:]
    assert report["counts"]["failures"] == 0
    assert {r["listing_id"] for r in listing_rows(crawl)} == expected_ids(demo_market)
    recycled = re.search(r"'evidence/contexts_recycled': (\d+)", result.err)
    assert recycled and int(recycled.group(1)) >= report["counts"]["captures"] // 2 - 2


def test_tabs_are_handed_on_and_keep_no_earlier_page(tmp_path: Path, demo_market: DemoMarketplace,
                                                     chromium: str) -> None:
    """One page slot per context and three requests at a time: a finished capture's tab goes
    to a request waiting for one (the crawl does not stall on idle tabs holding the slot),
    and a capture in a reused tab holds its own page only: the configured viewport (lazy
    loading had grown it), and no record of the search page or listing shown before it."""
    crawl = Crawl(tmp_path, demo_market)
    result, report = crawl.run("-s", "CONCURRENT_REQUESTS=3",
                               "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=3",
                               "-s", "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=1",
                               "--log-level", "INFO")
    assert result.code == 0, result.err[-3000:]
    assert report["counts"]["failures"] == 0
    assert {r["listing_id"] for r in listing_rows(crawl)} == expected_ids(demo_market)
    reused = re.search(r"'evidence/tabs_reused': (\d+)", result.err)
    assert reused and int(reused.group(1)) >= report["counts"]["captures"] // 2
    checked = 0
    for path in (crawl.store / "captures").rglob("*.json"):
        manifest = json.loads(path.read_text())
        assert manifest["browser"]["viewport"] == {"width": 1280, "height": 720}
        if manifest["kind"] != "listing":
            continue
        own = manifest["request_url"].rsplit("/", 1)[1]
        warc = next(a for a in manifest["artifacts"] if a["name"] == "page.warc.gz")
        with (crawl.store / warc["key"]).open("rb") as f:
            uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(f)
                    if r.rec_type in ("request", "response")]
        assert manifest["request_url"] in uris
        strangers = [u for u in uris if ("/item/" in u and not u.endswith("/item/" + own))
                     or "/search" in u
                     or (re.search(r"/img/DM\d+-", u) and f"/img/{own}-" not in u)]
        assert not strangers, (own, strangers)
        checked += 1
    assert checked == len(expected_ids(demo_market))
