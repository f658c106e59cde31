"""The catalog's side table of listing fields: each capture's fields as captured and after
each re-parse, with the strategy of every field and whether the listing was sponsored.

`listing_fields` holds one row per capture (`origin = 'capture'`) and one per re-parse record
(`origin` = the record's store key). The `captures` row shows the newest fields: a re-parse
record updates its title, price, currency, seller and listing id; `rebuild` re-applies the
re-parse records in the order they were made, so `catalog rebuild` restores the same view.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Index, Integer, Table, Text

from crawler.fields.keys import REPARSE_PREFIX
from storage.db import METADATA, Tx

listing_fields = Table(
    "listing_fields", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("origin", Text, primary_key=True),
    Column("parsed_at", Text, nullable=False),
    Column("parser_version", Text),
    Column("listing_id", Text),
    Column("title", Text),
    Column("price", Text),
    Column("currency", Text),
    Column("seller_name", Text),
    Column("seller_url", Text),
    Column("images", Integer),
    Column("sponsored", Integer, nullable=False, server_default="0"),
    Column("field_sources", Text, nullable=False),
    Column("results", Integer),
)
Index("listing_fields_time", listing_fields.c.capture_id, listing_fields.c.parsed_at)

_ORDER = ("listing_id", "title", "price", "currency", "price_text", "seller_name", "seller_url",
          "images", "brand", "available")
"""The order `evidence show` lists field strategies in (that of `spiders.extract.FIELDS`)."""

NEWEST_COLUMNS = ("listing_id", "title", "price", "currency", "seller_name", "seller_url")
"""Columns of `captures` that a re-parse record updates."""


def _row(capture_id: str, origin: str, parsed_at: str, version: str | None,
         listing: dict[str, Any], results: int | None = None) -> tuple[Any, ...]:
    return (capture_id, origin, parsed_at, version, listing.get("listing_id"),
            listing.get("title"), listing.get("price"), listing.get("currency"),
            listing.get("seller_name"), listing.get("seller_url"),
            len(listing.get("images") or []), 1 if listing.get("sponsored") else 0,
            json.dumps(listing.get("field_sources") or {}, sort_keys=True), results)


def capture_fields_row(manifest: dict[str, Any]) -> tuple[Any, ...] | None:
    """The `listing_fields` row of a capture as captured (for a search page, how many
    organic results it had); None when it has no fields."""
    listing = manifest.get("listing")
    results = None
    if manifest.get("kind") == "search":
        found = (manifest.get("search") or {}).get("results") or []
        results = sum(1 for r in found if not r.get("placeholder"))
    elif not listing:
        return None
    return _row(manifest["capture_id"], "capture", manifest["finished_at"], None,
                listing or {}, results)


def index_capture_fields(tx: Tx, manifest: dict[str, Any]) -> None:
    """The fields of a capture as captured (inside the catalog's own transaction)."""
    row = capture_fields_row(manifest)
    if row is not None:
        tx.upsert(listing_fields, [row])


def index_reparse(tx: Tx, record: dict[str, Any], key: str) -> None:
    """One re-parse record (inside one transaction); the capture's row shows it when it is
    the newest."""
    capture_id = record["capture_id"]
    listing = record["listing"]
    tx.upsert(listing_fields,
              [_row(capture_id, key, record["parsed_at"], record["parser_version"], listing)])
    newest = tx.query(
        "SELECT origin FROM listing_fields WHERE capture_id = ? AND origin != 'capture' "
        "ORDER BY parsed_at DESC, origin DESC LIMIT 1", (capture_id,))
    if newest and newest[0]["origin"] == key:
        from crawler.triage.sellers import index_seller_names
        from storage.index_bounds import bound_row
        from storage.tables import captures

        latest = bound_row(captures, {c: listing.get(c) for c in NEWEST_COLUMNS})
        sets = ", ".join(f"{c} = ?" for c in NEWEST_COLUMNS)
        tx.query(f"UPDATE captures SET {sets} WHERE capture_id = ?",  # noqa: S608 - fixed names
                (*[latest[c] for c in NEWEST_COLUMNS], capture_id))
        index_seller_names(tx, [latest["seller_name"]])  # its key, for triage's links


def rebuild_fields(tx: Tx, store: Any) -> int:
    """Re-apply every re-parse record of the store, oldest first (after the captures are
    re-indexed). Returns how many."""
    records = []
    for key in store.list_documents(REPARSE_PREFIX):
        records.append((json.loads(store.read_document(key)), key))
    records.sort(key=lambda r: (r[0]["parsed_at"], r[1]))
    from crawler.fields.search_index import index_search_reparse

    for record, key in records:
        if record.get("type") == "search-reparse":
            index_search_reparse(tx, record, key)
        else:
            index_reparse(tx, record, key)
    return len(records)


def sponsored_captures(catalog: Any) -> set[str]:
    """Ids of the captures of listings reached from a sponsored search result: by their own
    record, or by the newest results of their run's search captures (a re-parse can add the
    mark, `crawler.fields.search_index.derived_sponsored`)."""
    from crawler.fields.search_index import derived_sponsored

    rows = catalog.execute(
        "SELECT capture_id FROM listing_fields WHERE origin = 'capture' AND sponsored = 1", ())
    return {r["capture_id"] for r in rows} | derived_sponsored(catalog)


def history(catalog: Any, capture_id: str) -> list[dict[str, Any]]:
    """Every version of a capture's fields, oldest first."""
    rows: list[dict[str, Any]] = catalog.execute(
        "SELECT * FROM listing_fields WHERE capture_id = ? ORDER BY parsed_at, origin",
        (capture_id,))
    return rows


def field_lines(listing: dict[str, Any], versions: list[dict[str, Any]]) -> list[str]:
    """Lines of `evidence show`: each field's strategy, sponsored, and every re-parse."""
    from crawler.cli.text import safe

    lines = []
    sources = listing.get("field_sources") or {}
    if sources:
        names = sorted(sources, key=lambda k: (_ORDER.index(k) if k in _ORDER else 99, k))
        lines.append("strategies " + ", ".join(f"{safe(k)}: {safe(sources[k])}"
                                               for k in names))
    if listing.get("sponsored"):
        lines.append("sponsored  reached from a sponsored search result")
    for row in versions:
        if row["origin"] == "capture":
            continue
        lines.append(f"re-parsed  {safe(row['parsed_at'])} ({safe(row['parser_version'])}): "
                     f"{safe(row['title'])}; {safe(row['price'])} {safe(row['currency'])}; "
                     f"seller {safe(row['seller_name'])}")
    return lines
