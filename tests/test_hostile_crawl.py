"""A whole crawl (the real `markwatch crawl`, real Chromium, the recording proxy) of Trapdoor,
a marketplace that sends the crawler everywhere it must not go (tests/sites/attacker.py).

The crawl finishes; every ordinary listing is captured and verifies; every forbidden
destination counted zero connections; each refusal is reported with the rule that refused it;
nothing from a forbidden place is in the store."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CliResult, run_markwatch
from tests.sites.attacker import MARKER, Trapdoor

pytestmark = pytest.mark.browser

WATCHLIST = """\
version: 1
case: "CASE-HOSTILE"
settings:
  max_pages: 1
  max_listings: 40
  egress:
    allow: ["{netloc}"]
brands:
  - name: Lumara
    terms: ["lumara"]
    marketplaces: [trapdoor]
marketplaces:
  trapdoor:
    base_url: "{base}"
    search_url: "{{base_url}}/search?q={{term}}"
    render: {{search: true, listing: true}}
    search:
      result: "#results .result"
      link: "a.result-link::attr(href)"
    listing:
      id_from_url: "/item/(?P<id>[a-z0-9-]+)"
      wait_for: "h1"
      fields:
        title: "h1::text"
        price: ".price::text"
        seller_name: ".seller a::text"
        images: ".gallery img::attr(data-src)"
"""


class Crawled:
    def __init__(self, root: Path, result: CliResult, report: dict[str, Any],
                 hits: dict[str, int], upgrades: int, site: Trapdoor) -> None:
        self.root, self.result, self.report = root, result, report
        self.hits, self.upgrades, self.site = hits, upgrades, site
        self.store = root / "store"

    def manifests(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in (self.store / "captures").rglob("*.json")]

    def listing(self, sku: str) -> dict[str, Any]:
        found = [m for m in self.manifests()
                 if m["kind"] == "listing" and m["request_url"].endswith(f"/item/{sku}")]
        assert len(found) == 1, [m["request_url"] for m in self.manifests()]
        return found[0]

    def failures(self) -> dict[str, str]:
        return {f["url"]: f["reason"] for r in self.report["marketplaces"]
                for f in r["failures"]}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Crawled]:
    root = tmp_path_factory.mktemp("hostile")
    secret = root / "signing-key.pem"
    secret.write_text(f"-----BEGIN PRIVATE KEY-----\n{MARKER}\n", encoding="utf-8")
    with Trapdoor(secret) as site:
        (root / "watchlist.yaml").write_text(
            WATCHLIST.format(netloc=site.netloc, base=site.base_url), encoding="utf-8")
        result = run_markwatch(
            ["crawl", "-w", "watchlist.yaml", "--store", f"file://{root}/store",
             "--report-json", "report.json", "--log-level", "WARNING",
             "-s", f"EVIDENCE_MAX_DECODED_BYTES={16 << 20}", "-s", "EVIDENCE_CAPTURE_TIMEOUT=40"],
            cwd=root, env={"TRAPDOOR_ENVIRON": MARKER})  # in /proc/self/environ, if read
        report_path = root / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        yield Crawled(root, result, report, site.forbidden.hits, site.upgrades, site)


def test_the_crawl_finishes(crawled: Crawled) -> None:
    assert crawled.report, crawled.result.err[-3000:]
    assert crawled.report["errors"] == []
    assert crawled.report["marketplaces"][0]["status"] in ("partial", "complete")


def test_no_forbidden_destination_was_reached(crawled: Crawled) -> None:
    assert crawled.hits == {"metadata": 0, "intranet": 0, "local": 0}
    assert crawled.upgrades == 0  # no WebSocket upgrade reached even the allowed site


def test_every_ordinary_listing_is_captured_and_verifies(crawled: Crawled) -> None:
    ids = [crawled.listing(sku)["capture_id"] for sku in Trapdoor.ORDINARY]
    env = {"MARKWATCH_STORE": f"file://{crawled.store}"}
    out = run_markwatch(["verify", *ids], cwd=crawled.root, env=env)
    assert out.code == 0, out.out + out.err
    everything = run_markwatch(["verify", "--all"], cwd=crawled.root, env=env)
    assert everything.code == 0, everything.out + everything.err


def test_text_no_record_can_hold_is_replaced_not_fatal(crawled: Crawled) -> None:
    """`badtext`'s JSON-LD gives a brand with lone surrogates and a NUL, and an id with a lone
    surrogate: the capture is made, indexed and verifies (above); its manifest and listing.json
    hold U+FFFD for each surrogate and the NUL as extracted."""
    from storage.catalog import Catalog
    from storage.uri import default_catalog_uri

    manifest = crawled.listing("badtext")
    assert manifest["listing"]["brand"] == "Lum\ufffdara\x00 \ufffd"
    with Catalog(default_catalog_uri(f"file://{crawled.store}")) as cat:
        row = cat.get(manifest["capture_id"])
    assert row is not None and row["title"] == "Lumara bag badtext"


def test_refusals_are_reported_with_their_rule(crawled: Crawled) -> None:
    failures = crawled.failures()
    f = crawled.site.forbidden
    expected = {
        crawled.site.secret_file.as_uri(): "egress refused (scheme)",
        "file:///proc/self/environ": "egress refused (scheme)",
        f"ftp://{f.netloc('metadata')}/secret": "egress refused (scheme)",
        f.url("metadata", "/latest/meta-data/"): "egress refused (loopback)",
        f.url("intranet", "/admin"): "egress refused (loopback)",
        f.url("local", "/health"): "egress refused (loopback)",
    }
    for url, reason in expected.items():
        assert reason in failures.get(url, ""), (url, failures)
    data = [u for u in failures if u.startswith("data:")]
    assert data and "egress refused (scheme)" in failures[data[0]]
    # followed by the browser: the redirect's and the refresh's targets, refused by the proxy
    redirected = f.url("metadata", "/latest/")
    assert failures[redirected] == f"egress refused (loopback): {redirected}"
    refreshed = f.url("intranet", "/refreshed")
    refresh = crawled.site.base_url + "/item/refresh"
    if refresh in failures:  # the refresh fired while the capture was still loading the page
        assert failures[refresh] == f"egress refused (loopback): {refreshed}"
    elif refreshed in failures:  # ... or as a navigation of its own, reported by its target
        assert failures[refreshed] == f"egress refused (loopback): {refreshed}"
    else:  # it fired after the page settled (a loaded machine): the page is captured as it
        # was, and the refresh went nowhere (the forbidden servers' counters are checked above)
        assert [m for m in crawled.manifests() if m["request_url"] == refresh], failures


def test_a_listings_forbidden_resources_are_refused_and_noted(crawled: Crawled) -> None:
    notes = crawled.listing("ok1")["notes"]
    refused = notes["egress_refused"]
    assert {r["rule"] for r in refused} == {"loopback"}
    hosts = {r["url"].split("/")[2] for r in refused}
    assert crawled.site.forbidden.netloc("intranet") in hosts  # the script and the fetch


def test_the_user_agent_is_the_browsers_not_the_pages(crawled: Crawled) -> None:
    agent = crawled.listing("fakeua")["browser"]["user_agent"]
    assert "FakeBrowser" not in agent and "Chrome/" in agent
    assert crawled.listing("ok1")["browser"]["user_agent"] == agent


def _texts(store: Path) -> Iterator[tuple[Path, bytes]]:
    for path in store.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        yield path, data
        if data[:2] == b"\x1f\x8b":
            try:
                inflated = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                continue
            yield path, inflated


def test_nothing_forbidden_is_stored(crawled: Crawled) -> None:
    leaked = [str(p) for p, data in _texts(crawled.store) if MARKER.encode() in data]
    assert leaked == []
