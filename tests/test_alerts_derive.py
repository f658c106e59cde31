"""Events derived from a run's report and captures, through a real SQLite catalog."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from crawler.alerts.derive import derive_events
from crawler.alerts.events import EventType
from crawler.watchlist import parse_watchlist
from storage.catalog import Catalog
from storage.upload_spool import PendingItem

WATCHLIST = """\
version: 1
brands:
  - {name: Lumara, terms: [lumara], marketplaces: [demo]}
alerts:
  portal_url: "https://portal.example.net"
  spool_stale_after: 1h
  channels:
    hook: {webhook: "https://hooks.example.net/h", secret_env: HOOK_SECRET}
"""


def config():  # type: ignore[no-untyped-def]
    alerts = parse_watchlist(WATCHLIST, "wl.yaml", ["demo"]).alerts
    assert alerts is not None
    return alerts


def manifest(capture_id: str, run_id: str, kind: str, listing_id: str, at: str,
             suspicious: bool = False, title: str = "Lumara bag") -> dict[str, Any]:
    return {
        "capture_id": capture_id, "run_id": run_id, "kind": kind,
        "watch": {"marketplace": "demo", "brand": "Lumara", "term": "lumara", "case": "C-1"},
        "listing": {"listing_id": listing_id, "title": title, "price": "99",
                    "currency": "EUR"},
        "request_url": f"http://127.0.0.1:1/item/{listing_id}", "final_url": None,
        "status": 200 if kind == "listing" else 410, "started_at": at, "finished_at": at,
        "notes": {"triage": {"below_msrp": suspicious}}, "artifacts": [],
    }


def index(cat: Catalog, *manifests: dict[str, Any]) -> None:
    for m in manifests:
        cat.index_capture(m, f"captures/2026/12/04/{m['capture_id']}.json", "0" * 64)


def run(run_id: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "finished_at": "2026-12-04T12:00:00Z", "records": [],
            "errors": [], "seals": [], **extra}


NOW = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)


def by_type(events: list[Any]) -> dict[EventType, list[Any]]:
    out: dict[EventType, list[Any]] = {}
    for e in events:
        out.setdefault(e.type, []).append(e)
    return out


def test_listing_events_across_runs(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as cat:
        index(cat, manifest("C1", "R1", "listing", "A", "2026-12-01T10:00:00Z", True),
              manifest("C2", "R1", "listing", "B", "2026-12-01T10:00:01Z"))
        first = derive_events(config(), run("R1"), cat, [], NOW)
        assert [(e.type, e.capture_ids) for e in first] == [
            (EventType.SUSPICIOUS_LISTING, ("C1",))]
        suspicious = first[0]
        assert (suspicious.brand, suspicious.case, suspicious.marketplace) == \
            ("Lumara", "C-1", "demo")
        assert suspicious.listing_url == "http://127.0.0.1:1/item/A"
        assert suspicious.portal_url == "https://portal.example.net/captures/C1"

        index(cat, manifest("C3", "R2", "listing", "A", "2026-12-02T10:00:00Z", True),
              manifest("C4", "R2", "gone", "B", "2026-12-02T10:00:01Z"))
        second = by_type(derive_events(config(), run("R2"), cat, [], NOW))
        assert EventType.SUSPICIOUS_LISTING not in second  # A was flagged before: not new
        removed = second[EventType.LISTING_REMOVED][0]
        assert removed.capture_ids == ("C4", "C2") and removed.listing_id == "B"

        index(cat, manifest("C5", "R3", "listing", "B", "2026-12-03T10:00:00Z"))
        third = by_type(derive_events(config(), run("R3"), cat, [], NOW))
        assert [e.capture_ids for e in third[EventType.LISTING_RELISTED]] == [("C5", "C4")]
        # a second gone capture in a row is not a second removal
        index(cat, manifest("C6", "R4", "gone", "B", "2026-12-04T10:00:00Z"),
              manifest("C7", "R5", "gone", "B", "2026-12-04T11:00:00Z"))
        assert len(derive_events(config(), run("R4"), cat, [], NOW)) == 1
        assert derive_events(config(), run("R5"), cat, [], NOW) == []
        # the same run derived twice gives the same ids (delivered once)
        again = derive_events(config(), run("R1"), cat, [], NOW)
        assert [e.event_id for e in again] == [suspicious.event_id]


def test_run_events(tmp_path: Path) -> None:
    records = [
        {"marketplace": "demo", "status": "partial", "finish_reason": "blocked", "case": "C-1",
         "finished_at": "2026-12-04T11:00:00Z", "counts": {"failures": 1},
         "failures": [{"url": "http://x/<b>", "reason": "HTTP 500"}]},
        {"marketplace": "other", "status": "complete", "finish_reason": "finished",
         "failures": [], "coverage": {"threshold": 0.3, "baseline_runs": 5, "warnings": [
             {"marketplace": "other", "kind": "listing", "field": "price", "share": 0.0,
              "baseline": 1.0, "runs": 5},
             {"marketplace": "other", "kind": "search", "field": "results", "share": 0.25,
              "baseline": 0.9, "runs": 4}]}},
    ]
    seals = [{"marketplace": "demo", "status": "pending", "reason": "TSA unreachable",
              "required": True}]
    spooled = [
        PendingItem("document", "captures/2026/12/04/01JABCDEF.json", "a" * 64, 10,
                    "application/json", "2026-12-04T09:00:00Z", Path("x"), Path("y")),
        PendingItem("blob", "blobs/aa", "b" * 64, 10, "image/png", "2026-12-04T11:30:00Z",
                    Path("x"), Path("y")),
    ]
    with Catalog(tmp_path / "c.db") as cat:
        index(cat, {**manifest("B1", "R9", "blocked", "", "2026-12-04T10:00:00Z"),
                    "block": {"kind": "captcha"}})
        events = by_type(derive_events(
            config(), run("R9", records=records, seals=seals, errors=["other: boom"]),
            cat, spooled, NOW))
    failed = events[EventType.RUN_FAILED]
    assert [e.details["status"] for e in failed] == ["partial", "errors"]
    assert failed[0].details["first_failures"] == [{"url": "http://x/<b>", "reason": "HTTP 500"}]
    assert failed[0].portal_url == "https://portal.example.net/runs/R9"
    assert events[EventType.MARKETPLACE_BLOCKED][0].capture_ids == ("B1",)
    assert events[EventType.SEAL_FAILED][0].details["reason"] == "TSA unreachable"
    (drop,) = events[EventType.COVERAGE_DROP]  # one event per marketplace whose fields fell
    assert drop.marketplace == "other" and drop.run_id == "R9"
    assert drop.summary == ("Fields missing on other: price on listing pages 0% (recent runs "
                            "100%), results on search pages 25% (recent runs 90%)")
    assert [w["field"] for w in drop.details["warnings"]] == ["price", "results"]
    assert drop.details["baseline_runs"] == 5
    stale = events[EventType.SPOOL_STALE][0]
    assert stale.details["objects"] == 1 and stale.capture_ids == ("01JABCDEF",)
