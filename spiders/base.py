"""`MarketplaceSpider`: the crawl every marketplace shares.

For each watch (brand, term) of its marketplace it requests search pages, captures each one as
evidence, follows result links to listings, captures those, and follows pagination, within the
watchlist's `max_pages` and `max_listings`. A spider decides what to request and which page
object (`spiders.pages`) reads a page; the browser steps of a capture are
`crawler.browser.capture`, making the evidence of it (artifacts, WARC, triage) is
`crawler.evidence.assembly`, storing it is the evidence pipeline's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from textwrap import shorten
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from playwright.async_api import Error as PlaywrightError
from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from crawler.browser.capture import (
    CDP_META,
    INFLIGHT_META,
    LIMITS_META,
    RECORDER_META,
    SHELL_FONTS_META,
    CaptureSteps,
    RenderedPage,
    capture_page,
    init_page,
)
from crawler.browser.chromium import HEADLESS_SHELL, browser_build
from crawler.browser.download_handler import NAVIGATION_ONLY_META
from crawler.config import MarkwatchConfig
from crawler.evidence.assembly import CaptureAssembler, unrendered
from crawler.evidence.budget import EvidenceBudget
from crawler.evidence.manifest import CaptureItem, FailureItem, WatchRef
from crawler.exceptions import CaptureError, ConfigError
from crawler.extensions.timeline import note
from crawler.items import Block, SearchResult
from crawler.recording import release_page
from crawler.recording.crawl_dedup import crawl_dedup
from crawler.sandbox import browser_sandbox
from spiders.backoff import BackoffMixin
from spiders.extract import extract_listing
from spiders.extract.search import extract_results
from spiders.extract.sponsored import SPONSORED_META
from spiders.pages import ListingPage, SearchPage, page_class

logger = logging.getLogger(__name__)

WAITING_WILL_NOT_PASS = frozenset({"captcha", "login-wall", "rate-limit"})
"""Blocks a capture stops waiting for its page's content on (`waiting_will_not_pass`)."""


def waiting_will_not_pass(
    make_page: Callable[[str, bytes, int, dict[str, str]], SearchPage | ListingPage],
) -> Callable[[str, str], str | None]:
    """A capture's `CaptureSteps.challenge`: why a page that has not shown its content yet
    never will by waiting (a captcha, sign-in or rate-limit page, as the marketplace's page
    object recognises it), or None. An automatic check (`bot-wall`: a JavaScript challenge
    that lets a browser through after a moment) is waited for."""

    def look(url: str, html: str) -> str | None:
        block = make_page(url, html.encode("utf-8"), 200, {}).block()
        if block is None or block.kind not in WAITING_WILL_NOT_PASS:
            return None
        return f"{block.kind} page ({shorten(block.reason, 200)})"

    return look


@dataclass
class WatchState:
    """Progress of one watch (brand, term) on this marketplace during a run."""

    watch: WatchRef
    msrp: Any = None
    exclude_terms: tuple[str, ...] = ()
    pages: int = 0
    listings: int = 0
    seen: set[str] = field(default_factory=set)


class MarketplaceSpider(BackoffMixin, scrapy.Spider):
    """Base of every marketplace spider. Subclasses give `search_url` and capture steps."""

    name: ClassVar[str] = ""  # type: ignore[misc]
    # Class defaults that a spider instance may override (the recipe spider does).
    render_search: bool = True
    render_listing: bool = True
    first_page: int = 1
    consent_click: str | None = None
    search_wait_for: str | None = None
    listing_wait_for: str | None = None
    increment_pages: bool | None = None
    """Without a next-page link, ask for page+1: None means when the page object has no
    `next_page_url` of its own."""
    handle_httpstatus_list: ClassVar[list[int]] = [401, 403, 404, 410, 429, 503]
    """Statuses the callbacks see (gone pages, bot walls); others stay failures."""
    custom_settings = {
        # 429 is answered by the spider (Retry-After, backoff), not retried at once.
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408],
    }

    config: MarkwatchConfig
    assembler: CaptureAssembler

    def __init__(
        self,
        watchlist: str | None = None,
        brand: str | None = None,
        max_listings: str | int | None = None,
        max_pages: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.watchlist_path = watchlist
        self.brand_filter = tuple(b.strip() for b in (brand or "").split(",") if b.strip())
        self.max_listings_override = int(max_listings) if max_listings else None
        self.max_pages_override = int(max_pages) if max_pages else None
        self._contexts: dict[str, Any] = {}
        """Browser contexts seen by name, to close each once it is retired and idle."""
        self.states: list[WatchState] = []
        self.targets: list[tuple[WatchState, str]] = []
        """Listing pages to capture without a search (re-checks; `crawler.takedown.targets`)."""
        self.max_pages = 1
        self.max_listings = 1

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        # Under `scrapy crawl` (not `markwatch crawl`) nobody has filled in the browser yet.
        options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
        if "executable_path" not in options:
            from crawler.browser.chromium import find_chromium, launch_options

            settings.set("PLAYWRIGHT_LAUNCH_OPTIONS",
                         launch_options(options, find_chromium()), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> MarketplaceSpider:
        spider: MarketplaceSpider = super().from_crawler(crawler, *args, **kwargs)
        if kwargs.get("store"):  # `-a store=URI` (Scrapyd: store=URI): the evidence store
            crawler.settings.set("STORAGE_URI", kwargs["store"], priority="spider")
        spider.config = MarkwatchConfig.from_settings(crawler.settings)
        spider.assembler = CaptureAssembler(spider.name, spider.config,
                                            crawler.settings.getbool("ROBOTSTXT_OBEY"),
                                            lambda: browser_sandbox(crawler.settings),
                                            crawl_dedup(crawler),
                                            browser_build(crawler.settings.getdict(
                                                "PLAYWRIGHT_LAUNCH_OPTIONS").get(
                                                    "executable_path")))
        spider._load_watches(crawler)
        return spider

    # -- subclass hooks ----------------------------------------------------------------------

    def search_url(self, term: str, page: int) -> str:
        """The URL of results page `page` for `term`."""
        raise NotImplementedError

    def search_page(self, url: str, html: bytes, status: int,
                    headers: dict[str, str]) -> SearchPage:
        cls = page_class(self.name, "search")
        assert issubclass(cls, SearchPage)
        return cls(url, html, status, headers)

    def listing_page(self, url: str, html: bytes, status: int,
                     headers: dict[str, str]) -> ListingPage:
        cls = page_class(self.name, "listing")
        assert issubclass(cls, ListingPage)
        return cls(url, html, status, headers)

    def challenge_of(self, kind: str) -> Callable[[str, str], str | None]:
        """`CaptureSteps.challenge` for this marketplace's pages of `kind` (see
        `waiting_will_not_pass`)."""
        return waiting_will_not_pass(self.search_page if kind == "search" else self.listing_page)

    # -- watches -----------------------------------------------------------------------------

    def _load_watches(self, crawler: Crawler) -> None:
        from crawler.registry import known_marketplaces
        from crawler.watchlist import load_watchlist

        path = self.watchlist_path or crawler.settings.get("MARKWATCH_WATCHLIST")
        if not path:
            raise ConfigError(f"spider {self.name!r} needs a watchlist (-a watchlist=PATH)")
        watchlist = load_watchlist(path, known_marketplaces(crawler.settings))
        self.watchlist = watchlist
        settings = watchlist.settings
        if settings.egress_allow and not crawler.settings.frozen:  # `scrapy crawl`, Scrapyd
            allow = [*crawler.settings.getlist("EGRESS_ALLOW"), *settings.egress_allow]
            self.logger.warning("egress: %s allows %s beyond the public internet", path,
                                ", ".join(settings.egress_allow))
            crawler.settings.set("EGRESS_ALLOW", list(dict.fromkeys(allow)), priority="spider")
        self.max_pages = self.max_pages_override or settings.max_pages
        self.max_listings = (
            self.max_listings_override
            or crawler.settings.getint("MARKWATCH_MAX_LISTINGS")
            or settings.max_listings
        )
        msrp_by_brand = {b.name: b.msrp for b in watchlist.brands}
        if crawler.settings.get("MARKWATCH_TARGETS"):  # re-check / capture: no search
            self._load_targets(crawler.settings["MARKWATCH_TARGETS"], msrp_by_brand)
            return
        for watch in watchlist.watches(marketplaces=[self.name], brands=self.brand_filter):
            ref = WatchRef(watch.brand, watch.term, watch.marketplace, watch.case)
            self.states.append(WatchState(ref, msrp_by_brand.get(watch.brand),
                                          tuple(watch.exclude_terms)))

    def _load_targets(self, path: str, msrp_by_brand: dict[str, Any]) -> None:
        """Known listings to capture directly (`crawler.takedown.targets`)."""
        from crawler.takedown.targets import read_targets

        name = getattr(self, "marketplace", None) or self.name
        for target in read_targets(path, name):
            ref = WatchRef(target.brand, target.term, target.marketplace, target.case)
            state = WatchState(ref, msrp_by_brand.get(target.brand))
            self.targets.append((state, target.url))

    # -- requests ----------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        for state, url in self.targets:
            yield self._listing_request(state, url).replace(dont_filter=True)
        for state in self.states:
            yield self._search_request(state, self.first_page, self.search_url(
                state.watch.term, self.first_page))

    def rendered_schemes(self) -> set[str]:
        """The URL schemes of the rendered pages this spider starts with (the download
        handler of such a scheme starts the browser early: `crawler.browser.download_handler`)."""
        urls = [url for _, url in self.targets] if self.render_listing else []
        if self.render_search:
            urls += [self.search_url(s.watch.term, self.first_page) for s in self.states]
        return {urlsplit(url).scheme for url in urls}

    def _meta(self, state: WatchState, kind: str, render: bool, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"watch_state": state, "page_kind": kind, **extra}
        if render:
            meta.update(
                playwright=True,
                playwright_include_page=True,
                playwright_page_init_callback=init_page,
                playwright_context_kwargs={
                    "viewport": self.config.viewport,
                    "java_script_enabled": True,
                },
            )
            meta[LIMITS_META] = (self.config.limits, self.config.clock)
            meta[SHELL_FONTS_META] = self.assembler.build == HEADLESS_SHELL
            meta[NAVIGATION_ONLY_META] = True  # the capture reads the page after its steps
        return meta

    def _search_request(self, state: WatchState, page: int, url: str) -> Request:
        return Request(
            url,
            callback=self.parse_search,
            errback=self.on_error,
            meta=self._meta(state, "search", self.render_search, search_page=page),
            dont_filter=True,
        )

    def rebuild_request(self, request: Request) -> Request:
        """A fresh request for the same page: no state of the earlier fetch carried over."""
        state: WatchState = request.meta["watch_state"]
        if request.meta.get("page_kind") == "search":
            return self._search_request(state, request.meta["search_page"], request.url)
        return self._listing_request(state, request.url, bool(
            request.meta.get(SPONSORED_META))).replace(dont_filter=True)

    def _listing_request(self, state: WatchState, url: str, sponsored: bool = False
                         ) -> Request:
        return Request(
            url,
            callback=self.parse_listing,
            errback=self.on_error,
            meta=self._meta(state, "listing", self.render_listing,
                            **({SPONSORED_META: True} if sponsored else {})),
        )

    # -- callbacks ---------------------------------------------------------------------------

    async def parse_search(self, response: Response) -> AsyncIterator[Any]:
        state: WatchState = response.meta["watch_state"]
        page_no: int = response.meta["search_page"]
        if again := self.retry_after_request(response):
            await self._end_page(response.meta.get("playwright_page"), response.meta)
            yield again
            return
        state.pages += 1
        steps = CaptureSteps(self.consent_click, self.search_wait_for,
                             lazy_load=self.config.lazy_load,
                             png_speed=self.config.screenshot_format != "png-compact",
                             challenge=self.challenge_of("search"))
        rendered = await self._render(response, steps)
        if isinstance(rendered, FailureItem):
            yield rendered
            return
        page = self.search_page(rendered_url(response, rendered), body_of(response, rendered),
                                response.status, headers_of(response))
        block = page.block() or status_block(response.status)
        if block is not None:
            self.note_block(response, block)
            yield await self._capture(response, rendered, "blocked", block=block)
            self.stop_if_exhausted()
            return
        if response.status >= 400:
            yield self._failure(response.url, response.meta, f"HTTP {response.status}")
            return
        self.note_passed(response)
        results = extract_results(page).results  # page object, ItemList or repeated cards
        # the listings (and the next results page) are asked for before this page's evidence
        # is assembled (WARC, screenshot encoding: CPU that can run while they render), so the
        # browser's page slots are not left empty meanwhile; the capture is made all the same
        with self._assembling(response, rendered):  # its bytes count while the listings go
            for request in self._follow(state, page, page_no, results):
                yield request
            item = await self._capture(response, rendered, "search", results=results,
                                       search_page=page_no)
        yield item

    @contextlib.contextmanager
    def _assembling(self, response: Response, rendered: RenderedPage) -> Iterator[None]:
        """Count the rendered page's bytes in the evidence budget (`crawler.evidence.budget`)
        while its capture is assembled: the requests it leads to are asked for meanwhile, and
        the budget holds them back when what is not yet stored is already too much. The
        evidence pipeline counts the capture itself once it is taken in."""
        settings = self.crawler.settings
        budget = (EvidenceBudget.for_crawler(self.crawler)
                  if settings.getbool("EVIDENCE_ENABLED") else None)
        if budget is None or not budget.max_bytes:
            yield
            return
        key = f"assembling:{id(rendered)}"
        budget.hold(key, len(rendered.dom) + len(rendered.screenshot) + len(response.body)
                    + sum(len(data) for _, _, data in rendered.images))
        try:
            yield
        finally:
            budget.release(key)

    def _follow(self, state: WatchState, page: SearchPage, page_no: int,
                results: list[SearchResult]) -> list[Request]:
        """The requests a results page leads to: its new listings, within `max_listings`,
        then the next results page, within `max_pages` and while pages bring new results."""
        out: list[Request] = []
        new = 0
        for result in results:
            if result.placeholder or result.url in state.seen or self._excluded(state, result):
                continue
            state.seen.add(result.url)
            new += 1
            if state.listings >= self.max_listings:
                break
            state.listings += 1
            out.append(self._listing_request(state, result.url, result.sponsored))
        if state.listings >= self.max_listings or state.pages >= self.max_pages or not new:
            return out
        next_url = page.next_page_url()
        if next_url is None and self._increments(page):
            next_url = self.search_url(state.watch.term, page_no + 1)
        if next_url:
            out.append(self._search_request(state, page_no + 1, next_url))
        return out

    @staticmethod
    def _excluded(state: WatchState, result: SearchResult) -> bool:
        title = (result.title or "").lower()
        return any(term.lower() in title for term in state.exclude_terms)

    def _increments(self, page: SearchPage) -> bool:
        if self.increment_pages is not None:
            return self.increment_pages
        return type(page).next_page_url is SearchPage.next_page_url

    async def parse_listing(self, response: Response) -> AsyncIterator[Any]:
        if again := self.retry_after_request(response):
            await self._end_page(response.meta.get("playwright_page"), response.meta)
            yield again
            return
        steps = CaptureSteps(self.consent_click, self.listing_wait_for,
                             lazy_load=self.config.lazy_load,
                             png_speed=self.config.screenshot_format != "png-compact",
                             challenge=self.challenge_of("listing"))
        rendered = await self._render(response, steps)
        if isinstance(rendered, FailureItem):
            yield rendered
            return
        page = self.listing_page(rendered_url(response, rendered), body_of(response, rendered),
                                 response.status, headers_of(response))
        block = page.block() or status_block(response.status)
        if block is not None:
            self.note_block(response, block)
            yield await self._capture(response, rendered, "blocked", block=block)
            self.stop_if_exhausted()
            return
        if response.status >= 400 and response.status not in GONE_STATUSES:
            yield self._failure(response.url, response.meta, f"HTTP {response.status}")
            return
        self.note_passed(response)
        listing = extract_listing(page).listing  # every layer, each field's source recorded
        listing.sponsored = bool(response.meta.get(SPONSORED_META))
        kind = "listing" if listing.available and response.status < 400 else "gone"
        yield await self._capture(response, rendered, kind, listing=listing)

    async def on_error(self, failure: Failure) -> AsyncIterator[FailureItem]:
        request = failure.request  # type: ignore[attr-defined]
        hit = await self._end_page(request.meta.get("playwright_page"), request.meta)
        hit += request.meta.get("markwatch_limits_hit", [])
        reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        if hit:
            reason += f" (limits hit: {'; '.join(hit)})"
        self.logger.warning("could not fetch %s: %s", request.url, reason)
        self.logger.debug("%s", failure.getTraceback())
        yield self._failure(request.url, request.meta, reason)

    # -- capture -----------------------------------------------------------------------------

    async def _render(self, response: Response, steps: CaptureSteps) -> RenderedPage | FailureItem:
        page = response.meta.get("playwright_page")
        if page is None:
            return unrendered(response)
        captured = False
        try:
            rendered = await capture_page(page, response.meta.get(RECORDER_META), steps,
                                          self.config.limits, response.meta.get(INFLIGHT_META),
                                          response.meta.get(CDP_META))
            if rendered.recording is not None:
                self.crawler.stats.inc_value("evidence/exchanges",
                                             len(rendered.recording.exchanges))
                for refused in rendered.recording.refused:  # egress policy (crawler.egress)
                    self.crawler.stats.inc_value("egress/refused")
                    self.crawler.stats.inc_value(f"egress/refused/{refused['rule']}")
            note(self.crawler, "capture_steps", url=response.url, **rendered.step_seconds)
            if rendered.screenshot_attempts > 1:  # a frame not wholly drawn, taken again
                self.crawler.stats.inc_value("evidence/screenshots_retaken")
            captured = not rendered.limits_hit  # a page that hit a limit gets a fresh tab
            refused = refused_navigation(response, rendered)
            if refused is not None:  # the page shown is the proxy's refusal: not evidence
                self.logger.warning("capture of %s failed: %s", response.url, refused)
                return self._failure(response.url, response.meta, refused)
            return rendered
        except CaptureError as exc:
            self.logger.warning("capture of %s failed: %s", response.url, exc)
            return self._failure(response.url, response.meta, str(exc))
        finally:
            await self._end_page(page, response.meta, reusable=captured)
            note(self.crawler, "rendered", kind=response.meta.get("page_kind", "other"),
                 url=response.request.url if response.request else response.url)

    async def _end_page(self, page: Any, meta: dict[str, Any], reusable: bool = False
                        ) -> list[str]:
        """Close a request's page (if it has one) and its recording, give back its context
        slot, and close the context if it is retired and owes no request a page (pages are
        closed before their context); returns the recording caps hit. After a capture that
        ended cleanly (`reusable`) the page's tab may be kept for a later capture in the same
        context (`crawler.browser.tabs`)."""
        name = meta.get("playwright_context")
        if page is not None and name:
            self._contexts[name] = page.context
        recycler = getattr(self.crawler, "markwatch_contexts", None)
        tabs = getattr(self.crawler, "markwatch_tabs", None)
        if recycler is not None and name and recycler.retired(name):
            reusable = False  # the context takes no new page: its tabs go with it
        hit = await release_page(page, meta, tabs, reusable)
        if recycler is None:
            return hit
        recycler.finish(meta)
        for retired in [n for n in self._contexts if recycler.closable(n)]:
            context = self._contexts[retired]
            if tabs is not None:
                await tabs.close_idle(context)
            if context.pages:
                continue
            del self._contexts[retired]
            self.crawler.stats.inc_value("evidence/contexts_recycled")
            with contextlib.suppress(PlaywrightError):
                await context.close()
        return hit

    def _failure(self, url: str, meta: dict[str, Any], reason: str) -> FailureItem:
        state: WatchState = meta["watch_state"]
        return FailureItem(url, meta.get("page_kind", "?"), state.watch, reason,
                           self.config.clock.now())

    async def _capture(self, response: Response, rendered: RenderedPage, kind: str,
                       **found: Any) -> CaptureItem:
        """The evidence of this page (`crawler.evidence.assembly`), for the request's watch."""
        state: WatchState = response.meta["watch_state"]
        item = await self.assembler.capture(response, rendered, kind, state.watch, state.msrp,
                                            **found)
        note(self.crawler, "assembled", kind=kind, url=item.request_url)
        return item

GONE_STATUSES = (404, 410)


def status_block(status: int) -> Block | None:
    """A refusal by HTTP status alone, when the page itself names no known block."""
    if status == 429:
        return Block("rate-limit", "HTTP 429 Too Many Requests")
    if status == 401:
        return Block("login-wall", "HTTP 401 Unauthorized")
    if status in (403, 503):
        return Block("bot-wall", f"HTTP {status} refusal without a recognised challenge page")
    return None


def refused_navigation(response: Response, rendered: RenderedPage) -> str | None:
    """Why the page itself (not one of its resources) was refused by the recording proxy's
    egress policy, if it was (a redirect or refresh to a forbidden destination)."""
    if (response.headers.get("X-Markwatch-Proxy") or b"") != b"refused" and not (
            rendered.recording is not None
            and any(r["url"] == rendered.final_url for r in rendered.recording.refused)):
        return None
    session = rendered.recording
    for entry in session.refused if session is not None else []:
        if entry["url"] == rendered.final_url:
            return f"egress refused ({entry['rule']}): {entry['url']}"
    return f"egress refused: {rendered.final_url} (the recording proxy refused the page)"


def rendered_url(response: Response, rendered: RenderedPage) -> str:
    return rendered.final_url or response.url


def body_of(response: Response, rendered: RenderedPage) -> bytes:
    return rendered.dom or response.body


def headers_of(response: Response) -> dict[str, str]:
    return {
        k.decode("latin-1"): b", ".join(v).decode("latin-1")
        for k, v in response.headers.items()
    }

