"""A crawl's timeline, for finding idle cores (`MARKWATCH_TIMELINE`, off by default).

Writes one JSON line per event to the file `MARKWATCH_TIMELINE` names: the engine starting,
each request scheduled, reaching the downloader and leaving it, each capture stored, the
browser launched (`crawler.browser.download_handler`), the engine stopping. Every line holds
the event, its wall-clock time (`t`, seconds since the epoch, so that a harness sampling the
process tree from outside can line the two up) and, for requests, the page kind (`search`,
`listing`, `robots`...). `bench/timeline.py` reads it beside the tree's CPU per second.

A benchmark aid, not evidence: it names URLs of the crawl and nothing else (no headers, no
bodies), and is written only when asked for.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import IO, Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.settings import BaseSettings

CRAWLER_ATTRIBUTE = "markwatch_timeline"
"""Where the extension hangs itself on the crawler, for components to `note` events."""


@dataclass(frozen=True)
class TimelineConfig:
    """Where the timeline goes (`MARKWATCH_TIMELINE`; empty: no timeline)."""

    path: str = ""

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> TimelineConfig:
        return cls(path=str(settings.get("MARKWATCH_TIMELINE") or ""))


def kind_of(request: Request) -> str:
    """The page kind a request is for (`search`, `listing`), else `robots` or `other`."""
    kind = request.meta.get("page_kind")
    if kind:
        return str(kind)
    return "robots" if request.url.endswith("/robots.txt") else "other"


class Timeline:
    """Appends the crawl's events to a JSON-lines file."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Timeline:
        config = TimelineConfig.from_settings(crawler.settings)
        if not config.path:
            raise NotConfigured
        # line-buffered: a harness follows the file as the crawl goes
        extension = cls(open(config.path, "a", buffering=1, encoding="utf-8"))  # noqa: SIM115
        setattr(crawler, CRAWLER_ATTRIBUTE, extension)
        extension.note("crawler_created")
        for handler, signal in (
                (extension.engine_started, signals.engine_started),
                (extension.spider_opened, signals.spider_opened),
                (extension.request_scheduled, signals.request_scheduled),
                (extension.request_reached_downloader, signals.request_reached_downloader),
                (extension.request_left_downloader, signals.request_left_downloader),
                (extension.response_received, signals.response_received),
                (extension.item_scraped, signals.item_scraped),
                (extension.spider_closed, signals.spider_closed),
                (extension.engine_stopped, signals.engine_stopped)):
            crawler.signals.connect(handler, signal=signal)
        return extension

    def note(self, event: str, **fields: Any) -> None:
        """One event, now."""
        if not self.out.closed:
            self.out.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")

    def engine_started(self) -> None:
        self.note("engine_started")

    def spider_opened(self, spider: Spider) -> None:
        self.note("spider_opened")

    def request_scheduled(self, request: Request, spider: Spider) -> None:
        self.note("scheduled", kind=kind_of(request), url=request.url)

    def request_reached_downloader(self, request: Request, spider: Spider) -> None:
        self.note("downloading", kind=kind_of(request), url=request.url)

    def request_left_downloader(self, request: Request, spider: Spider) -> None:
        self.note("downloaded", kind=kind_of(request), url=request.url)

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        self.note("response", kind=kind_of(request), url=request.url)

    def item_scraped(self, item: Any, response: Response, spider: Spider) -> None:
        found = item if isinstance(item, dict) else {}
        kind = found.get("kind") or ("failure" if "failure" in found else type(item).__name__)
        request = getattr(response, "request", None)
        url = request.url if request is not None else found.get("url", "")
        self.note("stored", kind=str(kind), url=str(url))

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.note("spider_closed", reason=reason)

    def engine_stopped(self) -> None:
        self.note("engine_stopped")
        self.out.close()


def note(crawler: Crawler | None, event: str, **fields: Any) -> None:
    """Note `event` on the crawl's timeline, if it keeps one."""
    timeline = getattr(crawler, CRAWLER_ATTRIBUTE, None)
    if isinstance(timeline, Timeline):
        timeline.note(event, **fields)
