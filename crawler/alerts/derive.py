"""The events of a finished run, derived from its report, its captures (through the catalog)
and the spool. Nothing here touches the network; it runs after the crawl is over.

- `suspicious_listing`: a listing capture that triage flags (`is_suspicious`), for a listing
  not flagged in an earlier run;
- `listing_removed`: a `gone` capture whose previous capture of the same listing was live;
- `listing_relisted`: a live capture whose previous capture of the same listing was `gone`;
- `run_failed`: a marketplace whose run record is `failed` or `partial`, or run errors;
- `seal_failed`: a run record left unsealed (`pending`);
- `marketplace_blocked`: a marketplace whose spider stopped on repeated blocks;
- `coverage_drop`: a marketplace whose pages yielded a field far less often than in its recent
  runs (the run record's coverage warnings, `crawler.fields.coverage`): a redesign broke a parser;
- `spool_stale`: objects waiting in the spool longer than `alerts.spool_stale_after`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crawler.alerts.config import AlertsConfig
from crawler.alerts.events import Event, EventType, event_id
from crawler.cli.text import clip
from crawler.clock import isoformat, parse_utc
from spiders.backoff import STOP_REASON
from storage.catalog import CaptureQuery, Catalog
from storage.upload_spool import PendingItem

_MANIFEST = re.compile(r"^captures/\d{4}/\d{2}/\d{2}/(?P<id>[0-9A-Za-z]+)\.json$")
_MAX_FAILURES = 5
_MAX_DROPS = 20


def _bounded(text: str | None, width: int) -> str | None:
    """Page text cut to a size an alert can carry."""
    return None if text is None else clip(str(text), width)


def listing_score(capture: Mapping[str, Any]) -> float | None:
    """The listing's triage score (crawler.triage, the catalog's `triage_score`), None while
    the capture has none."""
    score = capture.get("triage_score")
    return None if score is None else float(score)


def is_suspicious(capture: Mapping[str, Any]) -> bool:
    """Whether triage flags the listing: its score reaches the threshold (the catalog's
    `suspicious` follows the score; captures stored before scoring keep the MSRP flag). A
    rule's `min_score` filters further on `listing_score`."""
    return bool(capture.get("suspicious"))


def derive_events(config: AlertsConfig, run: Mapping[str, Any], catalog: Catalog,
                  spooled: Sequence[PendingItem], now: dt.datetime) -> list[Event]:
    """Every event of one run. `run` is the run report (`CrawlReport.to_json()` form, with the
    marketplaces' run records under `records`)."""
    run_id = str(run["run_id"])
    builder = _Builder(config, run_id)
    rows = catalog.find(CaptureQuery(run_id=run_id))
    events = list(_listing_events(builder, rows, catalog))
    events += _run_events(builder, run, rows)
    events += _spool_events(builder, spooled, now)
    return events


class _Builder:
    def __init__(self, config: AlertsConfig, run_id: str) -> None:
        self.portal = config.portal_url
        self.stale_after = config.spool_stale_after
        self.run_id = run_id

    def capture_event(self, kind: EventType, row: Mapping[str, Any], summary: str,
                      subject: tuple[str, ...], also: Sequence[str] = (),
                      details: dict[str, Any] | None = None) -> Event:
        return Event(
            event_id=event_id(kind, *subject), type=kind, occurred_at=row["started_at"],
            summary=summary, run_id=row["run_id"], case=row.get("case_ref"),
            brand=row.get("brand"), marketplace=row.get("marketplace"),
            listing_url=_bounded(row.get("url"), 2048), listing_id=row.get("listing_id"),
            capture_ids=(row["capture_id"], *also), title=_bounded(row.get("title"), 500),
            price=row.get("price"), currency=row.get("currency"), score=listing_score(row),
            details=details or {},
            portal_url=f"{self.portal}/captures/{row['capture_id']}" if self.portal else None)

    def run_event(self, kind: EventType, at: str, summary: str, subject: tuple[str, ...], *,
                  marketplace: str | None = None, case: str | None = None,
                  capture_ids: Iterable[str] = (), details: dict[str, Any] | None = None,
                  run_id: str | None = None) -> Event:
        run = self.run_id if run_id is None else run_id
        return Event(
            event_id=event_id(kind, *subject), type=kind, occurred_at=at, summary=summary,
            run_id=run or None, case=case, marketplace=marketplace,
            capture_ids=tuple(capture_ids), details=details or {},
            portal_url=f"{self.portal}/runs/{run}" if self.portal and run else None)


def _listing_events(b: _Builder, rows: list[dict[str, Any]],
                    catalog: Catalog) -> Iterable[Event]:
    for row in rows:
        if row["kind"] not in ("listing", "gone"):
            continue
        history = _history(catalog, row)
        before = [h for h in history if (h["started_at"], h["capture_id"])
                  < (row["started_at"], row["capture_id"]) and h["kind"] in ("listing", "gone")]
        previous = before[-1] if before else None
        where = f"{row['brand']} on {row['marketplace']}"
        title = clip(" ".join(str(row.get("title") or row["url"]).split()), 90)
        if row["kind"] == "listing" and is_suspicious(row) and not any(
                h["suspicious"] and h["run_id"] != row["run_id"] for h in before):
            price = f" at {row['price']} {row['currency'] or ''}".rstrip() if row["price"] else ""
            yield b.capture_event(
                EventType.SUSPICIOUS_LISTING, row, f"Suspicious listing ({where}){price}: {title}",
                (row["marketplace"], row.get("listing_id") or row["url"]))
        if previous is None:
            continue
        if row["kind"] == "gone" and previous["kind"] == "listing":
            yield b.capture_event(
                EventType.LISTING_REMOVED, row, f"Listing removed ({where}): {title}",
                (row["marketplace"], row.get("listing_id") or row["url"], row["capture_id"]),
                also=(previous["capture_id"],),
                details={"last_seen_live": previous["started_at"]})
        if row["kind"] == "listing" and previous["kind"] == "gone":
            yield b.capture_event(
                EventType.LISTING_RELISTED, row, f"Listing back online ({where}): {title}",
                (row["marketplace"], row.get("listing_id") or row["url"], row["capture_id"]),
                also=(previous["capture_id"],),
                details={"gone_at": previous["started_at"]})


def _history(catalog: Catalog, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not row.get("listing_id"):
        return []
    return catalog.find(CaptureQuery(marketplace=row["marketplace"],
                                     listing_id=row["listing_id"]))


def _run_events(b: _Builder, run: Mapping[str, Any],
                rows: list[dict[str, Any]]) -> Iterable[Event]:
    finished = str(run.get("finished_at") or "")
    for record in run.get("records") or ():
        market = record["marketplace"]
        at = record.get("finished_at") or finished
        if record.get("status") in ("failed", "partial"):
            failures = record.get("failures") or []
            yield b.run_event(
                EventType.RUN_FAILED, at,
                f"Run {record['status']} on {market}: {len(failures)} page(s) could not be "
                "captured", (b.run_id, market), marketplace=market, case=record.get("case"),
                details={"status": record["status"], "failures": len(failures),
                         "first_failures": [{"url": f.get("url"), "reason": f.get("reason")}
                                            for f in failures[:_MAX_FAILURES]],
                         "counts": record.get("counts") or {}})
        if record.get("finish_reason") == STOP_REASON:
            blocked = [r["capture_id"] for r in rows
                       if r["marketplace"] == market and r["kind"] == "blocked"]
            yield b.run_event(
                EventType.MARKETPLACE_BLOCKED, at,
                f"{market} stopped the crawl after {len(blocked)} blocked page(s) in a row",
                (b.run_id, market), marketplace=market, case=record.get("case"),
                capture_ids=blocked[-20:], details={"blocked_captures": len(blocked)})
        coverage = record.get("coverage") or {}
        drops = list(coverage.get("warnings") or ())
        if drops:
            yield b.run_event(
                EventType.COVERAGE_DROP, at, _coverage_summary(market, drops),
                (b.run_id, market), marketplace=market, case=record.get("case"),
                details={"warnings": drops[:_MAX_DROPS], "threshold": coverage.get("threshold"),
                         "baseline_runs": coverage.get("baseline_runs")})
    errors = [str(e) for e in run.get("errors") or ()]
    if errors:
        yield b.run_event(
            EventType.RUN_FAILED, finished, f"Run {b.run_id} ended with {len(errors)} error(s)",
            (b.run_id, "errors"), details={"status": "errors", "errors": errors[:20]})
    for seal in run.get("seals") or ():
        if seal.get("status") == "pending":
            yield b.run_event(
                EventType.SEAL_FAILED, finished,
                f"Captures of {seal['marketplace']} were not sealed: {seal.get('reason')}",
                (b.run_id, seal["marketplace"]), marketplace=seal["marketplace"],
                details={"reason": seal.get("reason"), "required": seal.get("required")})


def _coverage_summary(market: str, drops: Sequence[Mapping[str, Any]]) -> str:
    """`Fields missing on M: price on listing pages 0% (recent runs 100%), ...`."""
    parts = [f"{d['field']} on {d['kind']} pages {float(d['share']):.0%} "
             f"(recent runs {float(d['baseline']):.0%})" for d in drops[:4]]
    more = f" and {len(drops) - 4} more" if len(drops) > 4 else ""
    return clip(f"Fields missing on {market}: {', '.join(parts)}{more}", 400)


def _spool_events(b: _Builder, spooled: Sequence[PendingItem],
                  now: dt.datetime) -> Iterable[Event]:
    cutoff = now - dt.timedelta(seconds=b.stale_after)
    stale = [item for item in spooled if parse_utc(item.spooled_at) <= cutoff]
    if not stale:
        return
    oldest = min(stale, key=lambda i: i.spooled_at)
    ids = [m.group("id") for i in stale if (m := _MANIFEST.match(i.key))]
    hours = (now - parse_utc(oldest.spooled_at)).total_seconds() / 3600
    yield b.run_event(
        EventType.SPOOL_STALE, isoformat(now),
        f"{len(stale)} object(s) have waited in the spool for up to {hours:.1f} h: the archive "
        "cannot be reached (run `markwatch sync`)",
        (oldest.key, oldest.spooled_at), capture_ids=ids[:50], run_id="",
        details={"objects": len(stale), "captures": len(ids), "oldest_at": oldest.spooled_at})
