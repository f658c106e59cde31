"""Every read of the takedown lifecycle's index: statuses, timelines, changes, relistings.

The CLI uses these; the portal and alerts should too (one place that knows the tables).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from crawler.exceptions import ConfigError


def current_status(catalog: Any, case: str, marketplace: str, listing_id: str) -> str:
    """The listing's status in the case (`found` when nothing was recorded)."""
    rows = catalog.query(
        "SELECT status FROM takedown_status WHERE case_ref = ? AND marketplace = ? AND "
        "listing_id = ? ORDER BY at DESC, event_id DESC LIMIT 1", (case, marketplace, listing_id))
    return rows[0]["status"] if rows else "found"


def status_history(catalog: Any, case: str | None, marketplace: str,
                   listing_id: str) -> list[dict[str, Any]]:
    sql = ("SELECT * FROM takedown_status WHERE marketplace = ? AND listing_id = ?")
    params: list[Any] = [marketplace, listing_id]
    if case:
        sql += " AND case_ref = ?"
        params.append(case)
    return catalog.query(sql + " ORDER BY at, event_id", params)


def listings(catalog: Any, case: str | None = None, marketplace: str | None = None,
             brand: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Known listings (one row each: case, marketplace, listing_id, url, first and last seen,
    last live capture, status); `brand` one brand or several (any of them, ignoring case)."""
    clauses, params = ["c.kind = 'listing'", "c.listing_id IS NOT NULL",
                       "c.capture_id NOT IN (SELECT capture_id FROM takedown_observations "
                       "WHERE availability != 'live')"], []
    for column, value in (("c.case_ref", case), ("c.marketplace", marketplace)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    brands = [brand] if isinstance(brand, str) else [b for b in brand or () if b]
    if brands:
        # ignoring case, as `evidence list --brand` and `crawl --brand` do
        clauses.append(f"lower(c.brand) IN ({', '.join(['lower(?)'] * len(brands))})")
        params.extend(brands)
    sql = ("SELECT c.case_ref, c.marketplace, c.listing_id, MIN(c.started_at) AS found_at, "
        "MAX(c.started_at) AS last_seen, MAX(c.brand) AS brand, MAX(c.term) AS term "
        "FROM captures c WHERE "
        + " AND ".join(clauses) + " GROUP BY c.case_ref, c.marketplace, c.listing_id "
        "ORDER BY c.marketplace, c.listing_id")
    rows = catalog.query(sql, params)
    for row in rows:
        last = last_live_capture(catalog, row["marketplace"], row["listing_id"])
        row["url"] = last["url"] if last else None
        row["capture_id"] = last["capture_id"] if last else None
        row["status"] = current_status(catalog, row["case_ref"] or "", row["marketplace"],
                                       row["listing_id"])
    return rows


def last_live_capture(catalog: Any, marketplace: str, listing_id: str) -> dict[str, Any] | None:
    rows = catalog.query(
        "SELECT c.* FROM captures c JOIN takedown_observations o USING (capture_id) "
        "WHERE o.marketplace = ? AND o.listing_id = ? AND o.availability = 'live' "
        "ORDER BY c.started_at DESC LIMIT 1", (marketplace, listing_id))
    if rows:
        return rows[0]
    rows = catalog.query(
        "SELECT * FROM captures WHERE marketplace = ? AND listing_id = ? AND kind = 'listing' "
        "ORDER BY started_at DESC LIMIT 1", (marketplace, listing_id))
    return rows[0] if rows else None


def observations(catalog: Any, marketplace: str, listing_id: str) -> list[dict[str, Any]]:
    return catalog.query(
        "SELECT * FROM takedown_observations WHERE marketplace = ? AND listing_id = ? "
        "ORDER BY started_at, capture_id", (marketplace, listing_id))


def previous_observation(catalog: Any, marketplace: str, listing_id: str,
                         before: str) -> dict[str, Any] | None:
    """The listing's last conclusive (live or removed) observation before `before`."""
    rows = catalog.query(
        "SELECT * FROM takedown_observations WHERE marketplace = ? AND listing_id = ? AND "
        "availability != 'refused' AND started_at < ? ORDER BY started_at DESC, capture_id "
        "DESC LIMIT 1", (marketplace, listing_id, before))
    return rows[0] if rows else None


def changes(catalog: Any, case: str | None = None, marketplace: str | None = None,
            listing_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """Change records (kinds: changed, removed, reappeared, relisted), oldest first."""
    clauses, params = [], []
    for column, value in (("case_ref", case), ("marketplace", marketplace),
                          ("listing_id", listing_id), ("kind", kind)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM takedown_changes"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = catalog.query(sql + " ORDER BY at, capture_id", params)
    for row in rows:
        row["fields"] = json.loads(row["fields"])
    return rows


def timeline(catalog: Any, marketplace: str, listing_id: str) -> list[dict[str, Any]]:
    """A listing's observations, changes and status transitions, in time order."""
    items = [{"at": o["started_at"], "type": "capture", **o}
             for o in observations(catalog, marketplace, listing_id)]
    items += [{"type": "change", **c} for c in changes(catalog, marketplace=marketplace,
                                                       listing_id=listing_id)]
    items += [{"type": "status", **s} for s in status_history(catalog, None, marketplace,
                                                              listing_id)]
    return sorted(items, key=lambda i: (i["at"], i["type"]))


def resolve_listing(catalog: Any, text: str) -> tuple[str | None, str, str]:
    """(case, marketplace, listing_id) of `marketplace:listing_id` or a capture id."""
    if ":" in text:
        marketplace, _, listing_id = text.partition(":")
        rows = catalog.query(
            "SELECT case_ref FROM captures WHERE marketplace = ? AND listing_id = ? "
            "ORDER BY started_at DESC LIMIT 1", (marketplace, listing_id))
        if not rows:
            raise ConfigError(f"no capture of listing {text!r} in the catalog")
        return rows[0]["case_ref"], marketplace, listing_id
    rows = catalog.query("SELECT case_ref, marketplace, listing_id FROM takedown_observations "
                         "WHERE capture_id = ?", (text,))
    if not rows:
        raise ConfigError(f"{text!r} is neither MARKETPLACE:LISTING_ID nor the id of a "
                          "listing capture")
    return rows[0]["case_ref"], rows[0]["marketplace"], rows[0]["listing_id"]
