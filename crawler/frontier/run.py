"""Seeding a distributed run, waiting for it to drain, and finalizing it once.

`seed` describes the run in the frontier (watchlist text, store, catalog, settings) and queues
the first search page of every selected watch. `finalize` writes each marketplace's run record
from the catalog's captures of the run and the failures the workers kept in the frontier, seals
it (`crawler.seal.runs`), and closes the run; a Redis flag lets only one caller do it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crawler.clock import Clock, SystemClock, isoformat, parse_utc
from crawler.evidence.manifest import FailureItem, WatchRef, canonical_json
from crawler.exceptions import ConfigError, StoreError
from crawler.frontier.codec import seed_payload
from crawler.frontier.queue import Frontier, connect
from crawler.ids import new_ulid
from crawler.pipelines.catalog_outage import with_retries
from crawler.runs.ledger import CaptureEntry, RunLedger
from crawler.runs.runner import CrawlOptions, CrawlReport, project_settings, select_marketplaces

logger = logging.getLogger(__name__)

CATALOG_WAIT = 300.0
"""Seconds finalize waits for a catalog that is down (crawler.pipelines.catalog_outage)."""


def seed(options: CrawlOptions, frontier_uri: str, clock: Clock | None = None,
         lease_seconds: float = 60.0) -> Frontier:
    """Open a run in the frontier and queue its start; returns the run's frontier."""
    from crawler.registry import known_marketplaces
    from crawler.watchlist import load_watchlist

    clock = clock or SystemClock()
    watchlist = load_watchlist(options.watchlist, known_marketplaces(project_settings()))
    chosen = select_marketplaces(watchlist, options.marketplaces, options.brands)
    if not chosen:
        raise ConfigError(f"{options.watchlist}: no watch matches the --marketplace/--brand given")
    started = clock.now()
    run_id = new_ulid(started)
    text = Path(options.watchlist).read_bytes()
    watches = list(watchlist.watches(marketplaces=chosen, brands=options.brands))
    cases: dict[str, str | None] = {}
    for watch in watches:
        cases.setdefault(watch.marketplace, watch.case)
    meta = {
        "run_id": run_id, "started_at": isoformat(started), "store": options.store,
        "catalog": options.catalog, "marketplaces": chosen,
        "recipes": [m for m in chosen if m in watchlist.recipes], "cases": cases,
        "watchlist": {"path": str(options.watchlist),
                      "sha256": hashlib.sha256(text).hexdigest(),
                      "text": text.decode("utf-8")},
        "brands": list(options.brands), "max_listings": options.max_listings,
        "obey_robots": watchlist.settings.obey_robots,
        "settings": {k: v for k, v in options.settings.items() if k != "LOG_LEVEL"},
    }
    frontier = Frontier(connect(frontier_uri), run_id, lease_seconds)
    frontier.create(meta)
    for watch in watches:
        frontier.push(watch.marketplace, seed_payload(watch.brand, watch.term))
    frontier.mark_seeded()
    logger.info("run %s seeded: %d watches on %s", run_id, len(watches), ", ".join(chosen))
    return frontier


def wait_drained(frontier: Frontier, poll: float = 0.2, settle: int = 2,
                 sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once the frontier was drained on `settle` checks in a row."""
    calm = 0
    while calm < settle:
        calm = calm + 1 if frontier.is_drained() else 0
        sleep(poll)


def finalize(frontier: Frontier, clock: Clock | None = None,
             catalog_uri: str | None = None) -> CrawlReport:
    """Write, index and seal the run's records once; ConfigError when already finalized.
    `catalog_uri` replaces the catalog the run's description names (a moved database)."""
    from crawler.runs.resume import repair_catalog
    from crawler.seal.config import SealConfig
    from crawler.seal.runs import RunSealer
    from storage.catalog import Catalog
    from storage.layout import run_record_key
    from storage.uri import open_store

    clock = clock or SystemClock()
    meta = frontier.meta()
    if catalog_uri:
        meta["catalog"] = catalog_uri
    if not frontier.claim_finalize():
        raise ConfigError(f"run {frontier.run_id} is already finalized (or being finalized)")
    started = parse_utc(meta["started_at"])
    store = open_store(meta["store"])
    sealer = RunSealer(store, SealConfig.from_settings(project_settings()), clock)
    records: list[dict[str, Any]] = []
    seals: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        with with_retries(lambda: Catalog(meta["catalog"]), "opening the catalog",
                          CATALOG_WAIT) as catalog:
            late = index_late(frontier, meta, store, catalog)
            if late:
                errors.append(f"{late} capture(s) were stored while the catalog was down and "
                              "indexed now; `markwatch catalog rebuild` restores their triage "
                              "scores")
            # a worker killed between storing a manifest and indexing it left no trace in the
            # frontier: the store is the truth, so its manifests of this run are indexed too
            lost = with_retries(lambda: repair_catalog(store, catalog, frontier.run_id,
                                                       clock.now()),
                                "indexing the stored captures", CATALOG_WAIT)
            if lost:  # nothing is missing now: said, not a failure of the run
                logger.warning("%d stored capture(s) of run %s had not been indexed (a worker "
                               "stopped between storing and indexing them); indexed now",
                               lost, frontier.run_id)
            rows = catalog.find_run(frontier.run_id)
            for marketplace in meta["marketplaces"]:
                record = _record(frontier, meta, marketplace, rows, started, clock)
                key = run_record_key(frontier.run_id, marketplace)
                try:
                    doc = store.put_document(key, canonical_json(record), "application/json")
                    catalog.index_run(record, key, doc.sha256)
                    outcome = sealer.after_run(record, key, doc.sha256)
                    if outcome.failed:
                        from crawler.frontier.metrics import SEAL_FAILURES

                        SEAL_FAILURES.inc()
                    seals.append(outcome.to_json())
                    records.append(record)
                except StoreError as exc:
                    errors.append(f"store unavailable: {exc}")
    finally:
        store.close()
    frontier.close_run()
    report = CrawlReport(frontier.run_id, meta["store"], meta["catalog"], started, clock.now(),
                         records, errors, seals=seals)
    from crawler.takedown.observe import observe_run

    observe_run(report, clock)  # as after a single-process run: changes, removals, relistings
    return report


def index_late(frontier: Frontier, meta: dict[str, Any], store: Any, catalog: Any) -> int:
    """Index the captures workers stored while the catalog was down (from the store)."""
    done = 0
    for marketplace in meta["marketplaces"]:
        for key in frontier.unindexed(marketplace):
            data = store.read_document(key)

            def index(key: str = key, data: bytes = data) -> None:
                catalog.index_capture(json.loads(data), key, hashlib.sha256(data).hexdigest())

            with_retries(index, "indexing a late capture", CATALOG_WAIT)
            done += 1
    return done


def _record(frontier: Frontier, meta: dict[str, Any], marketplace: str,
            rows: list[dict[str, Any]], started: Any, clock: Clock) -> dict[str, Any]:
    case = meta.get("cases", {}).get(marketplace)
    watchlist = {k: v for k, v in meta["watchlist"].items() if k != "text"}
    ledger = RunLedger(frontier.run_id, marketplace, started, case, watchlist)
    ledger.captures.extend(
        CaptureEntry(r["capture_id"], r["kind"], r["url"], r["manifest_key"],
                     r["manifest_sha256"])
        for r in rows if r["marketplace"] == marketplace)
    ledger.failures = [
        FailureItem(f["url"], f["page_kind"], WatchRef(f["brand"], f["term"], marketplace,
                                                       f.get("case")),
                    f["reason"], parse_utc(f["at"]))
        for f in frontier.failures(marketplace)]
    counts = frontier.counts(marketplace)
    ledger.new_blobs = counts.get("new_blobs", 0)
    ledger.reused_blobs = counts.get("reused_blobs", 0)
    ledger.new_bytes = counts.get("new_bytes", 0)
    try:
        return ledger.record(clock.now(), "finished")
    finally:
        ledger.close()


def report_json(report: CrawlReport) -> str:
    return json.dumps(report.to_json(), indent=2)


def seed_and_finalize(options: CrawlOptions, frontier_uri: str) -> CrawlReport:
    """`markwatch crawl --frontier`: seed, wait for the workers to drain it, finalize."""
    from crawler.frontier.uri import reaching, redact

    with reaching(frontier_uri):
        frontier = seed(options, frontier_uri)
        print(f"run {frontier.run_id} seeded into {redact(frontier_uri)}; waiting for workers",
              flush=True)
        wait_drained(frontier)
        return finalize(frontier)
