"""scrapy-playwright's download handler, without a Python route on pages that need none.

scrapy-playwright puts `page.route("**")` on every page it opens, so that it can change the
method, body and headers of the page's requests. Routing sends every request of the page
(every image, script and XHR) from Chromium through the Playwright driver to Python and back,
and Playwright turns the browser's cache off for routed pages. markwatch opens its pages with
plain GETs and the browser's own headers (`PLAYWRIGHT_PROCESS_REQUEST_HEADERS = None`), tags
a capture's requests inside the browser (`crawler.recording.headers`), and needs none of it:
measured here, the route cost about 0.1 CPU-second per capture, a quarter of the whole
capture (docs/performance.md). This handler skips it for such requests and keeps
scrapy-playwright's behaviour for any request that does need it (another method, a body,
`PLAYWRIGHT_ABORT_REQUEST`, `PLAYWRIGHT_PROCESS_REQUEST_HEADERS`, a page passed in).
"""

from __future__ import annotations

import logging

from playwright.async_api import Page
from scrapy import Request, Spider
from scrapy.http import Response
from scrapy_playwright import _utils as sp_utils
from scrapy_playwright.handler import DEFAULT_CONTEXT_NAME, ScrapyPlaywrightDownloadHandler

logger = logging.getLogger(__name__)

_PARENT_HOOKS = ("_download_request_with_retry", "_download_request_with_page", "_create_page")
_UTILS = ("_attach_page_event_handlers", "_maybe_execute_page_init_callback")
SUPPORTED = all(hasattr(ScrapyPlaywrightDownloadHandler, name) for name in _PARENT_HOOKS) and all(
    hasattr(sp_utils, name) for name in _UTILS)
"""Whether the installed scrapy-playwright has the internals this handler builds on; when it
does not, every request takes scrapy-playwright's own (routed) path."""


class MarkwatchPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """`ScrapyPlaywrightDownloadHandler` that opens unrouted pages for plain GET requests."""

    def needs_route(self, request: Request) -> bool:
        """Whether scrapy-playwright's route is needed to send `request` as Scrapy built it."""
        return (not SUPPORTED or request.method.upper() != "GET" or bool(request.body)
                or self.abort_request is not None
                or self.process_request_headers is not None
                or isinstance(request.meta.get("playwright_page"), Page))

    async def _download_request_with_retry(self, request: Request, spider: Spider) -> Response:
        if self.needs_route(request):
            return await super()._download_request_with_retry(request, spider)
        self.stats.inc_value("playwright/page_count/unrouted")
        page = await self._create_page(request=request, spider=spider)
        context_name = request.meta.setdefault("playwright_context", DEFAULT_CONTEXT_NAME)
        sp_utils._attach_page_event_handlers(
            page=page, request=request, spider=spider, context_name=context_name)
        await sp_utils._maybe_execute_page_init_callback(
            page=page, request=request, context_name=context_name, spider=spider)
        try:
            return await self._download_request_with_page(request, page, spider)
        except Exception:
            if not request.meta.get("playwright_include_page") and not page.is_closed():
                await page.close()
                self.stats.inc_value("playwright/page_count/closed")
            raise
