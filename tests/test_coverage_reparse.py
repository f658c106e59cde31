"""Layout drift end to end: a local marketplace changes its listing markup between runs; the
coverage alarm fires on the run after the change (warning, report JSON, `runs show`, exit
status with COVERAGE_ALARM_EXIT); `reparse` with a fixed recipe restores the lost fields as
new records without changing a stored byte of the captures; `catalog rebuild` restores the
same view; a listing reached from a sponsored result says so in `evidence list`."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CliResult, run_markwatch
from tests.sites.drift import ITEMS, Drift

RECIPE = """\
version: 1
settings:
  max_pages: 1
  max_listings: 6
  egress: {{allow: [127.0.0.1]}}
brands:
  - name: Lumara
    terms: ["lumara"]
    marketplaces: [drift]
marketplaces:
  drift:
    base_url: "{base}"
    search_url: "{{base_url}}/search?q={{term}}"
    render: {{search: false, listing: false}}
    search:
      result: "li.hit"
      link: "a.hit-link::attr(href)"
      sponsored: ".ad"
    listing:
      id_from_url: "/item/(?P<id>[a-z0-9]+)"
      fields:
        title: "h1.name::text"
        price: ".price::text"
        seller_name: {seller}
        seller_url: ".seller a::attr(href)"
"""
OLD_SELLER = '".seller a::text"'
FIXED_SELLER = '[".seller a::text", ".mrc-name::text"]'


@pytest.fixture(scope="module")
def drift() -> Iterator[Drift]:
    with Drift() as site:
        yield site


class Runs:
    def __init__(self, root: Path, site: Drift) -> None:
        self.root, self.site = root, site
        self.store = root / "store"
        self.write_watchlist(OLD_SELLER)

    def write_watchlist(self, seller: str) -> None:
        (self.root / "w.yaml").write_text(
            RECIPE.format(base=self.site.base_url, seller=seller), encoding="utf-8")

    def crawl(self, name: str, *extra: str) -> tuple[CliResult, dict[str, Any]]:
        result = run_markwatch(["crawl", "-w", "w.yaml", "--store", f"file://{self.store}",
                                "--report-json", f"{name}.json", *extra], cwd=self.root)
        path = self.root / f"{name}.json"
        assert path.exists(), result.err[-3000:]
        return result, json.loads(path.read_text(encoding="utf-8"))

    def cli(self, *args: str) -> CliResult:
        return run_markwatch(list(args), cwd=self.root,
                             env={"MARKWATCH_STORE": f"file://{self.store}"})

    def listings(self, run_id: str) -> list[dict[str, Any]]:
        out = self.cli("evidence", "list", "--kind", "listing", "--run", run_id,
                       "--format", "json")
        assert out.code == 0, out.err
        rows: list[dict[str, Any]] = json.loads(out.out)
        return rows

    def digests(self) -> dict[str, str]:
        return {str(p.relative_to(self.store)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.store.rglob("*")) if p.is_file()
                and not p.name.startswith("catalog")}


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory, drift: Drift) -> dict[str, Any]:
    runs = Runs(tmp_path_factory.mktemp("drift"), drift)
    first, report1 = runs.crawl("run1")
    assert first.code == 0, first.err[-3000:]
    urllib.request.urlopen(f"{drift.base_url}/__admin/layout?v=2", timeout=10).read()
    assert drift.layout == 2
    second, report2 = runs.crawl("run2", "--set", "COVERAGE_ALARM_EXIT=1")
    return {"runs": runs, "report1": report1, "report2": report2, "second": second}


def test_first_run_has_full_coverage_and_no_alarm(drifted: dict[str, Any]) -> None:
    report = drifted["report1"]
    assert report["exit_code"] == 0 and report["coverage_warnings"] == []
    coverage = report["marketplaces"][0]["coverage"]
    assert coverage["kinds"]["listing"]["captures"] == len(ITEMS)
    assert coverage["kinds"]["listing"]["fields"]["seller_name"] == 1.0
    assert coverage["kinds"]["search"]["fields"]["results"] == 1.0


def test_alarm_fires_after_the_markup_changes(drifted: dict[str, Any]) -> None:
    report, result = drifted["report2"], drifted["second"]
    warnings = report["coverage_warnings"]
    assert [(w["kind"], w["field"]) for w in warnings] == [("listing", "seller_name")]
    assert warnings[0]["share"] == 0.0 and warnings[0]["baseline"] == 1.0
    assert report["exit_code"] == 1 and result.code == 1  # COVERAGE_ALARM_EXIT=1
    assert "warning: coverage of seller_name on drift listing pages fell to 0%" in result.out
    shown = drifted["runs"].cli("runs", "show", report["run_id"])
    assert shown.code == 0, shown.err
    assert "warning: coverage of seller_name" in shown.out
    # the title and price still come through the other layers' agreement with the recipe
    rows = drifted["runs"].listings(report["run_id"])
    assert all(r["title"] and r["price"] for r in rows)
    assert all(r["seller_name"] is None for r in rows)


def test_the_alarm_is_an_alert_event(drifted: dict[str, Any]) -> None:
    """The run's coverage warning becomes one `coverage_drop` event (crawler.alerts.derive),
    from the run records as the crawl left them and its real catalog."""
    import datetime as dt

    from crawler.alerts.config import AlertsConfig
    from crawler.alerts.derive import derive_events
    from crawler.alerts.events import EventType
    from storage.catalog import Catalog

    report = drifted["report2"]
    run = {"run_id": report["run_id"], "finished_at": report["finished_at"],
           "records": report["marketplaces"], "errors": [], "seals": []}
    with Catalog(drifted["runs"].store / "catalog.db") as cat:
        events = derive_events(AlertsConfig({}, ()), run, cat, [], dt.datetime.now(dt.UTC))
    (drop,) = [e for e in events if e.type is EventType.COVERAGE_DROP]
    assert drop.marketplace == "drift" and drop.run_id == report["run_id"]
    assert drop.summary == ("Fields missing on drift: seller_name on listing pages 0% "
                            "(recent runs 100%)")
    first = drifted["report1"]
    quiet = {**run, "run_id": first["run_id"], "records": first["marketplaces"]}
    with Catalog(drifted["runs"].store / "catalog.db") as cat:
        assert not [e for e in derive_events(AlertsConfig({}, ()), quiet, cat, [],
                                             dt.datetime.now(dt.UTC))
                    if e.type is EventType.COVERAGE_DROP]


def test_sponsored_listing_marked_in_evidence_list(drifted: dict[str, Any]) -> None:
    rows = drifted["runs"].listings(drifted["report1"]["run_id"])
    sponsored = {r["listing_id"] for r in rows if r["sponsored"]}
    assert sponsored == {i.sku for i in ITEMS if i.sponsored}
    table = drifted["runs"].cli("evidence", "list", "--kind", "listing")
    assert "[sponsored]" in table.out


def test_reparse_restores_fields_without_touching_captures(drifted: dict[str, Any]) -> None:
    runs: Runs = drifted["runs"]
    run_id = drifted["report2"]["run_id"]
    before = runs.digests()
    runs.write_watchlist(FIXED_SELLER)
    out = runs.cli("reparse", "--run", run_id, "-w", "w.yaml", "--format", "json")
    assert out.code == 0, out.err
    summary = json.loads(out.out)
    # listing and search captures by default; the search page did not change: no record
    assert summary["kinds"] == {"listing": len(ITEMS), "search": 1}
    assert summary["written"] == len(ITEMS) and summary["unchanged"] == 1
    after = runs.digests()
    assert {k: after[k] for k in before} == before  # not one stored byte changed
    new = set(after) - set(before)
    assert new and all(k.startswith("derived/reparse/") for k in new)
    rows = runs.listings(run_id)
    truth = {i.sku: i.seller for i in ITEMS}
    assert {r["listing_id"]: r["seller_name"] for r in rows} == truth
    record = json.loads((runs.store / sorted(new)[0]).read_text(encoding="utf-8"))
    assert record["parser_version"] and record["listing"]["field_sources"]["seller_name"] \
        == "page"
    shown = runs.cli("evidence", "show", rows[0]["capture_id"])
    assert "re-parsed" in shown.out and f"seller {truth[rows[0]['listing_id']]}" in shown.out
    assert "strategies listing_id: page, title: page" in shown.out, shown.out
    again = runs.cli("reparse", "--run", run_id, "-w", "w.yaml", "--format", "json")
    assert json.loads(again.out)["written"] == 0  # idempotent
    rebuilt = runs.cli("catalog", "rebuild")
    assert rebuilt.code == 0, rebuilt.err
    assert {r["listing_id"]: r["seller_name"] for r in runs.listings(run_id)} == truth
    verify = runs.cli("verify", "--all")
    assert verify.code == 0, verify.out + verify.err
