"""`markwatch reparse`: the current page objects over stored captures.

For each listing capture chosen (by marketplace, start time, run), the stored `dom.html` is
read back from the store by its digest and run through the current page object and every
extraction layer (`spiders.extract`). When that gives other fields than the capture (or its
newest re-parse) has, a re-parse record is written to the store under
`derived/reparse/<capture>/...` (write-once, `crawler.fields.keys`): the capture's id, its
manifest key and digest, the DOM's digest, the parser version, the time, and the fields with
each one's strategy. The catalog indexes it (`crawler.fields.index`): the capture's row shows
the newest fields, every version is kept. The capture, its artifacts and its seal are never
touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crawler import __version__
from crawler.clock import Clock, isoformat
from crawler.evidence.manifest import canonical_json
from crawler.fields.index import index_reparse
from crawler.fields.keys import REPARSE_PREFIX, reparse_key
from spiders.extract import PARSER_VERSION, extract_listing
from spiders.pages import ListingPage, page_class
from storage.base import Store
from storage.catalog import CaptureQuery, Catalog

logger = logging.getLogger(__name__)

PageFactory = Callable[[str, str, bytes, int], ListingPage | None]
"""(marketplace, url, html, status) -> the listing page object, or None when there is none."""

MAX_DOM_BYTES = 50 * 1024 * 1024
"""A stored DOM larger than this is not re-parsed."""


@dataclass
class ReparseReport:
    """What one `reparse` did."""

    examined: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    """Capture id -> why it was not re-parsed."""

    def to_json(self) -> dict[str, Any]:
        return {"examined": self.examined, "written": len(self.written),
                "records": self.written, "unchanged": self.unchanged, "skipped": self.skipped,
                "parser_version": PARSER_VERSION}


def dedicated_page(marketplace: str, url: str, html: bytes, status: int) -> ListingPage | None:
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
        if best is None or record["parsed_at"] > best[0]:
            best = (record["parsed_at"], record["listing"])
    return best[1] if best else dict(manifest.get("listing") or {})


def reparse(store: Store, catalog: Catalog, clock: Clock, *, marketplace: str | None = None,
            since: str | None = None, run_id: str | None = None,
            page_for: PageFactory = dedicated_page) -> ReparseReport:
    """Re-parse the chosen listing captures (see the module doc)."""
    report = ReparseReport()
    rows = [r for r in catalog.find(CaptureQuery(marketplace=marketplace, since=since,
                                                 run_id=run_id))
            if r["kind"] in ("listing", "gone")]
    for row in rows:
        report.examined += 1
        capture_id = row["capture_id"]
        manifest_bytes = store.read_document(row["manifest_key"])
        manifest = json.loads(manifest_bytes)
        dom = _dom(store, manifest)
        if dom is None:
            report.skipped[capture_id] = "no stored DOM within the size cap"
            continue
        url = manifest.get("final_url") or manifest["request_url"]
        page = page_for(row["marketplace"], url, dom, int(manifest.get("status") or 200))
        if page is None:
            report.skipped[capture_id] = f"no listing page object for {row['marketplace']!r}"
            continue
        listing = extract_listing(page).listing
        before = manifest.get("listing") or {}
        listing.sponsored = bool(before.get("sponsored"))
        fields = listing.to_json()
        if _same(fields, _newest(store, manifest)):
            report.unchanged += 1
            continue
        record = {
            "type": "reparse",
            "capture_id": capture_id,
            "marketplace": row["marketplace"],
            "manifest_key": row["manifest_key"],
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "dom_sha256": hashlib.sha256(dom).hexdigest(),
            "parser_version": PARSER_VERSION,
            "software": {"markwatch": __version__},
            "parsed_at": isoformat(clock.now()),
            "listing": fields,
        }
        key = reparse_key(capture_id, PARSER_VERSION, _digest(fields))
        store.put_document(key, canonical_json(record), "application/json")
        with catalog.transaction() as tx:
            index_reparse(tx, record, key)
        report.written.append(key)
    return report
