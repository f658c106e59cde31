"""What a capture is made of, and its manifest: canonical JSON (RFC 8785) naming every artifact.

The spider yields a `CaptureItem` (or a `FailureItem`); the evidence pipeline stores the
artifacts, then writes the manifest built here, then indexes it.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler import SOFTWARE_NAME, __version__
from crawler.clock import isoformat
from crawler.evidence.canonical import canonical_bytes
from crawler.items import Block, Listing, SearchResult
from crawler.textsafe import scrub

MANIFEST_SCHEMA = "markwatch/capture-manifest/1"
RUN_SCHEMA = "markwatch/run-record/1"
KINDS = ("listing", "search", "blocked", "gone")


@dataclass(frozen=True)
class WatchRef:
    """The watch a capture was made for."""

    brand: str
    term: str
    marketplace: str
    case: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"brand": self.brand, "term": self.term, "marketplace": self.marketplace,
                "case": self.case}


@dataclass
class Artifact:
    """One file of evidence, before it is stored."""

    name: str
    """Name inside the capture: `page.warc.gz`, `screenshot.webp` (`screenshot.png`: see
    `crawler.evidence.screenshot`), `dom.html`, `image-01`."""
    media_type: str
    """IANA media type."""
    data: bytes | Path
    """The bytes, or a temporary file holding them (the WARC: `crawler.evidence.warc_artifact`)."""
    source_url: str | None = None
    """Where the bytes came from, for artifacts fetched from the page (images)."""
    sha256: str | None = None
    """The SHA-256 the bytes had when written, where known; the store must see the same."""


@dataclass
class CaptureItem:
    """One snapshot of one page, as the spider hands it to the evidence pipeline."""

    capture_id: str
    kind: str
    watch: WatchRef
    request_url: str
    final_url: str
    status: int
    started_at: dt.datetime
    finished_at: dt.datetime
    artifacts: list[Artifact]
    browser: dict[str, Any]
    listing: Listing | None = None
    search_page: int | None = None
    results: list[SearchResult] = field(default_factory=list)
    block: Block | None = None
    limits_hit: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    payloads: list[Artifact] = field(default_factory=list)
    """Response payloads the WARC refers to (revisit records), stored as blobs before it and
    not listed in the manifest (the WARC names them; `crawler.recording.dedup`)."""


@dataclass
class FailureItem:
    """A page that could not be captured, with the reason; counted and reported, never lost."""

    url: str
    page_kind: str
    watch: WatchRef
    reason: str
    at: dt.datetime


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact as the manifest names it."""

    name: str
    media_type: str
    size: int
    sha256: str
    key: str
    source_url: str | None = None
    version_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "media_type": self.media_type,
                               "size": self.size, "sha256": self.sha256, "key": self.key}
        if self.source_url:
            out["source_url"] = self.source_url
        if self.version_id:
            out["version_id"] = self.version_id
        return out


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes (`crawler.evidence.canonical`)."""
    return canonical_bytes(value)


@functools.cache
def _software_info() -> tuple[tuple[str, str], ...]:
    return tuple(_read_software_info().items())


def software_info() -> dict[str, str]:
    """Names and versions of the software making the capture (read once per process)."""
    return dict(_software_info())


def _read_software_info() -> dict[str, str]:
    import playwright
    import scrapy
    import scrapy_playwright

    return {
        "name": SOFTWARE_NAME,
        "version": __version__,
        "scrapy": scrapy.__version__,
        "scrapy_playwright": getattr(scrapy_playwright, "__version__", "unknown"),
        "playwright": getattr(playwright, "__version__", "unknown"),
    }


def _result_json(result: SearchResult) -> dict[str, Any]:
    return scrub({
        "position": result.position,
        "url": result.url,
        "listing_id": result.listing_id,
        "title": result.title,
        "price": None if result.price is None else str(result.price),
        "currency": result.currency,
        "seller_name": result.seller_name,
        "sponsored": result.sponsored,
        "placeholder": result.placeholder,
        "organic_position": result.organic_position,
    })


def build_manifest(
    item: CaptureItem,
    *,
    run_id: str,
    artifacts: list[StoredArtifact],
    previous_capture: str | None,
    operator: str,
) -> dict[str, Any]:
    """The manifest of a stored capture, as a JSON-ready dict (its text storable whatever the
    page put in it: `crawler.textsafe`)."""
    return scrub({
        "schema": MANIFEST_SCHEMA,
        "capture_id": item.capture_id,
        "kind": item.kind,
        "run_id": run_id,
        "watch": item.watch.to_json(),
        "request_url": item.request_url,
        "final_url": item.final_url,
        "status": item.status,
        "started_at": isoformat(item.started_at),
        "finished_at": isoformat(item.finished_at),
        "artifacts": [a.to_json() for a in artifacts],
        "listing": item.listing.to_json() if item.listing else None,
        "search": (
            {"page": item.search_page, "results": [_result_json(r) for r in item.results]}
            if item.kind == "search"
            else None
        ),
        "block": {"kind": item.block.kind, "reason": item.block.reason} if item.block else None,
        "previous_capture": previous_capture,
        "limits_hit": list(item.limits_hit),
        "operator": operator or None,
        "software": software_info(),
        "browser": item.browser,
        "notes": item.notes,
    })
