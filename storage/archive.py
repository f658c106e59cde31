"""Before and after a crawl: check the archive can be used, and upload what was spooled.

A remote store that refuses us for good (credentials, bucket) is a configuration error found
before anything is crawled. One that cannot be reached is not: the crawl goes on, captures
wait in the durable local spool, and the run exits 3 until `markwatch sync` (or the next
crawl) uploads them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from crawler.exceptions import ConfigError, StoreMisconfigured, StoreUnavailable
from storage.base import Store
from storage.upload_spool import SpoolingStore, SyncReport
from storage.uri import open_store

logger = logging.getLogger(__name__)

_PROBE = "0" * 64  # a blob key nothing is ever stored under


@dataclass
class ArchiveState:
    """What the archive looked like at a check."""

    reachable: bool
    pending: int
    sync: SyncReport | None = None


def preflight(uri: str, spool: str | Path | None = None) -> ArchiveState:
    """Probe the store and upload any spool left by an earlier run.

    Raises ConfigError when the store refuses us for good; nothing is crawled then.
    """
    store = open_store(uri, spool=spool)
    try:
        return _probe_and_sync(store, uri)
    finally:
        store.close()


def settle(uri: str, spool: str | Path | None = None) -> ArchiveState:
    """After a crawl: upload the spool; say how much is still waiting."""
    store = open_store(uri, spool=spool)
    try:
        return _probe_and_sync(store, uri)
    except ConfigError:
        pending = len(store.pending()) if isinstance(store, SpoolingStore) else 0
        return ArchiveState(False, pending)
    finally:
        store.close()


def _probe_and_sync(store: Store, uri: str) -> ArchiveState:
    if not isinstance(store, SpoolingStore):
        return ArchiveState(True, 0)
    try:
        store.remote.has_blob(_PROBE)
    except StoreMisconfigured as exc:
        raise ConfigError(f"the store {uri} refuses markwatch: {exc}") from exc
    except StoreUnavailable as exc:
        pending = len(store.pending())
        logger.warning("the store %s cannot be reached (%s); captures will be spooled in %s",
                       uri, exc, store.root)
        return ArchiveState(False, pending)
    if not store.pending():
        return ArchiveState(True, 0)
    try:
        report = store.sync()
    except StoreMisconfigured as exc:
        raise ConfigError(f"the store {uri} refuses markwatch: {exc}") from exc
    return ArchiveState(not report.unavailable, report.remaining, report)
