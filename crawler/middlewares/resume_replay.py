"""Answers the requests a resumed run already captured from the evidence it stored.

Only active when the runner resumes an unfinished run (`MARKWATCH_RESUME`). A search page the
run already captured is answered with its stored rendered DOM, so the spider finds the same
listings and the same next page without fetching or capturing it again; a listing page the run
already captured is answered with an empty page. Either response is flagged with
`crawler.runs.resume.RESUMED_META`, and `ResumeSpiderMiddleware` drops the captures and
failures the spider makes of such a response: only the requests it leads to go on.

Why apart from `crawler.runs.resume`: that module decides, before the crawl, whether a run is
resumed and what it already stored (state file, lock, catalog repair); these are the Scrapy
middlewares that act on it request by request during the crawl.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse, Response
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

from crawler.config import MarkwatchConfig
from crawler.evidence.manifest import CaptureItem, FailureItem
from crawler.runs.resume import RESUMED_META, is_resumed, stored_entries
from storage.base import Store
from storage.catalog import Catalog
from storage.uri import open_store

logger = logging.getLogger(__name__)


class ResumeMiddleware:
    """Downloader middleware: replay a resumed run's stored pages instead of fetching them."""

    def __init__(self, store: Store, catalog: Catalog, run_id: str, crawler: Crawler) -> None:
        self.store = store
        self.catalog = catalog
        self.run_id = run_id
        self.crawler = crawler
        self._index: dict[str, dict[str, Any]] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResumeMiddleware:
        if not crawler.settings.getbool("MARKWATCH_RESUME"):
            raise NotConfigured  # not resuming a run: switched off quietly
        config = MarkwatchConfig.from_settings(crawler.settings)
        if not config.run_id:
            raise NotConfigured("MARKWATCH_RESUME needs MARKWATCH_RUN_ID")
        return cls(open_store(config.store_uri), Catalog(config.catalog_uri),
                   config.run_id, crawler)

    def index(self) -> dict[str, dict[str, Any]]:
        """Request URL -> catalog row of what this marketplace's part of the run stored."""
        if self._index is None:
            assert self.crawler.spider is not None
            rows = stored_entries(self.catalog, self.run_id, self.crawler.spider.name)
            self._index = {row["url"]: row for row in rows}
            logger.info("resuming run %s: %d pages already captured", self.run_id, len(rows))
        return self._index

    async def process_request(self, request: Request) -> HtmlResponse | None:
        kind = request.meta.get("page_kind")
        row = self.index().get(request.url) if kind in ("search", "listing") else None
        if row is None:
            return None
        body = b""
        if kind == "search":
            body = await asyncio.to_thread(self._dom, row["capture_id"])
        request.meta[RESUMED_META] = row["capture_id"]
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"resume/replayed/{kind}")
        return HtmlResponse(url=row.get("final_url") or request.url, body=body,
                            encoding="utf-8", request=request)

    def _dom(self, capture_id: str) -> bytes:
        capture = self.catalog.get(capture_id) or {}
        for artifact in capture.get("artifacts", []):
            if artifact["name"] == "dom.html":
                return b"".join(self.store.iter_blob(artifact["sha256"]))
        return b""


class ResumeSpiderMiddleware(BaseSpiderMiddleware):
    """Spider middleware: nothing is captured again from a page replayed from the store."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResumeSpiderMiddleware:
        if not crawler.settings.getbool("MARKWATCH_RESUME"):
            raise NotConfigured  # not resuming a run: switched off quietly
        return cls(crawler)

    def get_processed_item(self, item: Any, response: Response | None) -> Any:
        if response is not None and is_resumed(response) and isinstance(
                item, CaptureItem | FailureItem):
            return None
        return item
