"""Back-pressure on captures by the bytes they hold until stored (`EVIDENCE_INFLIGHT_MB`).

A capture's artifacts (screenshot, DOM, WARC, photos, response payloads) are held from the
moment the spider hands the capture to the evidence pipeline until every one of them is
stored. With a slow store (S3 across a network, a disk busy with fsyncs) captures would pile up
there while the browser kept rendering new ones. `EvidenceBudget` counts those bytes; while
they are at or over the limit, `EvidenceBudgetMiddleware` holds each new request before its
page is opened (the request keeps its downloader slot, so Scrapy schedules nothing more) and
lets it go as soon as stores bring the count back under the limit.

Nothing is ever dropped or refused: a capture is always taken in, even one larger than the
whole budget (else it could never be stored). The bound on what is held is therefore the budget
plus what the requests already let through render (at most `CONCURRENT_REQUESTS` captures).
The stores themselves run on a bounded pool of `EVIDENCE_STORE_WORKERS` threads of their own
(hashing, file writes and fsyncs, boto3 uploads all release the GIL), so they overlap with the
rendering on the event loop and never queue behind other threads' work.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request

from crawler.exceptions import ConfigError

logger = logging.getLogger(__name__)
ATTR = "markwatch_evidence_budget"
"""Where the crawl's one budget is kept on the crawler (the middleware and the pipeline share
it)."""
MiB = 1024 * 1024


@dataclass(frozen=True)
class BudgetConfig:
    """`EVIDENCE_INFLIGHT_MB` (0: no back-pressure) and `EVIDENCE_STORE_WORKERS`."""

    max_bytes: int = 256 * MiB
    workers: int = 4

    @classmethod
    def from_settings(cls, settings: Any) -> BudgetConfig:
        try:
            megabytes = float(settings.get("EVIDENCE_INFLIGHT_MB", 256))
            workers = int(settings.get("EVIDENCE_STORE_WORKERS", 4))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"EVIDENCE_INFLIGHT_MB / EVIDENCE_STORE_WORKERS: {exc}") from exc
        if megabytes < 0:
            raise ConfigError("EVIDENCE_INFLIGHT_MB must be 0 (off) or more")
        if workers < 1:
            raise ConfigError("EVIDENCE_STORE_WORKERS must be at least 1")
        return cls(int(megabytes * MiB), workers)


def item_bytes(artifacts: Any, payloads: Any = ()) -> int:
    """Bytes a capture holds: its artifacts and payloads, in memory or in temporary files."""
    total = 0
    for artifact in [*artifacts, *payloads]:
        data = artifact.data
        if isinstance(data, bytes | bytearray | memoryview):
            total += len(data)
        elif isinstance(data, Path):
            try:
                total += data.stat().st_size
            except OSError:
                continue
    return total


class EvidenceBudget:
    """Bytes of captures taken in by the evidence pipeline and not yet stored."""

    def __init__(self, max_bytes: int, workers: int = 4) -> None:
        self.max_bytes = max_bytes
        """0: no limit (the count and peak are still kept)."""
        self.held = 0
        self.peak = 0
        """The most bytes held at once."""
        self.waits = 0
        """Requests that had to wait for room."""
        self._holds: dict[str, int] = {}
        self._room = asyncio.Event()
        self._room.set()
        self.executor = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix="markwatch-store")

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> EvidenceBudget:
        """The crawl's budget, made on first use."""
        budget = getattr(crawler, ATTR, None)
        if budget is None:
            config = BudgetConfig.from_settings(crawler.settings)
            budget = cls(config.max_bytes, config.workers)
            setattr(crawler, ATTR, budget)
        return budget

    def full(self) -> bool:
        return bool(self.max_bytes) and self.held >= self.max_bytes

    async def room(self) -> None:
        """Return once the bytes held are under the limit (at once when they are)."""
        if not self.full():
            return
        self.waits += 1
        while self.full():
            self._room.clear()
            await self._room.wait()

    def hold(self, key: str, size: int) -> None:
        """Count `size` bytes for capture `key` (always taken in, never refused)."""
        self.release(key)  # the same capture twice counts once
        self._holds[key] = size
        self.held += size
        self.peak = max(self.peak, self.held)
        if self.full():
            self._room.clear()

    def release(self, key: str) -> None:
        """The capture `key` is stored (or failed): its bytes no longer count."""
        size = self._holds.pop(key, 0)
        self.held -= size
        if not self.full():
            self._room.set()

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class EvidenceBudgetMiddleware:
    """Downloader middleware: a request waits here while the evidence budget is full."""

    def __init__(self, budget: EvidenceBudget, stats: Any = None) -> None:
        self.budget = budget
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidenceBudgetMiddleware:
        if not crawler.settings.getbool("EVIDENCE_ENABLED"):
            raise NotConfigured("EVIDENCE_ENABLED is off")
        budget = EvidenceBudget.for_crawler(crawler)
        if not budget.max_bytes:
            raise NotConfigured("EVIDENCE_INFLIGHT_MB is 0")
        return cls(budget, crawler.stats)

    async def process_request(self, request: Request) -> None:
        if not self.budget.full():
            return
        logger.debug("evidence budget full (%d of %d bytes not yet stored): %s waits",
                     self.budget.held, self.budget.max_bytes, request.url)
        if self.stats is not None:
            self.stats.inc_value("evidence/budget_waits")
        await self.budget.room()
