"""The one query module behind `markwatch evidence list` and the portal's pages.

The CLI and the listings page call `search` with the same `ListingQuery`, so they can never
disagree about what matches. Every filter is a bound parameter; sort columns come from a fixed
table; pages are fetched with LIMIT n+1 (no COUNT over the whole catalog: fast at a million
captures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from storage import case_summary
from storage.catalog import Catalog
from storage.tables import (
    CASE,
    PRICE_NUMBER,
    TRIAGE_SCORE,
    capture_where,
)

NO_CASE = "_none"
"""The case name of captures whose watch names no case."""

MAX_PAGE_SIZE = 500

SORTS = {
    "time": "started_at",
    "price": "{price}",
    "title": "title",
    "seller": "seller_name",
    "marketplace": "marketplace",
    "score": "triage_score",
}


@dataclass(frozen=True)
class ListingQuery:
    """Filters, order and page of a capture search; None means any."""

    case: str | None = None
    brand: str | None = None
    term: str | None = None
    marketplace: str | None = None
    seller: str | None = None
    listing_id: str | None = None
    kind: str | None = None
    run_id: str | None = None
    since: str | None = None
    until: str | None = None
    currency: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    status: int | None = None
    suspicious: bool = False
    min_score: int | None = None
    sort: str = "time"
    descending: bool = False
    offset: int = 0
    limit: int | None = None

    def filters(self) -> dict[str, Any]:
        """The filters that are set (for links and the JSON twin)."""
        skip = {"sort", "descending", "offset", "limit"}
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in skip and value not in (None, False, ""):
                out[f.name] = value
        return out


@dataclass
class Page:
    """One page of results and whether there is another."""

    rows: list[dict[str, Any]]
    offset: int
    limit: int | None
    has_more: bool


_COLUMNS = f"captures.*, {TRIAGE_SCORE} AS triage_score"
"""Every capture column and the capture's triage score (crawler.triage), None when unscored."""


def _where(query: ListingQuery, cases: Sequence[str] | None,
           dialect: str) -> tuple[str, list[Any]]:
    clauses, params = capture_where({f.name: getattr(query, f.name) for f in fields(query)},
                                    dialect)
    if query.suspicious:
        clauses.append("suspicious = 1")
    if cases is not None:  # the cases a user may see
        clauses.append(f"{CASE} IN ({','.join('?' * len(cases))})")
        params.extend(cases)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


_NOT_NULL_SORTS = frozenset({"time", "marketplace"})
"""Sorts on NOT NULL columns (started_at, marketplace)."""


def search(catalog: Catalog, query: ListingQuery,
           cases: Sequence[str] | None = None) -> Page:
    """Captures matching every filter of `query`, restricted to `cases` when given."""
    order = SORTS.get(query.sort)
    if order is None:
        raise ValueError(f"unknown sort {query.sort!r}; one of {sorted(SORTS)}")
    where, params = _where(query, cases, catalog.dialect)
    order = order.format(price=PRICE_NUMBER[catalog.dialect])
    direction = "DESC" if query.descending else "ASC"
    nulls = " NULLS FIRST" if direction == "ASC" else " NULLS LAST"  # SQLite's order, on both
    if query.sort in _NOT_NULL_SORTS:  # no NULLS clause: PostgreSQL then reads the order
        nulls = ""  # from the (..., started_at) indexes instead of sorting every match
    sql = (f"SELECT * FROM (SELECT {_COLUMNS} FROM captures) c{where} "  # noqa: S608 - fixed
           f"ORDER BY {order} {direction}{nulls}, capture_id {direction}")
    if query.limit:
        sql += f" LIMIT {int(query.limit) + 1}"
        if query.offset:
            sql += f" OFFSET {int(query.offset)}"
    rows = catalog.query(sql, params)
    more = bool(query.limit) and len(rows) > int(query.limit or 0)
    return Page(rows[: query.limit] if query.limit else rows, query.offset, query.limit, more)


def cases(catalog: Catalog, allowed: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each case (with captures) the user may see: name, captures, listings, brands, last.

    Read from the per-case summaries kept as captures are indexed (`storage.case_summary`),
    not aggregated over every capture: the same rows, a few hundred rows read."""
    with catalog.transaction(write=False) as tx:
        return case_summary.summary(tx, allowed)


def timeline(catalog: Catalog, marketplace: str, listing_id: str) -> list[dict[str, Any]]:
    """Every capture of one listing, oldest first, each marked with what changed.

    A row's `changes` names the fields (price, currency, title, seller, images) that differ
    from the previous capture that saw the listing; a "gone" capture says the listing had gone.
    """
    rows = catalog.query(
        "SELECT * FROM captures WHERE marketplace = ? AND listing_id = ? "
        "ORDER BY started_at, capture_id", [marketplace, listing_id])
    images: dict[str, list[str]] = {}
    if rows:
        ids = [r["capture_id"] for r in rows]
        for a in catalog.query(
                f"SELECT capture_id, sha256 FROM artifacts WHERE capture_id IN "  # noqa: S608
                f"({','.join('?' * len(ids))}) AND name LIKE 'image-%' ORDER BY name", ids):
            images.setdefault(a["capture_id"], []).append(a["sha256"])
    previous: dict[str, Any] | None = None
    for row in rows:
        row["images"] = images.get(row["capture_id"], [])
        row["changes"] = []
        if row["kind"] == "listing":
            if previous is not None:
                row["changes"] = [name for name, col in (
                    ("price", "price"), ("currency", "currency"), ("title", "title"),
                    ("seller", "seller_name"), ("images", "images"))
                    if row[col] != previous[col]]
            previous = row
    return rows


def capture(catalog: Catalog, capture_id: str) -> dict[str, Any] | None:
    """One capture's catalog row with its artifacts, or None."""
    return catalog.get(capture_id)


def case_of(row: dict[str, Any]) -> str:
    """The case name a capture row belongs to."""
    return str(row.get("case_ref") or NO_CASE)
