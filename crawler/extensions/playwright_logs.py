"""Keeping scrapy-playwright's per-request debug logging off unless the crawl logs at DEBUG.

scrapy-playwright attaches a request and a response logger to every page when its logger's
effective level is DEBUG, and Scrapy leaves loggers at that level and filters in its handler,
so the loggers run even at `LOG_LEVEL = "INFO"`. Each one asks the browser for a header (a
round trip through the Playwright driver) for every sub-request of every page, only for the
record to be dropped: measured here at about a tenth of the Scrapy process's CPU per capture.
This extension sets the `scrapy-playwright` logger to the crawl's `LOG_LEVEL`.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

PLAYWRIGHT_LOGGER = "scrapy-playwright"


class PlaywrightLogLevel:
    """Puts the `scrapy-playwright` logger at the crawl's log level (never below it)."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.logger = logging.getLogger(PLAYWRIGHT_LOGGER)
        self.previous = self.logger.level
        if self.logger.level < level:
            self.logger.setLevel(level)

    def restore(self) -> None:
        """Give the logger back its level (another crawl in this process may log at DEBUG)."""
        self.logger.setLevel(self.previous)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PlaywrightLogLevel:
        name = crawler.settings.get("LOG_LEVEL", "DEBUG")
        level = logging.getLevelName(str(name).upper()) if not isinstance(name, int) else name
        if not isinstance(level, int) or level <= logging.DEBUG:
            raise NotConfigured  # a DEBUG crawl keeps scrapy-playwright's request log
        extension = cls(level)
        crawler.signals.connect(extension.restore, signal=signals.engine_stopped)
        return extension
