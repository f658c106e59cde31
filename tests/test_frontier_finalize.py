"""Finalizing a distributed run from the store's truth: a worker killed after a capture's
manifest reached the store, but before the catalog indexed it (and before it could tell the
frontier), still has that capture in the run's record, its seal and `verify --all`.

A real Redis frontier, a real local store and real SQLite catalogs; the kill is reproduced
exactly by storing the capture through the evidence pipeline into a catalog other than the
run's, so the run's catalog never hears of it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from scrapy.utils.test import get_crawler

from crawler.clock import SystemClock
from crawler.evidence.manifest import CaptureItem, WatchRef
from crawler.frontier.run import finalize, seed
from crawler.ids import new_ulid
from crawler.items import Listing
from crawler.pipelines.evidence import EvidencePipeline
from crawler.runs.ledger import RunLedger
from crawler.runs.runner import CrawlOptions
from storage.catalog import Catalog
from storage.local import LocalStore
from tests.helpers import project_config, run_markwatch
from tests.servers.redis import RedisServer

WATCHLIST = """\
version: 1
case: "CASE-KILLED"
settings:
  max_pages: 1
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    marketplaces: [demo]
"""


def _capture(run_id: str, started: dt.datetime) -> CaptureItem:
    url = "http://127.0.0.1:9/item/LM-1"
    listing = Listing(marketplace="demo", url=url, listing_id="LM-1", title="Lumara bag",
                      price=Decimal("10.50"), currency="EUR")
    return CaptureItem(
        capture_id=new_ulid(started), kind="listing",
        watch=WatchRef("Lumara", "lumara handbag", "demo", "CASE-KILLED"), request_url=url,
        final_url=url, status=200, started_at=started,
        finished_at=started + dt.timedelta(seconds=2), artifacts=[],
        browser={"name": "chromium", "version": "1", "user_agent": "UA", "viewport": {}},
        listing=listing)


def test_finalize_lists_a_capture_the_catalog_never_indexed(
        tmp_path: Path, redis_server: RedisServer) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    store_dir = tmp_path / "store"
    run_catalog = f"sqlite:///{tmp_path / 'run-catalog.db'}"
    frontier = seed(CrawlOptions(tmp_path / "watchlist.yaml", f"file://{store_dir}",
                                 run_catalog), redis_server.uri)
    run_id = frontier.run_id
    started = SystemClock().now()
    # the worker's pipeline stores the capture; its catalog is not the run's: the run's
    # catalog never sees it, exactly as when the worker dies between the two writes
    crawler = get_crawler(settings_dict={"TRIAGE_ENABLED": False})
    assert crawler.stats is not None
    pipeline = EvidencePipeline(LocalStore(store_dir), Catalog(f"sqlite:///{tmp_path / 'x.db'}"),
                                project_config(MARKWATCH_RUN_ID=run_id), crawler.stats)
    pipeline.ledger = RunLedger(run_id, "demo", started, "CASE-KILLED", {})
    entry = pipeline._store_capture(_capture(run_id, started))
    with Catalog(run_catalog) as catalog:
        assert catalog.get(entry.capture_id) is None

    report = finalize(frontier)

    assert report.errors == []
    (record,) = report.runs
    assert [c["capture_id"] for c in record["captures"]] == [entry.capture_id]
    assert record["captures"][0]["manifest_key"] == entry.manifest_key
    with Catalog(run_catalog) as catalog:
        row = catalog.get(entry.capture_id)
        assert row is not None and row["run_id"] == run_id
    verified = run_markwatch(["verify", "--all", "--store", f"file://{store_dir}",
                              "--catalog", run_catalog], cwd=tmp_path)
    assert verified.code == 0, verified.out + verified.err
