"""Browser-context recycling: a fresh context every N rendered pages, so memory stays flat.

Chromium's memory grows with the pages a context has shown (caches, renderer state). This
downloader middleware names the context of each rendered request at download time
(`mw-0`, `mw-1`, ...), moving to a new one every `EVIDENCE_CONTEXT_PAGES` pages; the spider
closes a retired context once its last page is closed (pages before their context).
"""

from __future__ import annotations

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

CONTEXT_PREFIX = "mw-"


class ContextRecycler:
    """Counts rendered pages and says which context a new page should open in."""

    def __init__(self, pages_per_context: int, prefix: str = CONTEXT_PREFIX) -> None:
        if pages_per_context < 1:
            raise ValueError("pages_per_context must be at least 1")
        self.pages_per_context = pages_per_context
        self.prefix = prefix
        self.assigned = 0

    @property
    def current(self) -> str:
        return f"{self.prefix}{self.assigned // self.pages_per_context}"

    def assign(self) -> str:
        name = self.current
        self.assigned += 1
        return name

    def retired(self, name: str) -> bool:
        """Whether a context will get no new pages (so it may be closed when empty)."""
        return name.startswith(self.prefix) and name != self.current


class ContextRecycleMiddleware:
    """Downloader middleware assigning `playwright_context` to rendered requests."""

    def __init__(self, recycler: ContextRecycler) -> None:
        self.recycler = recycler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ContextRecycleMiddleware:
        pages = crawler.settings.getint("EVIDENCE_CONTEXT_PAGES", 100)
        if pages <= 0 or crawler.settings.getbool("EVIDENCE_RECORDING_PROXY"):
            raise NotConfigured  # off, or the recording middleware names contexts itself
        middleware = cls(ContextRecycler(pages))
        crawler.markwatch_contexts = middleware.recycler  # type: ignore[attr-defined]
        return middleware

    def process_request(self, request: Request) -> None:
        if request.meta.get("playwright") and "playwright_context" not in request.meta:
            request.meta["playwright_context"] = self.recycler.assign()
