"""A synthetic catalog of N captures, loaded fast into SQLite or PostgreSQL (bench/portal.py).

20 cases, 5 marketplaces, 2,000 sellers, listings captured 1-40 times each, runs of 500
captures, two image artifacts per capture. The catalog's own code makes the schema and its
indexes first (`open_bench_catalog`); the rows then go in by bulk load, into the columns the
catalog's tables have: `executemany` on SQLite, `COPY` on PostgreSQL. The product's indexes
are dropped for the load and created again from their own definitions, as a catalog that grew
one capture at a time would have them. The per-case summaries (`storage.case_summary`) are
then made from the loaded captures by the catalog's own backfill (`BACKFILL`), as the
migration that made them does.
"""

from __future__ import annotations

import io
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage.case_summary import BACKFILL, TABLES

CASES, MARKETS, SELLERS, RUN_SIZE = 20, 5, 2000, 500


def synthetic_rows(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """N capture rows, as column name -> value."""
    rng = random.Random(seed)
    made = 0
    listing = 0
    while made < n:
        listing += 1
        market = f"market{listing % MARKETS}"
        case = f"CASE-{listing % CASES:02d}"
        seller = f"Seller {rng.randrange(SELLERS)}"
        price = round(rng.uniform(10, 3000), 2)
        for k in range(min(rng.randint(1, 40), n - made)):
            day = 1 + (listing + k) % 28
            stamp = f"2026-{1 + k % 12:02d}-{day:02d}T{listing % 24:02d}:00:{k % 60:02d}.000000Z"
            cid = f"S{made:025d}"
            yield {"capture_id": cid, "run_id": f"RUN{made // RUN_SIZE:06d}", "kind": "listing",
                   "marketplace": market, "brand": f"Brand{listing % 7}", "term": "term",
                   "case_ref": case, "listing_id": f"L{listing}",
                   "title": f"Listing {listing} title", "price": f"{price + k % 3:.2f}",
                   "currency": "EUR", "seller_name": seller, "seller_url": None,
                   "url": f"https://{market}.example/item/{listing}", "final_url": None,
                   "status": 200, "started_at": stamp, "finished_at": stamp,
                   "suspicious": 1 if listing % 5 == 0 else 0, "block_kind": None,
                   "manifest_key": f"captures/x/{cid}.json", "manifest_sha256": "0" * 64}
            made += 1


def artifact_rows(capture_id: str) -> list[dict[str, Any]]:
    return [{"capture_id": capture_id, "name": f"image-0{i}", "media_type": "image/png",
             "size": 1000, "sha256": f"{i:064d}", "key": f"blobs/{i}", "version_id": None}
            for i in (1, 2)]


def _batches(n: int, size: int = 20000) -> Iterator[tuple[list[dict[str, Any]],
                                                          list[dict[str, Any]]]]:
    caps: list[dict[str, Any]] = []
    arts: list[dict[str, Any]] = []
    for row in synthetic_rows(n):
        caps.append(row)
        arts.extend(artifact_rows(row["capture_id"]))
        if len(caps) >= size:
            yield caps, arts
            caps, arts = [], []
    if caps:
        yield caps, arts


def _fill(columns: list[str], row: dict[str, Any]) -> tuple[Any, ...]:
    """The row in the table's column order; a column the bench does not know is NULL."""
    return tuple(row.get(c) for c in columns)


def load_sqlite(path: Path, n: int) -> None:
    """Bulk-load N captures into the SQLite catalog at `path` (schema made by the catalog)."""
    db = sqlite3.connect(path, isolation_level=None)
    indexes = [(name, sql) for name, sql in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('captures', 'artifacts')")]
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    cols = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
            for t in ("captures", "artifacts")}
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    for caps, arts in _batches(n):
        for table, rows in (("captures", caps), ("artifacts", arts)):
            marks = ",".join("?" * len(cols[table]))
            db.executemany(f"INSERT INTO {table} VALUES ({marks})",
                           [_fill(cols[table], r) for r in rows])
    db.execute("COMMIT")
    for _, sql in indexes:  # the product's indexes, built once over all the rows
        db.execute(sql)
    _summaries(db.execute)
    db.execute("ANALYZE")
    db.close()


def _copy_text(columns: list[str], rows: list[dict[str, Any]], types: dict[str, str]) -> str:
    """Rows in COPY's text format (no value here holds a tab, newline or backslash)."""
    out = io.StringIO()
    for row in rows:
        values = []
        for c in columns:
            v = row.get(c)
            if v is None:
                values.append("\\N")
            elif types.get(c) == "boolean":
                values.append("t" if v else "f")
            else:
                values.append(str(v))
        out.write("\t".join(values) + "\n")
    return out.getvalue()


def load_postgresql(uri: str, n: int) -> None:
    """Bulk-load N captures with COPY into the PostgreSQL catalog at `uri` (schema made by the
    catalog); the indexes are dropped for the load and made again from `pg_indexes`."""
    import psycopg

    dsn = uri.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = "
            "current_schema() AND i.tablename IN ('captures', 'artifacts') AND NOT EXISTS ("
            "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        cols: dict[str, list[str]] = {}
        types: dict[str, dict[str, str]] = {}
        for table in ("captures", "artifacts"):
            info = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE "
                "table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
                (table,)).fetchall()
            cols[table] = [c for c, _ in info]
            types[table] = dict(info)
        with conn.transaction():
            for caps, arts in _batches(n):
                for table, rows in (("captures", caps), ("artifacts", arts)):
                    names = ", ".join(f'"{c}"' for c in cols[table])
                    with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                        copy.write(_copy_text(cols[table], rows, types[table]))
        for _, sql in indexes:
            conn.execute(sql)
        _summaries(conn.execute)
        conn.execute("ANALYZE")


def _summaries(execute: Any) -> None:
    """The per-case summaries of the loaded captures (the catalog's own backfill)."""
    for table in TABLES:
        execute(f"DELETE FROM {table}")
    for sql in BACKFILL:
        execute(sql)
