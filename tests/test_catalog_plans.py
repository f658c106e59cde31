"""No catalog statement made for one capture, or after a run for each of its captures, reads
a whole table.

A statement that scans `captures` (or any table, or a whole index of it) for each capture
costs in proportion to the catalog, capture after capture: invisible on a fresh catalog and a
crawl's worth of time once the catalog holds months of evidence (triage's seller look-up did,
1 s a score at 100,000 captures: `bench/seller_lookup.py`). Demo listings are stored and
scored through the real evidence pipeline and triage into a real SQLite catalog; every
statement of the later captures is recorded and SQLite's own query plan for it is read.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event

from crawler.alerts.config import AlertsConfig
from crawler.alerts.derive import derive_events
from crawler.clock import FrozenClock
from crawler.demo.data import build_catalog
from crawler.demo.pages import item_page
from crawler.evidence.manifest import WatchRef
from crawler.fields.coverage import CoverageSettings, run_coverage
from crawler.takedown.observe import Observer
from crawler.triage.config import TriageConfig
from crawler.triage.engine import Triage
from crawler.triage.offline import offline_pipeline, store_page
from crawler.watchlist import load_watchlist
from spiders.pages.demo import DemoListingPage
from storage.catalog import Catalog
from storage.local import LocalStore
from tests.test_python_per_capture import _watchlist

BASE = "http://demo.test"
T0 = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
CATALOG = build_catalog()
FULL_SCAN = re.compile(r"\bSCAN (?!CONSTANT ROW)(\w+)")
SEARCH = re.compile(r"SEARCH (\w+) USING (?:COVERING )?INDEX (\w+) \(([^)]*)\)")
BROAD = {"marketplace", "kind", "availability", "case_ref", "brand", "term"}
"""Columns that alone select a large part of a table (every capture of a marketplace...)."""


BOUNDED = {
    "SELECT run_id FROM runs WHERE marketplace = ? AND run_id != ? "
    "ORDER BY started_at DESC LIMIT ?":
        "the marketplace's newest runs, read in index order, one of them skipped"}
"""Statements that search by broad columns only, and why they still read a bounded number."""


def too_broad(plan: str) -> str | None:
    """What in a query plan reads in proportion to the catalog: a table scanned, or searched
    through an index by broad columns only (`captures_marketplace (marketplace=?)`)."""
    if found := FULL_SCAN.search(plan):
        return found.group(0)
    for table, index, constraints in SEARCH.findall(plan):
        equal = {column for part in constraints.split(" AND ")
                 if part.endswith("=?") and ((column := part[:-2].strip()) == "<expr>"
                                             or not column.endswith(("<", ">")))}
        if equal <= BROAD:
            return f"{table} by {index} ({constraints})"
    return None


def _gone(n: int, run_id: str, url: str, kind: str) -> dict[str, Any]:
    when = f"2026-12-05T10:{n:02d}:00.000000Z"
    return {"capture_id": f"01JEC{n:021d}", "run_id": run_id, "kind": kind,
            "watch": {"marketplace": "demo", "brand": "Lumara", "term": "lumara",
                      "case": "CASE-PLANS"},
            "listing": None, "request_url": url, "final_url": None,
            "status": 404 if kind == "gone" else 200, "started_at": when, "finished_at": when,
            "block": {"kind": "captcha"} if kind == "blocked" else None, "artifacts": []}


def test_no_statement_of_a_capture_scans_a_table(tmp_path: Path) -> None:
    store, catalog = LocalStore(tmp_path / "store"), Catalog(tmp_path / "catalog.db")
    clock = FrozenClock(T0, step=1.0)
    watchlist = load_watchlist(_watchlist(tmp_path), ["demo"])
    triage = Triage.from_watchlist(watchlist, store, catalog, TriageConfig(), clock)
    pipeline = offline_pipeline(store, catalog, triage, clock)
    seen: dict[str, Any] = {}

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        seen.setdefault(statement, parameters[0] if executemany else parameters)

    listings = [i for i in CATALOG.listings if i.brand == "Lumara"][:30]
    assert len(listings) == 30
    for n, item in enumerate(listings):
        if n == 15:  # the first ones fill the catalog; the later ones are what is looked at
            event.listen(catalog.engine, "before_cursor_execute", record)
        html = item_page(item, BASE, consented=True).encode()
        images = {BASE + url: CATALOG.images[url[5:-4]] for url in item.image_urls}
        store_page(pipeline, DemoListingPage, html, BASE + item.url, images,
                   WatchRef("Lumara", "lumara", "demo", "CASE-PLANS"), T0)
    # a listing of the run gone since, and a page of a new URL behind a bot wall
    catalog.index_capture(_gone(1, pipeline.run_id, BASE + listings[0].url, "gone"),
                          "captures/gone.json", "a" * 64)
    catalog.index_capture(_gone(2, pipeline.run_id, BASE + "/item/never-seen", "blocked"),
                          "captures/blocked.json", "b" * 64)
    # and what a run does once its captures are stored: takedown's comparison with earlier
    # captures (relistings among them), the run's field coverage against earlier runs, and
    # its alerts (each listing's history)
    Observer(store, catalog, clock, "plans").run(pipeline.run_id)
    run_coverage(catalog, pipeline.run_id, "demo", CoverageSettings())
    events = derive_events(AlertsConfig(channels={}, rules=()), {"run_id": pipeline.run_id},
                           catalog, [], T0)
    assert events  # suspicious listings among them: each listing's history was read
    catalog.close()
    reads = {s: p for s, p in seen.items()
             if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH"))}
    for part in ("seller_keys", "availability = 'removed'", "FROM runs", "listing_id = ?",
                 "substr(final_url"):
        assert any(part in s for s in reads), part  # the look-ups in question are among them
    assert len(reads) >= 8
    db = sqlite3.connect(tmp_path / "catalog.db")
    try:
        scans = {}
        for statement, params in reads.items():
            plan = " | ".join(str(r[3]) for r in db.execute("EXPLAIN QUERY PLAN " + statement,
                                                            params))
            if " ".join(statement.split()) in BOUNDED:
                continue
            if why := too_broad(plan):
                scans[" ".join(statement.split())] = why
    finally:
        db.close()
    assert scans == {}, "\n".join(f"{why}: {sql}" for sql, why in scans.items())
