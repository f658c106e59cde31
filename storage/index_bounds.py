"""Text a page wrote, made fit for the catalog: bounded in bytes where it is indexed, and
without NUL characters anywhere.

PostgreSQL refuses a B-tree index entry larger than 2,704 bytes, so one capture whose page gave
its seller a name of a few thousand random characters (or a listing id, a result URL, a contact)
would make every write of that capture fail: a hostile page could keep its own listing out of
the catalog and the portal. The catalog is an index, not the evidence: the manifest, the DOM
and the WARC keep the text whole; the catalog keeps at most `MAX_INDEXED_BYTES` of UTF-8 of a
text column that is part of an index or primary key (`SEARCH_URL_BYTES` for a search result's
URL, which is compared with listing URLs whole, tracking tokens and all), cut at a character
and marked with `…`. SQLite has no such limit; the bound is the same on both engines, so a
filter matches the same rows on each. Lowercasing for the case-insensitive indexes can grow
text by half (`İ` is two bytes, `i̇` three), so with the other columns of an index (a case
name, a timestamp) 1,200 bytes stays under PostgreSQL's limit.

PostgreSQL's text cannot hold U+0000 at all, and a page's JSON can carry one in any field
(`"A\\u0000B"` in its JSON-LD is a seller name with a NUL in it): the catalog stores U+FFFD
in its place (what an HTML parser makes of a NUL in a page's text), on both engines; and
for a lone UTF-16 surrogate, which neither engine can encode (`crawler.textsafe`).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.sql import visitors

from crawler.textsafe import scrub_text

MAX_INDEXED_BYTES = 1200
"""The most UTF-8 bytes of a text the catalog keeps in an indexed column."""
SEARCH_URL_BYTES = 2400
"""A search result's URL (its index holds the URL and one integer)."""
MARK = "…"
NUL, REPLACEMENT = "\x00", "\ufffd"
WIDER = {("search_results", "url"): SEARCH_URL_BYTES}


def clip_text(value: Any, limit: int = MAX_INDEXED_BYTES) -> Any:
    """`value` itself, or the longest prefix of it (whole characters) that with `…` fits
    `limit` bytes of UTF-8."""
    if not isinstance(value, str) or len(value) * 4 <= limit:
        return value
    data = value.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return value
    cut = data[:limit - len(MARK.encode())].decode("utf-8", "ignore")
    return cut + MARK


@functools.lru_cache(maxsize=128)
def indexed_columns(table: Table) -> dict[str, int]:
    """The table's columns that are in its primary key or any index, with their byte bound."""
    names = {c.name for c in table.primary_key.columns}
    for index in table.indexes:
        for expression in index.expressions:
            if isinstance(expression, str):
                names.add(expression)
                continue
            if getattr(expression, "name", None) == "substr":
                continue  # a prefix: bounded by the index itself (e.g. `captures_url`)
            names |= {el.name for el in visitors.iterate(expression) if isinstance(el, Column)}
    return {n: WIDER.get((table.name, n), MAX_INDEXED_BYTES) for n in sorted(names)}


def bound_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with NUL characters replaced in its text and its indexed text clipped (the same
    dict when nothing needed either)."""
    out = row
    for name, value in row.items():
        if isinstance(value, str) and (NUL in value or not value.isascii()):
            safe = scrub_text(value.replace(NUL, REPLACEMENT))  # lone surrogates too
            if safe != value:
                if out is row:
                    out = dict(row)
                out[name] = safe
    for name, limit in indexed_columns(table).items():
        value = out.get(name)
        clipped = clip_text(value, limit)
        if clipped is not value:
            if out is row:
                out = dict(row)
            out[name] = clipped
    return out
