"""A run's ledger: what it captured and what failed, written once at the end as the run record.

Its capture entries wait in a temporary file (`crawler.runs.spool`), not in memory, so a long
crawl's memory does not grow with the captures it stores; its failures stay in memory (one per
page that could not be captured).

The evidence pipeline keeps one ledger per marketplace inside the crawl; starting, resuming and
reporting whole runs is `crawler.runs.runner`, which never sees a ledger, only its record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from crawler.clock import isoformat
from crawler.evidence.manifest import RUN_SCHEMA, FailureItem, software_info
from crawler.runs.spool import EntrySpool


def digest_list_root(digests: list[str]) -> str:
    """SHA-256 over the ordered manifest digests: one value that changes if any of them does."""
    h = hashlib.sha256()
    for d in digests:
        h.update(bytes.fromhex(d))
    return h.hexdigest()


@dataclass
class CaptureEntry:
    """A stored capture, as the run record lists it."""

    capture_id: str
    kind: str
    url: str
    manifest_key: str
    manifest_sha256: str


@dataclass
class RunLedger:
    """Everything one marketplace's part of a run did."""

    run_id: str
    marketplace: str
    started_at: dt.datetime
    case: str | None = None
    watchlist: dict[str, Any] = field(default_factory=dict)
    captures: EntrySpool = field(default_factory=EntrySpool)
    failures: list[FailureItem] = field(default_factory=list)
    new_bytes: int = 0
    new_blobs: int = 0
    reused_blobs: int = 0

    def counts(self) -> dict[str, int]:
        kinds = self.captures.kinds()
        return {
            "captures": len(self.captures),
            "listings": kinds.get("listing", 0),
            "searches": kinds.get("search", 0),
            "blocked": kinds.get("blocked", 0),
            "gone": kinds.get("gone", 0),
            "failures": len(self.failures),
            "new_blobs": self.new_blobs,
            "reused_blobs": self.reused_blobs,
            "new_bytes": self.new_bytes,
        }

    def status(self) -> str:
        if self.failures and not self.captures:
            return "failed"
        return "partial" if self.failures else "complete"

    def record(self, finished_at: dt.datetime, finish_reason: str) -> dict[str, Any]:
        """The run record (JSON-ready), listing every capture with its manifest digest."""
        ordered = sorted(self.captures, key=lambda e: e.capture_id)
        return {
            "schema": RUN_SCHEMA,
            "run_id": self.run_id,
            "marketplace": self.marketplace,
            "case": self.case,
            "watchlist": self.watchlist,
            "started_at": isoformat(self.started_at),
            "finished_at": isoformat(finished_at),
            "status": self.status(),
            "finish_reason": finish_reason,
            "counts": self.counts(),
            "captures": [
                {"capture_id": e.capture_id, "kind": e.kind, "url": e.url,
                 "manifest_key": e.manifest_key, "manifest_sha256": e.manifest_sha256}
                for e in ordered
            ],
            "manifests_root": digest_list_root([e.manifest_sha256 for e in ordered]),
            "failures": [
                {"url": f.url, "page_kind": f.page_kind, "brand": f.watch.brand,
                 "term": f.watch.term, "reason": f.reason, "at": isoformat(f.at)}
                for f in self.failures
            ],
            "software": software_info(),
        }

    def close(self) -> None:
        """Delete the capture entries' temporary file (after the record is written)."""
        self.captures.close()
