"""The Scrapy components of a frontier worker besides its scheduler: failures kept for the run
record, leases renewed, the block backoff shared, and the spider kept open until the run's
frontier is drained.

Stats: `frontier/failures`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from twisted.internet import task

from crawler.clock import isoformat
from crawler.evidence.manifest import FailureItem
from crawler.frontier.leases import LeaseTracker, tracker_of, wrap_scraper

logger = logging.getLogger(__name__)


def _configured(crawler: Crawler) -> None:
    if not crawler.settings.get("MARKWATCH_FRONTIER_URI"):
        raise NotConfigured("no frontier (MARKWATCH_FRONTIER_URI)")


class FailurePipeline:
    """Item pipeline (before the evidence pipeline): a failure goes to the frontier too, where
    the run record made at the end finds it, whichever worker saw it."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FailurePipeline:
        _configured(crawler)
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, FailureItem):
            tracker = tracker_of(self.crawler)
            await asyncio.to_thread(tracker.frontier.add_failure, item.watch.marketplace, {
                "url": item.url, "page_kind": item.page_kind, "brand": item.watch.brand,
                "term": item.watch.term, "case": item.watch.case, "reason": item.reason,
                "at": isoformat(item.at)})
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("frontier/failures")
        return item


class UnindexedPipeline:
    """Item pipeline (after the evidence pipeline): a capture stored while the catalog was
    down is kept in the frontier, and the run's finalize indexes it from the store."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> UnindexedPipeline:
        _configured(crawler)
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, dict) and item.get("unindexed"):
            tracker = tracker_of(self.crawler)
            await asyncio.to_thread(tracker.frontier.add_unindexed, tracker.marketplace,
                                    str(item["unindexed"]))
        return item


class FrontierExtension:
    """Renews this worker's leases, returns expired ones (any worker's) to the queue, shares
    the block backoff, and keeps the spider open until the run's frontier is drained."""

    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.tracker: LeaseTracker | None = None
        self._loop: task.LoopingCall | None = None
        self._shared_delay = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierExtension:
        _configured(crawler)
        lease = crawler.settings.getfloat("MARKWATCH_FRONTIER_LEASE", 60.0)
        ext = cls(crawler, max(0.5, lease / 4))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        if self.crawler.settings.get("MARKWATCH_LOG_FORMAT") == "json":
            from crawler.frontier.logjson import use_json_logs

            use_json_logs()  # Scrapy installs its log handler per crawler: set it here
        self.tracker = tracker_of(self.crawler)
        self.tracker.open(spider.name)
        self.tracker.on_done.append(self._after)
        wrap_scraper(self.crawler, self.tracker)
        self._loop = task.LoopingCall(self._tick)
        self._loop.start(self.interval, now=False)

    def _tick(self) -> None:
        assert self.tracker is not None
        from crawler.frontier.metrics import beat

        beat()
        try:
            self.tracker.renew()
        except Exception:  # Redis away for a moment: the next tick tries again
            logger.exception("frontier: could not renew leases")

    def _after(self, marketplace: str, payload: dict[str, Any], seconds: float) -> None:
        backoff = getattr(self.crawler.spider, "_backoff", None)
        if backoff is not None and backoff.delay != self._shared_delay:
            assert self.tracker is not None
            self.tracker.frontier.set_backoff(marketplace, backoff.delay)
            self._shared_delay = backoff.delay

    def spider_idle(self, spider: Any) -> None:
        assert self.tracker is not None
        frontier = self.tracker.frontier
        if frontier.closed() or (not self.tracker.leases and frontier.is_drained()):
            logger.info("frontier of run %s drained: this worker's %s spider stops",
                        frontier.run_id, spider.name)
            return
        raise DontCloseSpider

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.tracker is None or self.crawler.stats is None:
            return
        stats = self.crawler.stats
        self.tracker.frontier.add_counts(spider.name, {
            "new_blobs": int(stats.get_value("evidence/blobs_new", 0)),
            "reused_blobs": int(stats.get_value("evidence/blobs_reused", 0)),
            "new_bytes": int(stats.get_value("evidence/bytes_new", 0)),
        })
