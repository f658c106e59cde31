"""Browser-context recycling: a fresh context every N rendered pages, so memory stays flat.

Chromium's memory grows with the pages a context has shown (caches, renderer state). This
downloader middleware names the context of each rendered request at download time
(`mw-0`, `mw-1`, ...), moving to a new one every `EVIDENCE_CONTEXT_PAGES` pages; the spider
closes a retired context once its last page is closed (pages before their context).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.config import context_pages

CONTEXT_PREFIX = "mw-"
SLOT_META = "markwatch_context_slot"
"""The context a request was assigned, until its page is done (`ContextRecycler.finish`)."""


class ContextRecycler:
    """Counts rendered pages and says which context a new page should open in."""

    def __init__(self, pages_per_context: int, prefix: str = CONTEXT_PREFIX) -> None:
        if pages_per_context < 1:
            raise ValueError("pages_per_context must be at least 1")
        self.pages_per_context = pages_per_context
        self.prefix = prefix
        self.assigned = 0
        self.pending: dict[str, int] = {}
        """Per context: requests assigned to it whose page is not done yet."""

    @property
    def current(self) -> str:
        return f"{self.prefix}{self.assigned // self.pages_per_context}"

    def assign(self, meta: dict[str, Any] | None = None) -> str:
        """The context for a new rendered request; with `meta`, noted there until `finish`."""
        if meta is not None:
            self.finish(meta)  # a retried copy of a request gives its old slot back
        name = self.current
        self.assigned += 1
        self.pending[name] = self.pending.get(name, 0) + 1
        if meta is not None:
            meta[SLOT_META] = name
        return name

    def finish(self, meta: dict[str, Any]) -> None:
        """The request's page is closed (or was never opened): its context owes it nothing."""
        name = meta.pop(SLOT_META, None)
        if name is None:
            return
        left = self.pending.get(name, 0) - 1
        if left > 0:
            self.pending[name] = left
        else:
            self.pending.pop(name, None)

    def retired(self, name: str) -> bool:
        """Whether a context will get no new pages."""
        return name.startswith(self.prefix) and name != self.current

    def closable(self, name: str) -> bool:
        """Retired, and no request assigned to it is still to open or close its page: a
        request can be assigned a context and wait for a download slot while the context's
        other pages all close, and must not find it closed."""
        return self.retired(name) and not self.pending.get(name)


class ContextRecycleMiddleware:
    """Downloader middleware assigning `playwright_context` to rendered requests."""

    def __init__(self, recycler: ContextRecycler) -> None:
        self.recycler = recycler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ContextRecycleMiddleware:
        pages = context_pages(crawler.settings)
        if pages <= 0 or crawler.settings.getbool("EVIDENCE_RECORDING_PROXY"):
            raise NotConfigured  # off, or the recording middleware names contexts itself
        middleware = cls(ContextRecycler(pages))
        crawler.markwatch_contexts = middleware.recycler  # type: ignore[attr-defined]
        return middleware

    def process_request(self, request: Request) -> None:
        if request.meta.get("playwright") and "playwright_context" not in request.meta:
            request.meta["playwright_context"] = self.recycler.assign(request.meta)
