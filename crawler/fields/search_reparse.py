"""Re-parsing stored SEARCH captures: the current search page object and the search layers
(`spiders.extract.search`: page object, JSON-LD `ItemList`, repeated DOM cards) over the
stored DOM or the WARC's response record.

A search capture keeps its results in `results.json` and its manifest; when the page object
was broken by a redesign, those lost results (or their sponsored and placeholder flags) are
restored here as a write-once record under `derived/reparse/<capture>/...` (the same prefix
and key rule as listing re-parses, `type: search-reparse`): the capture's id, manifest key and
digest, what was parsed (the DOM's digest, or the WARC record), the parser version, the time,
the strategy that found the results, and each result with its position, organic position,
sponsored and placeholder flags. Nothing is written when the results are those the capture
(or its newest re-parse) already has; the same results read again are the same object. Nor
when no layer finds a result: a page whose results a script draws (read from the server's
response rather than the rendered DOM) or a page the parser no longer understands at all
would otherwise replace results with none; the capture is reported as skipped instead.
The catalog indexes it (`crawler.fields.search_index`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from crawler import __version__
from crawler.clock import Clock, isoformat
from crawler.evidence.manifest import canonical_json
from crawler.fields.keys import REPARSE_PREFIX, reparse_key
from crawler.fields.search_index import RESULT_KEYS, index_search_reparse
from crawler.fields.warc_source import PageSource
from crawler.items import SearchResult
from crawler.textsafe import scrub
from spiders.extract.pipeline import PARSER_VERSION
from spiders.extract.search import extract_results
from spiders.pages import SearchPage, page_class
from storage.base import Store
from storage.catalog import Catalog

SearchPageFactory = Callable[[str, str, str | bytes, int], SearchPage | None]
"""(marketplace, url, html, status) -> the search page object, or None when there is none."""

class NoResults(LookupError):
    """No layer found a result on the page (nothing is recorded)."""


RECORD_TYPE = "search-reparse"
"""The `type` of a search re-parse record (a listing re-parse's is `reparse`)."""


def dedicated_search_page(marketplace: str, url: str, html: str | bytes, status: int
                          ) -> SearchPage | None:
    """The dedicated marketplace's search page object, or None for a recipe marketplace."""
    try:
        cls = page_class(marketplace, "search")
    except LookupError:
        return None
    page = cls(url, html, status)
    assert isinstance(page, SearchPage)
    return page


def result_json(result: SearchResult, strategy: str | None) -> dict[str, Any]:
    """One result as a re-parse record holds it."""
    return {"position": result.position, "url": result.url, "listing_id": result.listing_id,
            "title": result.title, "price": None if result.price is None else str(result.price),
            "currency": result.currency, "seller_name": result.seller_name,
            "image_url": result.image_url, "sponsored": bool(result.sponsored),
            "placeholder": bool(result.placeholder),
            "organic_position": result.organic_position, "strategy": strategy}


_NOT_COMPARED = ("strategy", "image_url")
"""Keys that alone make no new version: the strategy, and the thumbnail (which a capture's
own results do not keep)."""


def _comparable(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What decides whether two versions differ."""
    return [{k: r.get(k) for k in RESULT_KEYS if k not in _NOT_COMPARED} for r in results]


def _newest(store: Store, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The capture's newest results: its newest search re-parse record's, else its own."""
    best: tuple[str, list[dict[str, Any]]] | None = None
    for key in store.list_documents(f"{REPARSE_PREFIX}{manifest['capture_id']}/"):
        record = json.loads(store.read_document(key))
        if record.get("type") == RECORD_TYPE and (best is None or record["parsed_at"] > best[0]):
            best = (record["parsed_at"], record["results"])
    if best is not None:
        return best[1]
    return list((manifest.get("search") or {}).get("results") or [])


def reparse_search(store: Store, catalog: Catalog, clock: Clock, row: dict[str, Any],
                   manifest: dict[str, Any], manifest_bytes: bytes, got: PageSource,
                   page_for: SearchPageFactory) -> str | None:
    """Re-parse one search capture from `got`; the new record's key, None when nothing
    changed. `LookupError` when there is no search page object for its marketplace,
`NoResults` when no layer finds a result."""
    url = manifest.get("final_url") or manifest["request_url"]
    page = page_for(row["marketplace"], url, got.html, int(manifest.get("status") or 200))
    if page is None:
        raise LookupError(f"no search page object for {row['marketplace']!r}")
    extraction = extract_results(page)
    if not extraction.results:
        errors = "; ".join(f"{k}: {v}" for k, v in extraction.errors.items())
        raise NoResults(f"no layer found a search result in the {got.source['kind']}"
                        + (f" ({errors})" if errors else ""))
    results = scrub([result_json(r, extraction.source) for r in extraction.results])
    if _comparable(results) == _comparable(_newest(store, manifest)):
        return None
    record = {
        "type": RECORD_TYPE,
        "capture_id": row["capture_id"],
        "marketplace": row["marketplace"],
        "manifest_key": row["manifest_key"],
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "dom_sha256": got.source.get("sha256") if got.source["kind"] == "dom" else None,
        "source": got.source,
        "parser_version": PARSER_VERSION,
        "software": {"markwatch": __version__},
        "parsed_at": isoformat(clock.now()),
        "strategy": extraction.source,
        "errors": scrub(extraction.errors),
        "results": results,
    }
    digest = hashlib.sha256(canonical_json({"parser_version": PARSER_VERSION,
                                            "type": RECORD_TYPE,
                                            "results": results})).hexdigest()
    key = reparse_key(row["capture_id"], PARSER_VERSION, digest)
    if key in set(store.list_documents(f"{REPARSE_PREFIX}{row['capture_id']}/")):
        # these results were read before, and others since: a new record makes them newest
        key = reparse_key(row["capture_id"], PARSER_VERSION, hashlib.sha256(
            f"{digest} {record['parsed_at']}".encode()).hexdigest())
    store.put_document(key, canonical_json(record), "application/json")
    with catalog.transaction() as tx:
        index_search_reparse(tx, record, key)
    return key
