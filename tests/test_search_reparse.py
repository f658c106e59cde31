"""Search pages drift end to end, with Chromium: the local Drift marketplace redesigns its
search page between runs (first the adverts lose their text marker, then the results are no
longer found at all); the coverage alarm fires on search results; `reparse` with a fixed recipe
restores the results, their organic positions and sponsored flags in the catalog as new
records, without changing a stored byte of the captures; a listing reached from a result the
re-parse now marks sponsored says so in `evidence list`; `catalog rebuild` restores the same
view."""

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
    render: {{search: true, listing: false}}
    search:
{search}
    listing:
      id_from_url: "/(?:item|v)/(?P<id>[a-z0-9]+)"
      fields:
        title: "h1.name::text"
        price: ".price::text"
        seller_name: ".seller a::text"
"""
OLD_SEARCH = """\
      result: "li.hit"
      link: "a.hit-link::attr(href)"
      sponsored: ".ad"
"""
FIXED_SEARCH = """\
      result: ["li.hit", "div.tile"]
      link: ["a.hit-link::attr(href)", "a.tile-link::attr(href)"]
      sponsored: [".ad", ".promo-badge"]
"""
SPONSORED = {i.sku for i in ITEMS if i.sponsored}


class Runs:
    def __init__(self, root: Path, site: Drift) -> None:
        self.root, self.site = root, site
        self.store = root / "store"
        self.write_watchlist(OLD_SEARCH)

    def write_watchlist(self, search: str) -> None:
        (self.root / "w.yaml").write_text(
            RECIPE.format(base=self.site.base_url, search=search.rstrip("\n")), "utf-8")

    def crawl(self, name: str, *extra: str) -> tuple[CliResult, dict[str, Any]]:
        result = run_markwatch(["crawl", "-w", "w.yaml", "--store", f"file://{self.store}",
                                "--report-json", f"{name}.json", *extra], cwd=self.root)
        path = self.root / f"{name}.json"
        assert path.exists(), result.err[-3000:]
        return result, json.loads(path.read_text(encoding="utf-8"))

    def cli(self, *args: str) -> CliResult:
        return run_markwatch(list(args), cwd=self.root,
                             env={"MARKWATCH_STORE": f"file://{self.store}"})

    def rows(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        out = self.cli("evidence", "list", "--kind", kind, "--run", run_id, "--format", "json")
        assert out.code == 0, out.err
        rows: list[dict[str, Any]] = json.loads(out.out)
        return rows

    def shown(self, capture_id: str) -> dict[str, Any]:
        out = self.cli("evidence", "show", capture_id, "--format", "json")
        assert out.code == 0, out.err
        shown: dict[str, Any] = json.loads(out.out)
        return shown

    def digests(self) -> dict[str, str]:
        return {str(p.relative_to(self.store)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.store.rglob("*")) if p.is_file()
                and not p.name.startswith("catalog")}


def _layout(site: Drift, n: int) -> None:
    urllib.request.urlopen(f"{site.base_url}/__admin/layout?search={n}", timeout=10).read()
    assert site.search_layout == n


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with Drift() as site:
        runs = Runs(tmp_path_factory.mktemp("search-drift"), site)
        reports = {}
        for n in (1, 2, 3):
            _layout(site, n)
            result, report = runs.crawl(f"run{n}", "--set", "COVERAGE_ALARM_MIN_CAPTURES=1")
            assert report["run_id"], result.err[-3000:]
            reports[n] = (result, report)
        yield {"runs": runs, "reports": reports}


def _search_capture(runs: Runs, report: dict[str, Any]) -> str:
    rows = runs.rows(report["run_id"], "search")
    assert len(rows) == 1
    return str(rows[0]["capture_id"])


def _view(results: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["listing_id"], r["sponsored"], r["placeholder"], r["organic_position"])
            for r in results]


def test_redesigns_lose_adverts_then_results(drifted: dict[str, Any]) -> None:
    runs: Runs = drifted["runs"]
    reports = drifted["reports"]
    first = runs.shown(_search_capture(runs, reports[1][1]))
    assert {r["listing_id"] for r in first["results"] if r["sponsored"]} == SPONSORED
    assert {r["strategy"] for r in first["results"]} == {None}  # the capture names none
    # layout 2: the repeated-card layer still finds the cards, but not the advert
    second = runs.shown(_search_capture(runs, reports[2][1]))
    assert len(second["results"]) == len(ITEMS)
    assert not any(r["sponsored"] for r in second["results"])
    assert {r["listing_id"] for r in runs.rows(reports[2][1]["run_id"], "listing")} \
        == {i.sku for i in ITEMS}
    assert not any(r["sponsored"] for r in runs.rows(reports[2][1]["run_id"], "listing"))
    # layout 3: nothing found, no listing followed; the coverage alarm says so
    third = runs.shown(_search_capture(runs, reports[3][1]))
    assert third["results"] == [] and third["manifest"]["search"]["results"] == []
    warnings = reports[3][1]["coverage_warnings"]
    assert [(w["kind"], w["field"], w["share"]) for w in warnings] == [("search", "results", 0)]


def test_reparse_restores_search_results(drifted: dict[str, Any]) -> None:
    runs: Runs = drifted["runs"]
    reports = drifted["reports"]
    before = runs.digests()
    runs.write_watchlist(FIXED_SEARCH)
    out = runs.cli("reparse", "--kind", "search", "-w", "w.yaml", "--format", "json")
    assert out.code == 0, out.err
    summary = json.loads(out.out)
    # run 1's results were right: nothing new; runs 2 and 3 each get a record
    assert summary["kinds"] == {"search": 3} and summary["skipped"] == {}, summary
    assert summary["written"] == 2 and summary["unchanged"] == 1
    after = runs.digests()
    assert {k: after[k] for k in before} == before  # not one stored byte changed
    new = sorted(set(after) - set(before))
    assert len(new) == 2 and all(k.startswith("derived/reparse/") for k in new)

    expected = []
    rank = 0
    for item in ITEMS:
        rank += not item.sponsored
        expected.append((item.sku, item.sponsored, False, None if item.sponsored else rank))
    for n in (2, 3):
        capture_id = _search_capture(runs, reports[n][1])
        shown = runs.shown(capture_id)
        assert _view(shown["results"]) == expected
        assert {r["strategy"] for r in shown["results"]} == {"page"}
        assert [v["origin"] == "capture" for v in shown["result_versions"]] == [True, False]
        record = json.loads((runs.store / shown["result_versions"][1]["origin"]).read_bytes())
        assert record["type"] == "search-reparse" and record["capture_id"] == capture_id
        assert record["manifest_key"].startswith("captures/") and capture_id in record[
            "manifest_key"]
        assert record["manifest_sha256"] == shown["manifest_sha256"]
        dom = next(a for a in shown["manifest"]["artifacts"] if a["name"] == "dom.html")
        assert record["dom_sha256"] == dom["sha256"] and record["source"]["kind"] == "dom"
        assert record["parser_version"] and record["parsed_at"].endswith("Z")
    text = runs.cli("evidence", "show", _search_capture(runs, reports[3][1]))
    assert "[sponsored]" in text.out and "re-parsed" in text.out and "by page" in text.out

    # the listing of run 2 reached from the advert: its own record still says nothing, the
    # re-parsed search marks it
    listings = runs.rows(reports[2][1]["run_id"], "listing")
    assert {r["listing_id"] for r in listings if r["sponsored"]} == SPONSORED
    advert = next(r for r in listings if r["listing_id"] in SPONSORED)
    shown = runs.shown(advert["capture_id"])
    assert shown["sponsored"] is True and not shown["manifest"]["listing"]["sponsored"]
    table = runs.cli("evidence", "list", "--kind", "listing", "--run", reports[2][1]["run_id"])
    assert table.out.count("[sponsored]") == len(SPONSORED)

    again = runs.cli("reparse", "--kind", "search", "-w", "w.yaml", "--format", "json")
    assert json.loads(again.out)["written"] == 0  # idempotent
    assert runs.digests() == after

    views = {n: runs.shown(_search_capture(runs, reports[n][1]))["results"] for n in (1, 2, 3)}
    rebuilt = runs.cli("catalog", "rebuild")
    assert rebuilt.code == 0, rebuilt.err
    for n in (1, 2, 3):
        assert runs.shown(_search_capture(runs, reports[n][1]))["results"] == views[n]
    assert {r["listing_id"] for r in runs.rows(reports[2][1]["run_id"], "listing")
            if r["sponsored"]} == SPONSORED
    verify = runs.cli("verify", "--all")
    assert verify.code == 0, verify.out + verify.err
