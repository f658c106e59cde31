"""Per-case summaries of the captures (the portal's cases page), kept as captures are indexed.

Three small tables, written in the same transaction as the captures they count:
`case_summary` (a case's capture count and latest capture time), `case_brands` (the distinct
brands of a case) and `case_listings` (the distinct listing ids of a case, counted through its
primary key). A capture is counted only when its `captures` row is newly inserted (the insert
reports the rows it made), so re-indexing a capture never counts it twice; counts are added
with one atomic upsert (`captures = captures + n`), so concurrent writers lose nothing. Like
every catalog table they are derived: `Catalog.rebuild` and the migration that made them fill
them from `captures` (`BACKFILL`), and the cases page equals the aggregate over `captures`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Integer, Table, Text

from storage.db import METADATA, Tx

NO_CASE = "_none"
"""The case of captures whose watch names no case (as `storage.tables.CASE`)."""

case_summary = Table(
    "case_summary", METADATA,
    Column("case_name", Text, primary_key=True),
    Column("captures", Integer, nullable=False),
    Column("last", Text, nullable=False),
)
case_brands = Table(
    "case_brands", METADATA,
    Column("case_name", Text, primary_key=True),
    Column("brand", Text, primary_key=True),
)
case_listings = Table(
    "case_listings", METADATA,
    Column("case_name", Text, primary_key=True),
    Column("listing_id", Text, primary_key=True),
)

TABLES = ("case_summary", "case_brands", "case_listings")

_CASE = f"COALESCE(case_ref, '{NO_CASE}')"
BACKFILL = (
    f"INSERT INTO case_summary (case_name, captures, last) SELECT {_CASE}, COUNT(*), "  # noqa: S608
    f"MAX(started_at) FROM captures GROUP BY {_CASE}",
    f"INSERT INTO case_brands (case_name, brand) SELECT DISTINCT {_CASE}, brand "  # noqa: S608
    "FROM captures",
    f"INSERT INTO case_listings (case_name, listing_id) SELECT DISTINCT {_CASE}, "  # noqa: S608
    "listing_id FROM captures WHERE listing_id IS NOT NULL",
)
"""The three tables made from `captures` (empty tables first): a migration's backfill, and
the bench's bulk-loaded catalogs."""

_ADD = {
    "sqlite": "INSERT INTO case_summary (case_name, captures, last) VALUES (?, ?, ?) "
              "ON CONFLICT (case_name) DO UPDATE SET captures = captures + excluded.captures, "
              "last = MAX(last, excluded.last)",
    "postgresql": "INSERT INTO case_summary (case_name, captures, last) VALUES (?, ?, ?) "
                  "ON CONFLICT (case_name) DO UPDATE SET "
                  "captures = case_summary.captures + excluded.captures, "
                  "last = GREATEST(case_summary.last, excluded.last)",
}
"""Add n captures (latest at `last`) to a case, atomically (one statement per case)."""


def fill(tx: Tx) -> None:
    """Make the three tables again from `captures` (emptied first)."""
    for table in TABLES:
        tx.query(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    for sql in BACKFILL:
        tx.query(sql)


def case_of(row: dict[str, Any]) -> str:
    """The case name of a `captures` row."""
    return str(row["case_ref"]) if row["case_ref"] is not None else NO_CASE


def count_new(tx: Tx, rows: Iterable[dict[str, Any]]) -> None:
    """Count `captures` rows this transaction newly inserted (each exactly once: the caller
    passes only the rows its insert made)."""
    added: dict[str, list[Any]] = {}
    brands: set[tuple[str, str]] = set()
    listings: set[tuple[str, str]] = set()
    for row in rows:
        case = case_of(row)
        n_last = added.setdefault(case, [0, row["started_at"]])
        n_last[0] += 1
        n_last[1] = max(n_last[1], row["started_at"])
        brands.add((case, row["brand"]))
        if row["listing_id"] is not None:
            listings.add((case, row["listing_id"]))
    if not added:
        return
    # a fixed order of row locks, so two writers never wait on each other in a cycle
    tx.write(_ADD[tx.dialect], [(c, n, last) for c, (n, last) in sorted(added.items())])
    tx.upsert(case_brands, sorted(brands), replace=False)
    tx.upsert(case_listings, sorted(listings), replace=False)


def summary(tx: Tx, allowed: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each case with captures: name, captures, listings, brands (distinct, sorted, joined
    by commas) and last, ordered by name; only `allowed` cases when given."""
    rows = tx.query(
        "SELECT s.case_name AS name, s.captures AS captures, (SELECT COUNT(*) FROM "
        "case_listings l WHERE l.case_name = s.case_name) AS listings, s.last AS last "
        "FROM case_summary s ORDER BY s.case_name")
    if allowed is not None:
        keep = set(allowed)
        rows = [r for r in rows if r["name"] in keep]
    brands: dict[str, list[str]] = {}
    for b in tx.query("SELECT case_name, brand FROM case_brands ORDER BY case_name, brand"):
        brands.setdefault(b["case_name"], []).append(b["brand"])
    return [{"name": r["name"], "captures": int(r["captures"]), "listings": int(r["listings"]),
             "brands": ",".join(brands.get(r["name"], [])), "last": r["last"]} for r in rows]


def insert_captures(tx: Tx, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert `captures` rows that are not there yet; the rows this statement inserted (a
    row another writer inserted first, even concurrently, is not among them)."""
    if not rows:
        return []
    unique = list({r["capture_id"]: r for r in rows}.values())
    made = {r[0] for r in tx.conn.execute(_insert_new(tx.dialect), unique)}
    return [r for r in unique if r["capture_id"] in made]


@functools.lru_cache(maxsize=4)
def _insert_new(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    from storage.tables import captures

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (insert(captures).on_conflict_do_nothing(index_elements=["capture_id"])
            .returning(captures.c.capture_id))
