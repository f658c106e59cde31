"""Per-case summaries of the captures (the portal's cases page), kept as captures are indexed.

Three small tables, written in the same transaction as the captures they count:
`case_summary` (a case's capture and listing counts and latest capture time), `case_brands`
(the distinct brands of a case) and `case_listings` (the distinct listing ids of a case). A
capture is counted only when its `captures` row is newly inserted, a listing only when its
`case_listings` row is (the insert reports the rows it made), so re-indexing a capture never
counts it twice; counts are added
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
    Column("listings", Integer, nullable=False),
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
    f"INSERT INTO case_summary (case_name, captures, listings, last) SELECT {_CASE}, "  # noqa: S608
    f"COUNT(*), COUNT(DISTINCT listing_id), MAX(started_at) FROM captures GROUP BY {_CASE}",
    f"INSERT INTO case_brands (case_name, brand) SELECT DISTINCT {_CASE}, brand "  # noqa: S608
    "FROM captures",
    f"INSERT INTO case_listings (case_name, listing_id) SELECT DISTINCT {_CASE}, "  # noqa: S608
    "listing_id FROM captures WHERE listing_id IS NOT NULL",
)
"""The three tables made from `captures` (empty tables first): a migration's backfill, and
the bench's bulk-loaded catalogs."""

_ADD = {
    "sqlite": "INSERT INTO case_summary (case_name, captures, listings, last) "
              "VALUES (?, ?, ?, ?) ON CONFLICT (case_name) DO UPDATE SET "
              "captures = captures + excluded.captures, "
              "listings = listings + excluded.listings, last = MAX(last, excluded.last)",
    "postgresql": "INSERT INTO case_summary (case_name, captures, listings, last) "
                  "VALUES (?, ?, ?, ?) ON CONFLICT (case_name) DO UPDATE SET "
                  "captures = case_summary.captures + excluded.captures, "
                  "listings = case_summary.listings + excluded.listings, "
                  "last = GREATEST(case_summary.last, excluded.last)",
}
"""Add n captures and m listings (latest at `last`) to a case, atomically (one statement
per case)."""


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
        n_last = added.setdefault(case, [0, 0, row["started_at"]])
        n_last[0] += 1
        n_last[2] = max(n_last[2], row["started_at"])
        brands.add((case, row["brand"]))
        if row["listing_id"] is not None:
            listings.add((case, row["listing_id"]))
    if not added:
        return
    # every statement in a fixed order of rows, so two writers never wait on each other in
    # a cycle; a listing is counted by the one insert that made its row
    for case, _ in _insert_new_rows(tx, case_listings, sorted(listings)):
        added[case][1] += 1
    tx.upsert(case_brands, sorted(brands), replace=False)
    tx.write(_ADD[tx.dialect], [(c, *v) for c, v in sorted(added.items())])


def summary(tx: Tx, allowed: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each case with captures: name, captures, listings, brands (distinct, sorted, joined
    by commas) and last, ordered by name; only `allowed` cases when given."""
    rows = tx.query("SELECT case_name AS name, captures, listings, last FROM case_summary "
                    "ORDER BY case_name")
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
    from storage.tables import captures

    unique = {r["capture_id"]: r for r in rows}
    made = {m[0] for m in _insert_new_rows(tx, captures, [unique[k] for k in sorted(unique)])}
    return [unique[k] for k in sorted(made)]


def _insert_new_rows(tx: Tx, table: Table,
                     rows: Sequence[Sequence[Any] | dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Insert rows whose primary key is not there yet; the primary keys of the rows made."""
    if not rows:
        return []
    names = [c.name for c in table.columns]
    from storage.index_bounds import bound_row

    values = [bound_row(table, r if isinstance(r, dict) else dict(zip(names, r, strict=True)))
              for r in rows]  # indexed text bounded: storage/index_bounds.py
    return [tuple(r) for r in tx.conn.execute(_insert_new(tx.dialect, table), values)]


@functools.lru_cache(maxsize=16)
def _insert_new(dialect: str, table: Table) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    keys = list(table.primary_key.columns)
    return insert(table).on_conflict_do_nothing(index_elements=[k.name for k in keys]) \
        .returning(*keys)
