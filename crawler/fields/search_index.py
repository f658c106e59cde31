"""The catalog's side table of re-parsed search results, and what is shown for a search
capture: its newest re-parse's results, else its own.

A search capture's own results are in its manifest (and `results.json`), which the catalog
row names; `search_results` holds one row per result of each search re-parse record
(`crawler.fields.search_reparse`; `origin` = the record's store key), with `newest = 1` on the
rows of the capture's newest record (by its time, then key, as listing re-parses are ordered).
What the catalog shows (`shown_results`: `evidence show`, the portal's capture page) is the
newest record's results, else the capture's own; every version is kept (`result_versions`:
the capture's own, then each record's). `catalog rebuild` re-applies the records oldest first,
which restores the same flags. Nothing is indexed for a capture until it is re-parsed, so a
catalog migrated from an earlier release is the same as one rebuilt from its store.

A listing capture is shown as sponsored in `evidence list` when its own record says so
(`Listing.sponsored`, set at crawl time from the result the crawler followed; never changed)
or when the newest re-parse of a search capture of the same run and marketplace marks the
result with the listing capture's request URL as sponsored (`derived_sponsored`): a re-parse
can add the mark, never take the capture's own away.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, Integer, Table, Text

from storage.db import METADATA, Tx

search_results = Table(
    "search_results", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("origin", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("newest", Integer, nullable=False, server_default="1"),
    Column("url", Text, nullable=False),
    Column("listing_id", Text),
    Column("title", Text),
    Column("price", Text),
    Column("currency", Text),
    Column("seller_name", Text),
    Column("image_url", Text),
    Column("sponsored", Integer, nullable=False, server_default="0"),
    Column("placeholder", Integer, nullable=False, server_default="0"),
    Column("organic_position", Integer),
    Column("strategy", Text),
)
Index("search_results_url", search_results.c.url, search_results.c.newest)

RESULT_KEYS = ("position", "url", "listing_id", "title", "price", "currency", "seller_name",
               "image_url", "sponsored", "placeholder", "organic_position", "strategy")
"""The keys of one result in a search re-parse record and in the JSON views."""


def result_rows(capture_id: str, origin: str, results: list[dict[str, Any]],
                newest: bool = True) -> list[tuple[Any, ...]]:
    """The `search_results` rows of one version of a capture's results, in page order (`seq`;
    `position` as the page object gave it; a result with no URL is not indexed)."""
    rows: list[tuple[Any, ...]] = []
    for n, result in enumerate(results, start=1):
        url = result.get("url")
        if not url:
            continue
        rows.append((capture_id, origin, n, int(result.get("position") or n), int(newest),
                     str(url), result.get("listing_id"), result.get("title"),
                     None if result.get("price") is None else str(result["price"]),
                     result.get("currency"), result.get("seller_name"),
                     result.get("image_url"), int(bool(result.get("sponsored"))),
                     int(bool(result.get("placeholder"))), result.get("organic_position"),
                     result.get("strategy")))
    return rows


def index_search_reparse(tx: Tx, record: dict[str, Any], key: str) -> None:
    """One search re-parse record (inside one transaction): its results, and its count in
    `listing_fields`; its rows become the newest when it is the capture's newest record."""
    from crawler.fields.index import listing_fields

    capture_id = record["capture_id"]
    results = record["results"]
    organic = sum(1 for r in results if not r.get("placeholder"))
    tx.upsert(listing_fields, [(capture_id, key, record["parsed_at"], record["parser_version"],
                                None, None, None, None, None, None, 0, 0, "{}", organic)])
    tx.upsert(search_results, result_rows(capture_id, key, results, newest=False))
    newest = tx.query(
        "SELECT origin FROM listing_fields WHERE capture_id = ? AND origin != 'capture' "
        "ORDER BY parsed_at DESC, origin DESC LIMIT 1", (capture_id,))
    if newest and newest[0]["origin"] == key:
        tx.query("UPDATE search_results SET newest = CASE WHEN origin = ? THEN 1 ELSE 0 END "
                 "WHERE capture_id = ?", (key, capture_id))


def newest_results(catalog: Any, capture_id: str) -> list[dict[str, Any]]:
    """The results the catalog shows for a search capture, in page order."""
    rows: list[dict[str, Any]] = catalog.query(
        "SELECT * FROM search_results WHERE capture_id = ? AND newest = 1 ORDER BY seq",
        (capture_id,))
    return rows


def own_results(manifest: dict[str, Any], newest: bool = True) -> list[dict[str, Any]]:
    """A search capture's own results (its manifest's) in the shape of `search_results`
    rows (`origin` `capture`)."""
    own = (manifest.get("search") or {}).get("results") or []
    names = [c.name for c in search_results.columns]
    return [dict(zip(names, row, strict=True))
            for row in result_rows(manifest["capture_id"], "capture", own, newest)]


def shown_results(catalog: Any, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The results to show for a search capture: its newest re-parse's, else its own (a
    re-parse record always holds at least one result, so no rows means no re-parse)."""
    return newest_results(catalog, manifest["capture_id"]) or own_results(manifest)


def result_versions(catalog: Any, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every version of a search capture's results, oldest first (its own, then each
    re-parse): origin, time, parser, organic count, and the rows."""
    capture_id = manifest["capture_id"]
    versions: list[dict[str, Any]] = catalog.query(
        "SELECT origin, parsed_at, parser_version, results FROM listing_fields "
        "WHERE capture_id = ? ORDER BY CASE WHEN origin = 'capture' THEN 0 ELSE 1 END, "
        "parsed_at, origin", (capture_id,))
    rows = catalog.query("SELECT * FROM search_results WHERE capture_id = ? "
                         "ORDER BY origin, seq", (capture_id,))
    own = own_results(manifest, newest=not rows)
    for version in versions:
        version["rows"] = (own if version["origin"] == "capture"
                           else [r for r in rows if r["origin"] == version["origin"]])
    return versions


def derived_sponsored(catalog: Any, capture_ids: list[str] | None = None) -> set[str]:
    """Listing captures whose request URL is a sponsored result in the newest results of a
    search capture of the same run and marketplace (see the module doc)."""
    rows = catalog.query(
        "SELECT DISTINCT l.capture_id FROM captures l "
        "JOIN search_results r ON r.url = l.url AND r.newest = 1 AND r.sponsored = 1 "
        "JOIN captures s ON s.capture_id = r.capture_id AND s.run_id = l.run_id "
        "AND s.marketplace = l.marketplace "
        "WHERE l.kind IN ('listing', 'gone')", ())
    found = {str(r["capture_id"]) for r in rows}
    return found if capture_ids is None else found & set(capture_ids)


def result_lines(newest: list[dict[str, Any]], versions: list[dict[str, Any]]) -> list[str]:
    """Lines of `evidence show` for a search capture: the results shown, then each
    re-parse's summary."""
    from crawler.cli.text import clip, safe

    lines: list[str] = []
    if newest:
        lines.append("results")
    for r in newest:
        marks = "".join((" [sponsored]" if r["sponsored"] else "",
                         " [placeholder]" if r["placeholder"] else ""))
        rank = f"#{r['organic_position']}" if r["organic_position"] else "-"
        lines.append(f"  {r['position']:>3} {rank:>4}  {clip(safe(r['listing_id']), 14):14}  "
                     f"{clip(safe(r['title'] or r['url']), 60)}{marks}")
    for v in versions:
        if v["origin"] == "capture":
            continue
        sponsored = sum(1 for r in v["rows"] if r["sponsored"])
        strategy = next((r["strategy"] for r in v["rows"] if r["strategy"]), None)
        lines.append(f"re-parsed  {safe(v['parsed_at'])} ({safe(v['parser_version'])}): "
                     f"{len(v['rows'])} results, {v['results']} not placeholders, "
                     f"{sponsored} sponsored, by {safe(strategy)}")
    return lines
