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

On those unrouted pages it also lets go of scrapy-playwright's listeners for every request and
response of the page (its `playwright/request_count` and `playwright/response_count` stats,
and the navigation's download watch, which stays attached after `goto` and asks the browser
for the headers of every later response). A page with no such listener is not sent those
events by Playwright at all; the recording proxy counts the exchanges instead
(`evidence/exchanges`).

A request marked `NAVIGATION_ONLY_META` (every rendered capture: the capture reads the page
itself once its steps are done) gets the navigation alone: the response carries the
navigation's status and headers and an empty body, without scrapy-playwright's read of the DOM
as it is at the load event, its security-details and server-address calls, and its download
watch (a navigation that turns into a download fails the request: a download is not a page to
capture). Six driver round trips fewer per capture, and one whole DOM serialised, sent through
the driver and decoded the less (1-2 MB on real marketplace pages).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from typing import Any

from playwright.async_api import Page
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy_playwright import _utils as sp_utils
from scrapy_playwright.handler import DEFAULT_CONTEXT_NAME, ScrapyPlaywrightDownloadHandler

from crawler.browser.tabs import TAB_META, TabPool
from crawler.config import MarkwatchConfig
from crawler.extensions.timeline import note
from crawler.sandbox import log_sandbox

logger = logging.getLogger(__name__)
_UNROUTED_META = "_markwatch_unrouted"
NAVIGATION_ONLY_META = "markwatch_navigation_only"
"""Request meta: the callback reads the page itself; the response needs no body."""

_PARENT_HOOKS = ("_download_request_with_retry", "_download_request_with_page", "_create_page",
                 "_create_browser_context")
_UTILS = ("_attach_page_event_handlers", "_maybe_execute_page_init_callback",
          "_set_redirect_meta")
SUPPORTED = all(hasattr(ScrapyPlaywrightDownloadHandler, name) for name in _PARENT_HOOKS) and all(
    hasattr(sp_utils, name) for name in _UTILS)
"""Whether the installed scrapy-playwright has the internals this handler builds on; when it
does not, every request takes scrapy-playwright's own (routed) path."""
_START_HOOKS = ("_launch", "_close", "_maybe_launch_browser")


def has_start_hooks(handler_class: type) -> bool:
    """Whether scrapy-playwright's handler starts and stops its driver and browser through the
    coroutines the early start builds on (`EVIDENCE_BROWSER_EARLY`; scrapy-playwright 0.0.43
    to 0.0.48 do)."""
    return all(inspect.iscoroutinefunction(getattr(handler_class, name, None))
               for name in _START_HOOKS)


EARLY_SUPPORTED = has_start_hooks(ScrapyPlaywrightDownloadHandler)
"""When False, `EVIDENCE_BROWSER_EARLY` is ignored (with a warning) and scrapy-playwright
starts its driver and browser its own way."""


class MarkwatchPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """`ScrapyPlaywrightDownloadHandler` that opens unrouted pages for plain GET requests, in
    tabs reused from earlier captures where it can (`crawler.browser.tabs`)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        log_sandbox(crawler.settings)
        # one pool per crawl: Scrapy makes a handler for each scheme (http, https)
        tabs = getattr(crawler, "markwatch_tabs", None)
        if not isinstance(tabs, TabPool):
            captures = MarkwatchConfig.from_settings(crawler.settings).tab_captures
            tabs = TabPool(captures, crawler.stats)
            crawler.markwatch_tabs = tabs  # type: ignore[attr-defined]
        self.tabs = tabs
        self.crawler = crawler
        self.early = MarkwatchConfig.from_settings(crawler.settings).browser_early
        if self.early and not EARLY_SUPPORTED:
            logger.warning("EVIDENCE_BROWSER_EARLY is ignored: this scrapy-playwright does not "
                           "start its browser through %s", ", ".join(_START_HOOKS))
            self.early = False
        self._starting: asyncio.Future[None] | None = None
        self._start_lock = asyncio.Lock()
        self._started = False

    async def _launch(self) -> None:
        """At the engine's start: scrapy-playwright starts the Playwright driver there, and the
        engine waits for it; Chromium follows on the first rendered request, which waits for
        it in turn. With `EVIDENCE_BROWSER_EARLY` the handler of the scheme the spider's first
        rendered pages use starts both in the background at once, while Python fetches
        robots.txt and schedules the first requests (the first request that needs the browser
        waits for them: `_ready`); the handler of another scheme (Scrapy makes one for http
        and one for https) starts its driver only if a request ever needs it."""
        wanted, mine = _rendered_schemes(self.crawler), _schemes_of(self, self.crawler)
        if (not self.early or not wanted or mine is None  # a spider that cannot say (a
                or self.config.startup_context_kwargs):  # frontier worker): as before
            await self._start()
            return
        if wanted & mine:
            self._starting = asyncio.ensure_future(self._start_early())
            self._starting.add_done_callback(_launch_done)

    async def _start(self) -> None:
        """scrapy-playwright's start (the Playwright driver), once, on the crawl's timeline."""
        async with self._start_lock:
            if self._started:
                return
            note(self.crawler, "driver_starting")
            await super()._launch()
            self._started = True
            note(self.crawler, "driver_started")

    async def _start_early(self) -> None:
        await self._start()
        await self._maybe_launch_browser()

    async def _ready(self) -> None:
        """Wait for the early start, if any; what failed there is tried again here (and fails
        the request with its reason). Nothing to wait for once the driver is up (the browser
        launch has its own lock)."""
        if self._started or not EARLY_SUPPORTED:  # (without the hooks: started its own way)
            return
        task = self._starting
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(task)  # a cancelled request leaves the launch running
        await self._start()

    async def _close(self) -> None:
        """scrapy-playwright's close, once an early start has finished (no browser is left
        running behind a closed handler)."""
        task = self._starting
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await task
        await super()._close()

    async def _maybe_launch_browser(self) -> None:
        """scrapy-playwright's browser launch, on the crawl's timeline."""
        if hasattr(self, "browser"):
            return
        note(self.crawler, "browser_launching")
        await super()._maybe_launch_browser()
        note(self.crawler, "browser_launched")

    async def _idle_tab(self, context_name: str) -> Page | None:
        """A tab a finished capture left in the context, if any (waiting for one while the
        context's page slots are all taken); None: open a new tab."""
        wrapper = self.context_wrappers.get(context_name)
        page = None if wrapper is None else await self.tabs.wait(wrapper.context)
        if page is not None:
            await self.tabs.activate(page)
        return page

    async def _create_browser_context(self, name: str, context_kwargs: dict | None,
                                      spider: Spider | None = None) -> Any:
        """scrapy-playwright's context, with page slots that know about idle tabs."""
        await self._ready()
        wrapper = await super()._create_browser_context(name, context_kwargs, spider)
        wrapper.semaphore = self.tabs.slots_for(wrapper.context, self.config.max_pages_per_context)
        return wrapper

    async def _get_response_and_download(self, request: Request, page: Page,
                                         spider: Spider) -> Any:
        """scrapy-playwright's navigation; on an unrouted page, its listeners are removed once
        the navigation (or the download it turned into) is over."""
        if not request.meta.get(_UNROUTED_META):
            return await super()._get_response_and_download(request, page, spider)
        added: list[tuple[str, Any]] = []

        def on(event: str, handler: Any) -> None:
            if event == "response":
                handler = _navigation_response_only(page, handler)
            added.append((event, handler))
            Page.on(page, event, handler)  # type: ignore[call-overload]

        page.on = on  # type: ignore[method-assign,assignment]
        try:
            return await super()._get_response_and_download(request, page, spider)
        finally:
            del page.on
            for event, handler in added:
                page.remove_listener(event, handler)

    async def _download_request_with_page(self, request: Request, page: Page,
                                          spider: Spider) -> Response:
        """scrapy-playwright's page download, or for a capture that reads the page itself
        (`NAVIGATION_ONLY_META` on an unrouted page kept for the callback), the navigation
        alone: status and headers, no body."""
        meta = request.meta
        if not (meta.get(NAVIGATION_ONLY_META) and meta.get(_UNROUTED_META)
                and meta.get("playwright_include_page")
                and not meta.get("playwright_page_methods")):
            return await super()._download_request_with_page(request, page, spider)
        meta["playwright_page"] = page  # for the errback too, should `goto` fail
        started = time.time()
        goto_kwargs = dict(meta.get("playwright_page_goto_kwargs") or {})
        goto_kwargs.pop("url", None)
        response = await page.goto(request.url, **goto_kwargs)
        headers, status = Headers(), 200
        if response is not None:
            await sp_utils._set_redirect_meta(request=request, response=response)
            headers = Headers(await response.all_headers())
            headers.pop("Content-Encoding", None)  # the body is not the one sent
            status = response.status
        meta["download_latency"] = time.time() - started
        respcls = responsetypes.from_args(headers=headers, url=page.url)
        return respcls(url=page.url, status=status, headers=headers, body=b"",
                       request=request, flags=["playwright"])

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
        context_name = request.meta.setdefault("playwright_context", DEFAULT_CONTEXT_NAME)
        # a tab is reused only when nothing is attached to it for one request alone
        reusable = self.tabs.enabled and not request.meta.get("playwright_page_event_handlers")
        page = await self._idle_tab(context_name) if reusable else None
        if page is None:
            page = await self._create_page(request=request, spider=spider)
            page.remove_listener("request", self._increment_request_stats)
            page.remove_listener("response", self._increment_response_stats)
            self.tabs.opened(page)
        request.meta[_UNROUTED_META] = True
        request.meta[TAB_META] = reusable
        sp_utils._attach_page_event_handlers(
            page=page, request=request, spider=spider, context_name=context_name)
        await sp_utils._maybe_execute_page_init_callback(
            page=page, request=request, context_name=context_name, spider=spider)
        try:
            return await self._download_request_with_page(request, page, spider)
        except Exception:
            if not request.meta.get("playwright_include_page") and not page.is_closed():
                await self.tabs.close(page)
                self.stats.inc_value("playwright/page_count/closed")
            raise


def _rendered_schemes(crawler: Crawler) -> set[str] | None:
    """The URL schemes of the rendered pages the crawl's spider starts with, if it says."""
    schemes = getattr(getattr(crawler, "spider", None), "rendered_schemes", None)
    return set(schemes()) if callable(schemes) else None


def _schemes_of(handler: Any, crawler: Crawler) -> set[str] | None:
    """The schemes Scrapy's downloader sends to `handler` (None: it cannot be told)."""
    engine = getattr(crawler, "engine", None)
    handlers = getattr(getattr(getattr(engine, "downloader", None), "handlers", None),
                       "_handlers", None)
    if not isinstance(handlers, dict):
        return None
    return {scheme for scheme, h in handlers.items() if h is handler}


def _launch_done(task: asyncio.Future[None]) -> None:
    """The early start's outcome is read (a failure is tried again, and reported, by the first
    request that needs the browser)."""
    if not task.cancelled() and task.exception() is not None:
        logger.debug("early browser start failed: %s", task.exception())


def _navigation_response_only(page: Page, handler: Any) -> Any:
    """scrapy-playwright's navigation `response` listener, kept for the navigation's own
    response: it records the status and headers of a navigation that turns into a download.
    As given, it stays on for every response of the page while `goto` waits for the load
    event, so Playwright sends the page's every response to Python, and the listener asks
    the driver for each one's headers. This wrapper hands it the first main-frame navigation
    response that is not a redirect, then takes itself off, which ends the page's
    subscription to response events."""

    def first_navigation_response(response: Any) -> Any:
        request = response.request
        if (not request.is_navigation_request() or request.frame.parent_frame is not None
                or 300 <= response.status < 400):
            return None
        page.remove_listener("response", first_navigation_response)
        return handler(response)

    return first_navigation_response
