"""Live progress of a crawl: a status line on a terminal, plain periodic log lines otherwise."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from twisted.internet import task

logger = logging.getLogger(__name__)


class Progress:
    """Every `interval` seconds: captures, failures and rate (`MARKWATCH_PROGRESS`)."""

    def __init__(self, stats: StatsCollector, interval: float, stream: TextIO | None,
                 name: str = "") -> None:
        self.stats = stats
        self.interval = interval
        self.stream = stream
        self.name = name
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        mode = os.environ.get("MARKWATCH_PROGRESS") or crawler.settings.get(
            "MARKWATCH_PROGRESS", "auto")
        if mode == "off":
            raise NotConfigured  # switched off: no warning
        live = mode == "live" or (mode == "auto" and sys.stderr.isatty())
        interval = 0.5 if live else crawler.settings.getfloat("MARKWATCH_PROGRESS_INTERVAL", 15)
        assert crawler.stats is not None
        ext = cls(crawler.stats, interval, sys.stderr if live else None)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: object) -> None:
        self.name = getattr(spider, "name", "")
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.report)
        self.loop.start(self.interval, now=False)

    def line(self) -> str:
        captured = int(self.stats.get_value("evidence/captured", 0) or 0)
        failed = int(self.stats.get_value("evidence/failed", 0) or 0)
        listings = int(self.stats.get_value("evidence/captured/listing", 0) or 0)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (f"[{self.name}] {captured} captures ({listings} listings), {failed} failures, "
                f"{captured / elapsed:.2f} captures/s, {elapsed:.0f} s")

    def report(self) -> None:
        if self.stream is not None:
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()
        else:
            logger.info("%s", self.line())

    def spider_closed(self, spider: object) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.stream is not None:
            self.stream.write("\r\x1b[K" + self.line() + "\n")
            self.stream.flush()
