"""The catalog's own tables (captures, artifacts, runs) and the SQL they share with the
portal and the CLI: case-insensitive matches through `lower()`, prices as numbers.

Declared once on `storage.db.METADATA` (SQLAlchemy Core); the schema itself is made and changed
only by the Alembic history in `storage/migrations`.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, Table, Text, func

from storage.db import METADATA

captures = Table(
    "captures", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("marketplace", Text, nullable=False),
    Column("brand", Text, nullable=False),
    Column("term", Text, nullable=False),
    Column("case_ref", Text),
    Column("listing_id", Text),
    Column("title", Text),
    Column("price", Text),
    Column("currency", Text),
    Column("seller_name", Text),
    Column("seller_url", Text),
    Column("url", Text, nullable=False),
    Column("final_url", Text),
    Column("status", Integer),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text, nullable=False),
    Column("suspicious", Integer, nullable=False, server_default="0"),
    Column("block_kind", Text),
    Column("manifest_key", Text, nullable=False),
    Column("manifest_sha256", Text, nullable=False),
)
Index("captures_brand", func.lower(captures.c.brand), captures.c.started_at)
Index("captures_term", func.lower(captures.c.term), captures.c.started_at)
Index("captures_marketplace", captures.c.marketplace, captures.c.started_at)
Index("captures_listing", captures.c.marketplace, captures.c.listing_id, captures.c.started_at)
Index("captures_seller", func.lower(captures.c.seller_name), captures.c.started_at)
Index("captures_time", captures.c.started_at)
Index("captures_run", captures.c.run_id)
URL_PREFIX = 200
"""Characters of a capture's URLs indexed (`captures_url`, `captures_final_url`): a look-up by
URL compares the prefix through the index, then the URL whole (URLs are not bounded, so they
are never indexed whole: `storage/index_bounds.py`)."""
Index("captures_url", func.substr(captures.c.url, 1, URL_PREFIX))
Index("captures_final_url", func.substr(captures.c.final_url, 1, URL_PREFIX))
# (no marketplace before the prefix: SQLite, without statistics, would then take these for
# any `marketplace = ?` filter, ahead of a narrower index such as captures_run)

artifacts = Table(
    "artifacts", METADATA,
    Column("capture_id", Text, ForeignKey("captures.capture_id"), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("media_type", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("version_id", Text),
)
Index("artifacts_sha", artifacts.c.sha256)

runs = Table(
    "runs", METADATA,
    Column("run_id", Text, primary_key=True),
    Column("marketplace", Text, primary_key=True),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("captures", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("record_key", Text, nullable=False),
    Column("record_sha256", Text, nullable=False),
)
Index("runs_marketplace", runs.c.marketplace, runs.c.started_at)

CASE = "COALESCE(case_ref, '_none')"
"""A capture's case name (captures whose watch names none are in case `_none`)."""

PRICE_NUMBER = {
    "sqlite": "CAST(price AS REAL)",
    "postgresql": "(CASE WHEN price ~ '^-?[0-9]+([.][0-9]+)?$' "
                  "THEN CAST(price AS DOUBLE PRECISION) END)",
}
"""A capture's price as a number, per engine (PostgreSQL refuses to cast a non-number)."""

GROUP_CONCAT_DISTINCT = {
    "sqlite": "GROUP_CONCAT(DISTINCT {0})",
    "postgresql": "STRING_AGG(DISTINCT {0}, ',')",
}
"""Distinct values of a column joined by commas, per engine."""

CAPTURE_FILTERS = {
    "case": f"{CASE} = ?",
    "brand": "lower(brand) = lower(?)",
    "term": "lower(term) = lower(?)",
    "marketplace": "marketplace = ?",
    "seller": "lower(seller_name) = lower(?)",
    "listing_id": "listing_id = ?",
    "kind": "kind = ?",
    "run_id": "run_id = ?",
    "since": "started_at >= ?",
    "until": "started_at < ?",
    "currency": "currency = ?",
    "price_min": "{price} >= ?",
    "price_max": "{price} <= ?",
    "status": "status = ?",
    "min_score": "triage_score >= ?",
}
"""The one table of capture filters (`evidence list`, `Catalog.find` and the portal): filter
name -> SQL clause with one `?`; `{price}` is the engine's PRICE_NUMBER."""

TRIAGE_SCORE = ("(SELECT score FROM triage_scores t WHERE t.capture_id = captures.capture_id)")
"""A capture's triage score (crawler.triage), NULL when unscored."""


def capture_where(filters: dict[str, object], dialect: str) -> tuple[list[str], list[object]]:
    """SQL clauses and parameters for the filters that are set."""
    clauses, params = [], []
    for name, clause in CAPTURE_FILTERS.items():
        value = filters.get(name)
        if value is not None and value != "":
            clauses.append(clause.format(price=PRICE_NUMBER[dialect]))
            params.append(value)
    return clauses, params
