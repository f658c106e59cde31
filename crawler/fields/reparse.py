"""`markwatch reparse`: the current page objects over stored captures.

For each listing capture chosen (by marketplace, start time, run), the stored `dom.html` is
read back from the store by its digest and run through the current page object and every
extraction layer (`spiders.extract`). When that gives other fields than the capture (or its
newest re-parse) has, a re-parse record is written to the store under
`derived/reparse/<capture>/...` (write-once, `crawler.fields.keys`): the capture's id, its
manifest key and digest, the DOM's digest, the parser version, the time, and the fields with
each one's strategy. The catalog indexes it (`crawler.fields.index`): the capture's row shows
the newest fields, every version is kept. The capture, its artifacts and its seal are never
touched. A capture with no rendered DOM is read from its WARC's response record instead
(`crawler.fields.warc_source`, which the record names as its `source`).

Search captures are re-parsed the same way by `crawler.fields.search_reparse` (`kinds`
chooses listing and/or search captures; both by default). A capture that cannot be read or
parsed (an altered or oversized DOM, a page object that raises) is reported as skipped with
the reason; the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from crawler import __version__
from crawler.clock import Clock, isoformat
from crawler.evidence.manifest import canonical_json
from crawler.fields.index import index_reparse
from crawler.fields.keys import REPARSE_PREFIX, reparse_key
from crawler.fields.search_reparse import (
    SearchPageFactory,
    dedicated_search_page,
    reparse_search,
)
from crawler.fields.warc_source import PageSource, read_page
from spiders.extract import PARSER_VERSION, extract_listing
from spiders.pages import ListingPage, page_class
from storage.base import Store
from storage.catalog import CaptureQuery, Catalog

logger = logging.getLogger(__name__)

PageFactory = Callable[[str, str, str | bytes, int], ListingPage | None]
"""(marketplace, url, html, status) -> the listing page object, or None when there is none."""

MAX_DOM_BYTES = 50 * 1024 * 1024
"""A stored DOM larger than this is not re-parsed."""
KINDS = ("listing", "search")
"""The kinds of capture `reparse` reads (`gone` listing captures count as listings)."""


@dataclass
class ReparseReport:
    """What one `reparse` did."""

    examined: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    """Capture id -> why it was not re-parsed."""
    by_kind: dict[str, int] = field(default_factory=dict)
    """Captures examined per kind (`listing`, `search`)."""

    def to_json(self) -> dict[str, Any]:
        return {"examined": self.examined, "written": len(self.written),
                "records": self.written, "unchanged": self.unchanged, "skipped": self.skipped,
                "kinds": self.by_kind, "parser_version": PARSER_VERSION}


def dedicated_page(marketplace: str, url: str, html: str | bytes, status: int
                   ) -> ListingPage | None:
    """The dedicated marketplace's listing page object, or None for a recipe marketplace."""
    try:
        cls = page_class(marketplace, "listing")
    except LookupError:
        return None
    page = cls(url, html, status)
    assert isinstance(page, ListingPage)
    return page


def _digest(listing: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"parser_version": PARSER_VERSION,
                                          "listing": listing})).hexdigest()


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return canonical_json(a) == canonical_json(b)


def _dom(store: Store, manifest: dict[str, Any]) -> bytes | None:
    artifact = next((a for a in manifest.get("artifacts", []) if a["name"] == "dom.html"), None)
    if artifact is None or artifact["size"] > MAX_DOM_BYTES:
        return None
    with store.open_blob(artifact["sha256"]) as fh:
        data: bytes = fh.read(MAX_DOM_BYTES + 1)
    if hashlib.sha256(data).hexdigest() != artifact["sha256"]:
        raise ValueError(f"stored DOM of {manifest['capture_id']} does not match its digest")
    return data


def _newest(store: Store, manifest: dict[str, Any]) -> dict[str, Any]:
    """The capture's newest fields: its newest re-parse record's, else the manifest's."""
    best: tuple[str, dict[str, Any]] | None = None
    for key in store.list_documents(f"{REPARSE_PREFIX}{manifest['capture_id']}/"):
        record = json.loads(store.read_document(key))
        if record.get("type", "reparse") != "reparse":
            continue
        if best is None or record["parsed_at"] > best[0]:
            best = (record["parsed_at"], record["listing"])
    return best[1] if best else dict(manifest.get("listing") or {})


def reparse(store: Store, catalog: Catalog, clock: Clock, *, marketplace: str | None = None,
            since: str | None = None, run_id: str | None = None,
            page_for: PageFactory = dedicated_page, source: str = "auto",
            kinds: tuple[str, ...] = KINDS,
            search_page_for: SearchPageFactory = dedicated_search_page) -> ReparseReport:
    """Re-parse the chosen listing and/or search captures (see the module doc)."""
    report = ReparseReport()
    wanted = {"listing": ("listing", "gone"), "search": ("search",)}
    accepted = {k for kind in kinds for k in wanted[kind]}
    rows = [r for r in catalog.find(CaptureQuery(marketplace=marketplace, since=since,
                                                 run_id=run_id))
            if r["kind"] in accepted]
    for row in rows:
        report.examined += 1
        kind = "search" if row["kind"] == "search" else "listing"
        report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
        capture_id = row["capture_id"]
        try:
            manifest_bytes = store.read_document(row["manifest_key"])
            manifest = json.loads(manifest_bytes)
            got = read_page(store, manifest, source, partial(_dom, store, manifest))
            if isinstance(got, str):  # why neither the DOM nor the WARC response could be read
                report.skipped[capture_id] = got
                continue
            if kind == "search":
                key = reparse_search(store, catalog, clock, row, manifest, manifest_bytes, got,
                                     search_page_for)
            else:
                key = _reparse_listing(store, catalog, clock, row, manifest, manifest_bytes,
                                       got, page_for)
        except KeyError as exc:
            missing = exc.args[0] if exc.args else exc
            report.skipped[capture_id] = f"missing from the store: {missing}"
            continue
        except LookupError as exc:  # no page object for this marketplace and kind
            report.skipped[capture_id] = str(exc)
            continue
        except (ValueError, OSError, RecursionError, MemoryError) as exc:
            # a boundary: one hostile or damaged capture is reported, the run goes on
            logger.warning("reparse of %s failed: %r", capture_id, exc)
            report.skipped[capture_id] = f"cannot re-parse: {type(exc).__name__}: {exc}"[:500]
            continue
        if key is None:
            report.unchanged += 1
        else:
            report.written.append(key)
    return report


def _reparse_listing(store: Store, catalog: Catalog, clock: Clock, row: dict[str, Any],
                     manifest: dict[str, Any], manifest_bytes: bytes, got: PageSource,
                     page_for: PageFactory) -> str | None:
    """Re-parse one listing capture from `got`; the new record's key, None when nothing
    changed."""
    capture_id = row["capture_id"]
    url = manifest.get("final_url") or manifest["request_url"]
    page = page_for(row["marketplace"], url, got.html, int(manifest.get("status") or 200))
    if page is None:
        raise LookupError(f"no listing page object for {row['marketplace']!r}")
    listing = extract_listing(page).listing
    before = manifest.get("listing") or {}
    listing.sponsored = bool(before.get("sponsored"))
    fields = listing.to_json()
    if _same(fields, _newest(store, manifest)):
        return None
    record = {
        "type": "reparse",
        "capture_id": capture_id,
        "marketplace": row["marketplace"],
        "manifest_key": row["manifest_key"],
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "dom_sha256": got.source.get("sha256") if got.source["kind"] == "dom" else None,
        "source": got.source,  # the DOM, or the WARC response record with its digest
        "parser_version": PARSER_VERSION,
        "software": {"markwatch": __version__},
        "parsed_at": isoformat(clock.now()),
        "listing": fields,
    }
    key = reparse_key(capture_id, PARSER_VERSION, _digest(fields))
    store.put_document(key, canonical_json(record), "application/json")
    with catalog.transaction() as tx:
        index_reparse(tx, record, key)
    return key
