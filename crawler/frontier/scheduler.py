"""`FrontierScheduler`: a Scrapy scheduler whose queue is the run's frontier in Redis.

Politeness across workers lives here: a request is taken only with one of its marketplace's
request slots (`FRONTIER_CONCURRENCY`, default `CONCURRENT_REQUESTS_PER_DOMAIN`, pages at once
for all workers together, `DOWNLOAD_DELAY` or the shared block backoff apart), held until the
capture is stored (the lease ends).

Requests the spider makes are pushed to Redis (listings through the shared dupefilter); the
next request is popped under a lease. Start requests are dropped: the run's seeder queued
them once for all workers. A request re-sent by Scrapy (retry) hands its lease over. A listing
that comes back after an expired lease is skipped when the catalog already holds its capture
for this run (its worker died after storing it).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from scrapy.core.scheduler import BaseScheduler
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request

from crawler.frontier.codec import LEASE_META, PAYLOAD_META, decode, encode
from crawler.frontier.leases import LeaseTracker, tracker_of

logger = logging.getLogger(__name__)


class FrontierScheduler(BaseScheduler):
    """Push to and pop from the frontier; nothing kept in this process but leases."""

    def __init__(self, crawler: Crawler, concurrency: int, delay: float) -> None:
        self.crawler = crawler
        self.concurrency = concurrency
        self.delay = delay
        self.local: deque[Request] = deque()
        self.tracker: LeaseTracker | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierScheduler:
        if not crawler.settings.get("MARKWATCH_FRONTIER_URI"):
            raise NotConfigured("FrontierScheduler needs MARKWATCH_FRONTIER_URI")
        settings = crawler.settings
        concurrency = settings.getint("FRONTIER_CONCURRENCY") or settings.getint(
            "CONCURRENT_REQUESTS_PER_DOMAIN")
        return cls(crawler, concurrency, settings.getfloat("DOWNLOAD_DELAY"))

    def open(self, spider: Any) -> None:
        self.tracker = tracker_of(self.crawler)
        self.tracker.open(spider.name)

    def close(self, reason: str) -> None:
        self.local.clear()

    def has_pending_requests(self) -> bool:
        if self.local:
            return True
        assert self.tracker is not None
        return self.tracker.frontier.depth(self.tracker.marketplace)[0] > 0

    def enqueue_request(self, request: Request) -> bool:
        assert self.tracker is not None
        if request.meta.get("is_start_request"):
            return False  # the seeder queued the start once, for every worker
        payload = encode(request)
        if payload is None:
            self.local.append(request)
            return True
        old = request.meta.get(LEASE_META)
        if old is not None:  # Scrapy sends the same request again (retry): keep its place
            sent = self.tracker.frontier.push(self.tracker.marketplace, payload, front=True,
                                              dedupe=False)
            self.tracker.handoff(old)
            return sent
        sent = self.tracker.push(payload, dedupe=not request.dont_filter)
        if not sent and self.crawler.stats is not None:
            self.crawler.stats.inc_value("frontier/filtered")
        return sent

    def next_request(self) -> Request | None:
        if self.local:
            return self.local.popleft()
        assert self.tracker is not None
        while True:
            taken = self.tracker.take(self.concurrency, self.delay)
            if taken is None:
                return None
            if not isinstance(taken, tuple):  # every slot of the marketplace busy: later
                if self.crawler.stats is not None:
                    self.crawler.stats.inc_value("frontier/politeness_waits")
                return None
            lease, payload = taken
            if self.tracker.already_captured(payload):
                self.tracker.ack(lease)
                continue
            spider = self.crawler.spider
            request = decode(spider, payload, lease)
            request.meta[PAYLOAD_META] = payload
            return request
