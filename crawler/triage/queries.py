"""Read-only questions over the triage index: the review queue, decisions, sellers, photos.

One module, several faces: the CLI (`markwatch triage|sellers`) and, later, the portal call
these same functions, so they can never disagree. Every function takes an open catalog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VERDICTS = ("counterfeit", "genuine", "unsure")

_QUEUE_SQL = (
    "SELECT c.capture_id, c.started_at, c.marketplace, c.brand, c.case_ref, c.listing_id, "
    "c.title, c.price, c.currency, c.seller_name, c.url, s.score, s.suspicious, s.signals, "
    "s.version FROM captures c JOIN triage_scores s ON s.capture_id = c.capture_id "
    "WHERE {where} AND c.started_at = (SELECT MAX(c2.started_at) FROM captures c2 "
    "WHERE c2.kind = 'listing' AND c2.marketplace = c.marketplace "
    "AND c2.listing_id IS NOT DISTINCT FROM c.listing_id AND (c.listing_id IS NOT NULL "
    "OR c2.capture_id = c.capture_id)) "
    "ORDER BY s.score DESC, c.started_at DESC, c.capture_id"
)
"""The review queue; `{where}` takes fixed clauses only (values are bound)."""


@dataclass(frozen=True)
class QueueQuery:
    """Filters of the review queue; None means any."""

    case: str | None = None
    brand: str | None = None
    min_score: int | None = None
    undecided: bool = False
    limit: int | None = None


def queue(catalog: Any, q: QueueQuery) -> list[dict[str, Any]]:
    """The newest scored capture of each listing, highest score first, with its top reasons
    and the latest decision on the listing (decisions carry over to later captures)."""
    clauses: list[str] = ["c.kind = 'listing'"]
    params: list[Any] = []
    if q.case:
        clauses.append("c.case_ref = ?")
        params.append(q.case)
    if q.brand:
        clauses.append("lower(c.brand) = lower(?)")
        params.append(q.brand)
    if q.min_score is not None:
        clauses.append("s.score >= ?")
        params.append(q.min_score)
    sql = _QUEUE_SQL.replace("{where}", " AND ".join(clauses))
    rows = catalog.query(sql, params)
    out = []
    for row in rows:
        decision = listing_decision(catalog, row["marketplace"], row["listing_id"],
                                    row["capture_id"])
        if q.undecided and decision is not None:
            continue
        signals = json.loads(row.pop("signals"))
        row["signals"] = signals
        row["reasons"] = top_reasons(signals)
        row["verdict"] = decision["verdict"] if decision else None
        row["decision"] = decision
        out.append(row)
        if q.limit and len(out) >= q.limit:
            break
    return out


def top_reasons(signals: list[dict[str, Any]], n: int = 3) -> list[str]:
    ranked = sorted((s for s in signals if s["points"]), key=lambda s: -abs(s["points"]))
    return [f"{s['points']:+d} {s['reason']}" for s in ranked[:n]]


def score_of(catalog: Any, capture_id: str) -> dict[str, Any] | None:
    rows = catalog.query("SELECT * FROM triage_scores WHERE capture_id = ?", (capture_id,))
    if not rows:
        return None
    row = rows[0]
    row["signals"] = json.loads(row["signals"])
    return row


def listing_decision(catalog: Any, marketplace: str, listing_id: str | None,
                     capture_id: str) -> dict[str, Any] | None:
    """The latest decision on the capture, or on any capture of the same listing."""
    if listing_id:
        rows = catalog.query(
            "SELECT * FROM triage_decisions WHERE (marketplace = ? AND listing_id = ?) "
            "OR capture_id = ? ORDER BY decided_at DESC, decision_id DESC LIMIT 1",
            (marketplace, listing_id, capture_id))
    else:
        rows = catalog.query("SELECT * FROM triage_decisions WHERE capture_id = ? "
                             "ORDER BY decided_at DESC, decision_id DESC LIMIT 1", (capture_id,))
    return rows[0] if rows else None


def decisions(catalog: Any, capture_id: str | None = None) -> list[dict[str, Any]]:
    if capture_id:
        return catalog.query("SELECT * FROM triage_decisions WHERE capture_id = ? "
                             "ORDER BY decided_at", (capture_id,))
    return catalog.query("SELECT * FROM triage_decisions ORDER BY decided_at")


def shared_photos(catalog: Any, min_sellers: int = 2,
                  exclude: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Photos (by perceptual hash) used by at least `min_sellers` sellers, with the listings."""
    rows = catalog.query(
        "SELECT i.phash, c.marketplace, c.seller_name, c.listing_id, c.capture_id, i.name "
        "FROM triage_images i JOIN captures c ON c.capture_id = i.capture_id "
        "WHERE c.kind = 'listing' AND c.seller_name IS NOT NULL ORDER BY i.phash, c.started_at")
    by_hash: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["phash"] not in exclude:
            by_hash.setdefault(row["phash"], []).append(row)
    out = []
    for digest, uses in by_hash.items():
        sellers = sorted({f"{u['marketplace']}:{u['seller_name']}" for u in uses})
        if len(sellers) >= min_sellers:
            listings = sorted({f"{u['marketplace']}:{u['listing_id']}" for u in uses})
            out.append({"phash": digest, "sellers": sellers, "listings": listings,
                        "captures": sorted({u["capture_id"] for u in uses})})
    return sorted(out, key=lambda p: (-len(p["sellers"]), p["phash"]))


def seller_rows(catalog: Any, name_or_id: str) -> list[dict[str, Any]]:
    """Listing captures of sellers named `name_or_id` (any case) or whose page URL ends with
    it, newest first, with their scores."""
    return catalog.query(
        "SELECT c.capture_id, c.started_at, c.marketplace, c.listing_id, c.title, c.price, "
        "c.currency, c.seller_name, c.seller_url, s.score FROM captures c "
        "LEFT JOIN triage_scores s ON s.capture_id = c.capture_id WHERE c.kind = 'listing' "
        "AND (lower(c.seller_name) = lower(?) OR c.seller_url LIKE ? ESCAPE '\\') "
        "ORDER BY c.started_at DESC",
        (name_or_id, "%/" + name_or_id.replace("%", "\\%").replace("_", "\\_")))
