"""A PostgreSQL catalog that goes away mid-run (a real PostgreSQL, stopped and started again):
a capture waits for it, or is stored and indexed later; nothing stored is lost."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from crawler.evidence.manifest import CaptureItem, WatchRef
from crawler.ids import new_ulid
from crawler.items import Listing
from crawler.pipelines.catalog_outage import CATALOG_DOWN, with_retries
from crawler.pipelines.evidence import EvidencePipeline
from crawler.runs.ledger import RunLedger
from storage.catalog import Catalog
from storage.local import LocalStore
from tests.helpers import project_config
from tests.servers.postgres import PostgresServer, bindir, ensure_postgres

T0 = dt.datetime(2026, 12, 5, 2, 0, tzinfo=dt.UTC)


def _pg_ctl(server: PostgresServer, action: str) -> None:
    """Stop (fast: connections dropped) or start the server, keeping its data."""
    binaries = bindir()
    assert binaries is not None
    args = [str(binaries / "pg_ctl"), "-D", str(server.data), "-l",
            str(server.root / "postgres.log"), "-w", action]
    if action == "stop":
        args[-1:-1] = ["-m", "fast"]
    done = server._cmd(args)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test alone (it is stopped and started again)."""
    why = ensure_postgres()
    if why is not None:
        pytest.skip(f"POSTGRESQL TESTS SKIPPED: {why}")
    with PostgresServer() as server:
        yield server


def _item(n: int) -> CaptureItem:
    url = f"http://127.0.0.1/item/{n}"
    listing = Listing(marketplace="demo", url=url, listing_id=str(n), title="Lumara bag",
                      price=Decimal("10.50"), currency="EUR")
    return CaptureItem(
        capture_id=new_ulid(T0 + dt.timedelta(seconds=n)), kind="listing",
        watch=WatchRef("Lumara", "lumara", "demo", "CASE-1"), request_url=url, final_url=url,
        status=200, started_at=T0, finished_at=T0 + dt.timedelta(seconds=2), artifacts=[],
        browser={"name": "chromium", "version": "1", "user_agent": "UA", "viewport": {}},
        listing=listing)


def _pipeline(tmp_path: Path, catalog: Catalog, retry: float) -> EvidencePipeline:
    crawler = get_crawler(settings_dict={"TRIAGE_ENABLED": False})
    assert crawler.stats is not None
    pipeline = EvidencePipeline(LocalStore(tmp_path / "store"), catalog,
                                project_config(MARKWATCH_RUN_ID="RUN-OUTAGE"), crawler.stats)
    pipeline.catalog_retry = retry
    pipeline.ledger = RunLedger("RUN-OUTAGE", "demo", T0, "CASE-1", {})
    return pipeline


def test_a_capture_waits_for_a_restarting_catalog(tmp_path: Path,
                                                  own_postgres: PostgresServer) -> None:
    catalog = Catalog(own_postgres.new_database())
    pipeline = _pipeline(tmp_path, catalog, retry=60)
    _pg_ctl(own_postgres, "stop")
    restarts = []

    def restart(seconds: float) -> None:  # the first pause: the server comes back
        if not restarts:
            _pg_ctl(own_postgres, "start")
        restarts.append(seconds)

    pipeline.catalog_pause = restart
    item = _item(1)
    out = pipeline._store_capture(item)  # the catalog is down when the capture starts
    assert len(restarts) == 1
    assert catalog.get(item.capture_id) is not None
    assert out.capture_id not in pipeline.unindexed
    assert with_retries(lambda: catalog.get("none"), "reading", 0) is None


def test_a_capture_stored_while_the_catalog_is_down_is_indexed_at_finalize(
        tmp_path: Path, own_postgres: PostgresServer, redis_server: object) -> None:
    from crawler.frontier.queue import Frontier, connect
    from crawler.frontier.run import index_late

    uri = own_postgres.new_database()
    catalog = Catalog(uri)
    pipeline = _pipeline(tmp_path, catalog, retry=0.5)
    _pg_ctl(own_postgres, "stop")
    item = _item(2)
    entry = pipeline._store_capture(item)  # waits half a second, then goes on without it
    assert entry.capture_id in pipeline.unindexed
    assert pipeline.stats.get_value("evidence/unindexed") == 1
    stored = json.loads(pipeline.store.read_document(entry.manifest_key))
    assert stored["capture_id"] == item.capture_id  # the evidence is in the store
    assert "previous_capture" not in stored or stored["previous_capture"] is None
    with pytest.raises(CATALOG_DOWN):
        catalog.get(item.capture_id)
    # the worker keeps the key in the frontier; finalize indexes it once the catalog is back
    frontier = Frontier(connect(redis_server.uri), "RUN-OUTAGE")  # type: ignore[attr-defined]
    frontier.add_unindexed("demo", entry.manifest_key)
    _pg_ctl(own_postgres, "start")
    meta = {"marketplaces": ["demo"]}
    assert index_late(frontier, meta, pipeline.store, catalog) == 1
    row = catalog.get(item.capture_id)
    assert row is not None and row["manifest_key"] == entry.manifest_key
    # and a catalog rebuilt from the store has it too
    fresh = Catalog(own_postgres.new_database())
    fresh.rebuild(pipeline.store)
    assert fresh.get(item.capture_id) is not None
