"""Seller names linked across marketplaces: each name's normalised key, and the catalog's side
table that finds the marketplaces where a key sells through an index, not a scan.

Triage's cross-marketplace signal asks, for every listing it scores, on which marketplaces a
seller with the same normalised name sells. Reading every distinct seller name of the catalog
for each score (as it did) costs time in proportion to the catalog, capture after capture;
`seller_keys` maps each seller name the catalog holds to its key (an index by key), and
`captures_seller_name` finds the captures of a name, so one score reads the rows of the
matching names only.

The table is an index like the rest of the catalog: `Catalog.index_captures` and a re-parse
that changes a capture's seller fill it, and `catalog rebuild` makes it again (after a change
to `seller_key`, the rebuild is what brings old rows to the new keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Index, Table, Text

from storage.db import METADATA, Tx
from storage.tables import captures

seller_keys = Table(
    "seller_keys", METADATA,
    Column("seller_name", Text, primary_key=True),
    Column("seller_key", Text, nullable=False),
)
Index("seller_keys_key", seller_keys.c.seller_key)
Index("captures_seller_name", captures.c.seller_name, captures.c.kind, captures.c.marketplace)

_NAME_NOISE = re.compile(
    r"\b(official|store|shop|outlet|trading|trade|co|ltd|inc|llc|direct|supply|global|"
    r"factory|boutique|online)\b")


def seller_key(name: str | None) -> str:
    """A seller name normalised for linking: look-alikes folded, common words and
    punctuation dropped (`Lux-Outlet Store` and `luxoutlet` are the same)."""
    from crawler.triage.brands import skeleton

    if not name:
        return ""
    text = _NAME_NOISE.sub(" ", skeleton(name))
    return "".join(ch for ch in text if ch.isalnum())


def key_rows(names: Iterable[str | None]) -> list[tuple[str, str]]:
    """`seller_keys` rows (name, key) of the distinct names that have a key, sorted."""
    rows = {}
    for name in names:
        if name and name not in rows:  # a giant name is clipped: storage/index_bounds.py
            key = seller_key(name)
            if key:
                rows[name] = key
    return sorted(rows.items())


def index_seller_names(tx: Tx, names: Iterable[str | None]) -> None:
    """Put the names' keys in `seller_keys` (inside the caller's transaction; idempotent)."""
    rows = key_rows(names)
    if rows:
        tx.upsert(seller_keys, rows, replace=False)


def marketplaces_selling_as(catalog: Any, key: str) -> set[str]:
    """The marketplaces with a listing capture whose seller's name has this key."""
    if not key:
        return set()
    return {r["marketplace"] for r in catalog.query(
        "SELECT DISTINCT c.marketplace FROM seller_keys k "
        "JOIN captures c ON c.seller_name = k.seller_name "
        "WHERE k.seller_key = ? AND c.kind = 'listing'", (key,))}
