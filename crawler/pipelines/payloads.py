"""Storing the response payloads a capture's WARC refers to, once each, before the WARC.

A capture's deduplicated WARC (`crawler.recording.dedup`) holds revisit records naming payload
blobs; those blobs are put first, so no stored WARC ever names a payload the store lacks.
`StoredDigests` remembers the digests this run has seen stored (an LRU of at most
`max_entries`, about 190 bytes each: 2.9 MiB at 16,384), so a shared script or image is put
once per run rather than once per capture; the store itself (a put is a no-op when the blob is
there) stays the truth.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from crawler.evidence.manifest import CaptureItem
from crawler.exceptions import IntegrityError
from storage.base import Store


class StoredDigests:
    """SHA-256 digests known to be stored in this run: an LRU bounded by `max_entries`."""

    def __init__(self, max_entries: int = 16384) -> None:
        self.max_entries = max_entries
        self._known: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            if sha256 in self._known:
                self._known.move_to_end(str(sha256))
                return True
            return False

    def add(self, sha256: str) -> None:
        with self._lock:
            self._known[sha256] = None
            self._known.move_to_end(sha256)
            while len(self._known) > self.max_entries:
                self._known.popitem(last=False)

    def __len__(self) -> int:
        return len(self._known)


def store_payloads(store: Store, item: CaptureItem, known: StoredDigests, stats: Any) -> None:
    """Put every payload of `item` not known stored; drop the bytes once stored."""
    for payload in item.payloads:
        sha = payload.sha256
        if sha is not None and sha in known:
            stats.inc_value("evidence/payloads_reused")
            continue
        obj = store.put_blob(payload.data, payload.media_type)
        if sha is not None and obj.sha256 != sha:
            raise IntegrityError(f"payload of {item.capture_id} recorded with SHA-256 {sha} "
                                 f"but stored as {obj.sha256}")
        known.add(obj.sha256)
        if obj.created:
            stats.inc_value("evidence/payloads_new")
            stats.inc_value("evidence/payload_bytes_new", obj.size)
        else:
            stats.inc_value("evidence/payloads_reused")
    item.payloads.clear()
