"""End to end on PostgreSQL: the CLI crawls the demo marketplace in real Chromium into a
PostgreSQL catalog (Debian's server, started by the tests); triage decisions, takedown marks and
alert records land in it; `evidence list` answers as a SQLite catalog of the same store does;
`catalog rebuild` into PostgreSQL equals the catalog the crawl built, table by table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crawler.alerts.events import Event, EventType
from crawler.alerts.records import AlertIndex, write_event
from crawler.demo import DemoMarketplace
from storage.catalog import Catalog
from storage.local import LocalStore
from storage.schema import load_metadata
from tests.helpers import CliResult, run_markwatch
from tests.servers.postgres import PASSWORD, PostgresServer

pytest_plugins = ["tests.servers"]
pytestmark = pytest.mark.browser

WATCHLIST = """\
version: 1
case: "CASE-PG"
settings:
  max_pages: 1
  max_listings: 4
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    msrp: {currency: EUR, min: 900}
    marketplaces: [demo]
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
"""
INDEX_TABLES = sorted(t for t in load_metadata().tables if t != "schedule_runs")
"""Every table `catalog rebuild` restores (the scheduler's history is its own record)."""


class PgCrawl:
    def __init__(self, root: Path, market: DemoMarketplace, catalog: str) -> None:
        self.root, self.market, self.catalog = root, market, catalog
        self.store = root / "store"
        (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")

    def cli(self, *args: str, catalog: str | None = None) -> CliResult:
        return run_markwatch(list(args), cwd=self.root, env={
            "MARKWATCH_STORE": f"file://{self.store}",
            "MARKWATCH_CATALOG": catalog or self.catalog,
            "MARKWATCH_DEMO_URL": self.market.base_url})

    def ok(self, *args: str, catalog: str | None = None) -> CliResult:
        result = self.cli(*args, catalog=catalog)
        assert result.code == 0, (args, result.out[-2000:], result.err[-3000:])
        assert PASSWORD not in result.out + result.err
        return result


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, demo_market: DemoMarketplace,
            chromium: str, postgres_server: PostgresServer) -> PgCrawl:
    crawl = PgCrawl(tmp_path_factory.mktemp("pg-e2e"), demo_market,
                    postgres_server.new_database())
    crawl.ok("crawl", "-w", "watchlist.yaml", "--log-level", "WARNING",
             "--report-json", "report.json")
    with Catalog(crawl.catalog) as cat:
        listings = cat.query("SELECT capture_id, listing_id FROM captures "
                             "WHERE kind = 'listing' ORDER BY listing_id")
    crawl.ok("triage", "decide", listings[0]["capture_id"], "--verdict", "counterfeit",
             "--note", "logo <b>wrong</b>", "--actor", "alice")
    crawl.ok("takedown", "mark-sent", f"demo:{listings[1]['listing_id']}", "--reference", "T-1")
    event = Event(event_id="EV-PG-1", type=EventType.SUSPICIOUS_LISTING,
                  occurred_at="2026-01-01T00:00:00.000000Z", summary="suspicious <listing>",
                  case="CASE-PG", capture_ids=(listings[0]["capture_id"],))
    key = write_event(LocalStore(crawl.store), event)
    with AlertIndex(crawl.catalog) as index:
        index.index_event(event.to_json(), key)
    return crawl


def _rows(uri: str) -> dict[str, list[dict[str, Any]]]:
    with Catalog(uri) as cat:
        return {t: list(cat.iter_rows(t)) for t in INDEX_TABLES}


def test_the_crawl_fills_the_postgresql_catalog(crawled: PgCrawl) -> None:
    report = json.loads((crawled.root / "report.json").read_text())
    assert report["exit_code"] == 0 and report["counts"]["failures"] == 0
    assert not (crawled.store / "catalog.db").exists()  # nothing went to a SQLite file
    rows = _rows(crawled.catalog)
    listing_ids = [r["listing_id"] for r in rows["captures"] if r["kind"] == "listing"]
    assert len(listing_ids) == report["counts"]["listings"] == len(set(listing_ids)) > 0
    for table in ("captures", "artifacts", "runs", "listing_fields", "triage_scores",
                  "triage_decisions", "takedown_observations", "takedown_status",
                  "alert_events"):
        assert rows[table], f"{table} is empty"
    verified = crawled.cli("verify", "--all", "--integrity-only")
    assert verified.code == 0, verified.out[-2000:] + verified.err[-2000:]


def test_evidence_list_answers_as_on_sqlite(crawled: PgCrawl, tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'catalog.db'}"
    crawled.ok("catalog", "rebuild", catalog=sqlite)
    seller = next(r["seller_name"] for r in _rows(crawled.catalog)["captures"]
                  if r["seller_name"])
    for query in (["--brand", "LUMARA"], ["--term", "Corvane Watch"], ["--kind", "search"],
                  ["--suspicious"], ["--seller", seller.upper()], ["--min-score", "1"],
                  ["--sort", "score"], []):
        on_pg = crawled.ok("evidence", "list", *query, "--format", "json")
        on_sqlite = crawled.ok("evidence", "list", *query, "--format", "json", catalog=sqlite)
        assert json.loads(on_pg.out) == json.loads(on_sqlite.out), query
        if query and query[0] in ("--brand", "--term", "--seller"):
            assert json.loads(on_pg.out), query  # matched ignoring case
    assert _rows(sqlite) == _rows(crawled.catalog)  # the same rows on either engine
    listing = next(r for r in _rows(sqlite)["captures"] if r["kind"] == "listing")
    for command in (["triage", "list"], ["triage", "photos"], ["sellers", "clusters"],
                    ["takedown", "status"], ["takedown", "changes"], ["takedown", "stats"],
                    ["alerts", "list"], ["runs", "list"],
                    ["evidence", "show", listing["capture_id"]]):
        on_pg = crawled.ok(*command, "--format", "json")
        on_sqlite = crawled.ok(*command, "--format", "json", catalog=sqlite)
        assert json.loads(on_pg.out) == json.loads(on_sqlite.out), command
    for command in (["sellers", "show", listing["seller_name"]],  # text only
                    ["triage", "show", listing["capture_id"]]):
        assert crawled.ok(*command).out == crawled.ok(*command, catalog=sqlite).out, command


def test_rebuild_into_postgresql_equals_the_incremental_catalog(
        crawled: PgCrawl, postgres_server: PostgresServer) -> None:
    before = _rows(crawled.catalog)
    fresh = postgres_server.new_database()
    out = crawled.ok("catalog", "rebuild", catalog=fresh)
    assert f"{len(before['captures'])} captures" in out.out
    assert _rows(fresh) == before
    crawled.ok("catalog", "rebuild")  # in place, on the crawl's own PostgreSQL catalog
    assert _rows(crawled.catalog) == before
    queue = json.loads(crawled.ok("triage", "list", "--format", "json").out)
    assert any(r.get("verdict") == "counterfeit" for r in queue)  # decisions survived
