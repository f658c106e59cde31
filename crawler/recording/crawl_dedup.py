"""The crawl's deduplication index, shared by the WARC writer and the recording proxy.

The spider's `CaptureAssembler` writes WARCs with it (`crawler.recording.dedup`); the recording
proxy revalidates static assets against its `StaticIndex` (`crawler.recording.conditional`),
reading their payloads from the run's store. One index per crawl, kept on the crawler.
"""

from __future__ import annotations

import threading
from typing import Any

from crawler.config import MarkwatchConfig
from crawler.recording.conditional import StaticIndex
from crawler.recording.dedup import MAX_PAYLOAD, DedupIndex
from storage.base import Store

ATTRIBUTE = "markwatch_dedup"


class BlobReader:
    """Reads payload blobs (at most `MAX_PAYLOAD` bytes) from a store opened on first use."""

    def __init__(self, store_uri: str = "", store: Store | None = None) -> None:
        self.store_uri = store_uri
        self._store = store
        self._lock = threading.Lock()

    def __call__(self, sha256: str) -> bytes | None:
        with self._lock:
            if self._store is None:
                from storage.uri import open_store

                self._store = open_store(self.store_uri)
            store = self._store
        out = bytearray()
        try:
            for chunk in store.iter_blob(sha256):
                out += chunk
                if len(out) > MAX_PAYLOAD:
                    return None
        except KeyError:
            return None
        return bytes(out)


def crawl_dedup(crawler: Any) -> DedupIndex | None:
    """The crawl's index (made on first call; None when `EVIDENCE_DEDUP` is off)."""
    if hasattr(crawler, ATTRIBUTE):
        found: DedupIndex | None = getattr(crawler, ATTRIBUTE)
        return found
    settings = crawler.settings
    index: DedupIndex | None = None
    if settings.getbool("EVIDENCE_DEDUP", True):
        config = MarkwatchConfig.from_settings(settings)
        static = None
        if config.static_revalidate != "off":
            static = StaticIndex(config.static_revalidate, reader=BlobReader(config.store_uri))
        index = DedupIndex(static=static)
    setattr(crawler, ATTRIBUTE, index)
    return index
