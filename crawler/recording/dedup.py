"""Each payload stored once: which recorded payloads a capture's WARC refers to instead of holding.

markwatch's WARC profile (docs/fidelity.md, "Deduplicated recording"): a response payload of at
least `MIN_PAYLOAD` bytes (2xx, complete, not the page's own document) and every capture artifact
kept as its own blob (screenshot, DOM, fields) is stored once in the store as a content-addressed
blob under the SHA-256 of its bytes, and the capture's WARC holds a WARC 1.1 `revisit` record
(identical-payload-digest profile) naming it: `WARC-Markwatch-Payload-SHA256` gives the blob,
`WARC-Refers-To-Target-URI`/`-Date` (and `WARC-Refers-To`, `WARC-Markwatch-Original-Capture`
when the first record of that payload was another capture's) say where it was first recorded.
Exports, replay and verification resolve the blob (`crawler.evidence.warc_refs`).

`DedupIndex` remembers, per run, where each payload was first recorded: an LRU of at most
`max_entries` digests (about 550 bytes each: 4,096 entries, 2.2 MiB measured by
`bench/dedup_soak.py`), so memory stays flat over any number of captures; a payload that fell
out of it refers to its own record, and the store's blob (put again, a no-op when present)
stays the truth.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.recording.conditional import StaticIndex

MIN_PAYLOAD = 512
"""Smaller payloads stay in the WARC: a revisit record and a blob would cost more than them."""
MAX_PAYLOAD = 1024 * 1024
"""Larger payloads stay in the WARC (they are on disk in the proxy's spool, not in memory)."""
MAX_CARRIED = 8 * 1024 * 1024
"""Payload bytes one capture hands to the pipeline in memory at most; past it, payloads stay in
the WARC (a temporary file). Bounds memory: captures in flight x 8 MiB."""
PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
PAYLOAD_SHA256 = "WARC-Markwatch-Payload-SHA256"
"""The hex SHA-256 (= blob key) of the payload a revisit record leaves out."""
PAYLOAD_LENGTH = "WARC-Markwatch-Payload-Length"
ORIGINAL_BLOCK = "WARC-Markwatch-Original-Block-Digest"
"""The block digest of the full record (head and payload) the revisit stands for."""
ORIGINAL_CAPTURE = "WARC-Markwatch-Original-Capture"
MATERIALISE_AS = "WARC-Markwatch-Materialise-As"
"""`response`, `resource` or `metadata`: the record type a full copy of the record has."""
MATERIALISE_TYPE = "WARC-Markwatch-Content-Type"
"""The Content-Type of the full record."""


@dataclass(frozen=True)
class Original:
    """Where a payload was first recorded in this run."""

    uri: str
    date: str
    record_id: str
    capture_id: str


class DedupIndex:
    """Payload SHA-256 -> its first record in this run; an LRU bounded by `max_entries`."""

    def __init__(self, max_entries: int = 4096, static: StaticIndex | None = None) -> None:
        self.max_entries = max_entries
        self.static = static
        """Static assets whose payloads are stored, for the proxy to revalidate (None: off)."""
        self._seen: OrderedDict[str, Original] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, sha256: str, candidate: Original) -> Original:
        """The first record of `sha256` (`candidate` itself when it is the first known)."""
        with self._lock:
            found = self._seen.get(sha256)
            if found is not None:
                self._seen.move_to_end(sha256)
                return found
            self._seen[sha256] = candidate
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return candidate

    def __len__(self) -> int:
        return len(self._seen)


def eligible(status: int | None, payload_size: int, truncated: str | None, is_page: bool) -> bool:
    """Whether a response's payload is stored as a blob and referred to from the WARC."""
    return (not is_page and truncated is None and status is not None and 200 <= status < 300
            and MIN_PAYLOAD <= payload_size <= MAX_PAYLOAD)
