"""Stamps each request with the moment its download starts: the capture's UTC start time."""

from __future__ import annotations

from scrapy import Request
from scrapy.crawler import Crawler

from crawler.clock import Clock
from crawler.config import MarkwatchConfig

STARTED_META = "markwatch_started"


class CaptureClockMiddleware:
    """Downloader middleware: `request.meta["markwatch_started"]` from the injectable clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptureClockMiddleware:
        return cls(MarkwatchConfig.from_settings(crawler.settings).clock)

    def process_request(self, request: Request) -> None:
        request.meta[STARTED_META] = self.clock.now()
