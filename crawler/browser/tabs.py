"""Browser tabs reused from one capture to the next (`EVIDENCE_TAB_CAPTURES`).

Opening a tab costs Chromium and the Playwright driver more than loading a listing into it:
a new target, its renderer frame, and a few dozen DevTools calls to set it up. Measured here
on a bare loop, a tab per page cost about 0.29 CPU-seconds per page and a reused tab 0.20.
So a capture's tab is kept, once the capture is over, for the next capture in the same browser
context, up to `EVIDENCE_TAB_CAPTURES` captures; then it is closed and a fresh one opened.

Between two captures the tab is emptied: it is taken to `about:blank` first, so the old
document is unloaded (its timers stop, and anything it sends on the way out carries the old
capture's tag and is refused by the proxy, never recorded into the next capture) and its
viewport is put back to the configured size (lazy loading grows it). A tab is kept only after
a capture that ended cleanly, on a page recorded through the proxy (the proxy counts the
page's requests, so no per-capture listener is left on the tab), in a context that is not
retired. Playwright launches Chromium with the back-forward cache off, so a reused tab holds
no earlier document. What a site keeps per tab (`sessionStorage`, history)
lasts for a tab's captures, as cookies and local storage already last for a context's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from playwright.async_api import Error as PlaywrightError

from crawler.browser.closing import close_tab
from crawler.config import DEFAULT_TAB_CAPTURES

logger = logging.getLogger(__name__)

TAB_META = "markwatch_tab_reusable"
"""True on a request whose tab may be kept for a later capture (set by the download handler)."""


class TabPool:
    """Idle tabs per browser context, and how many captures each tab has served."""

    def __init__(self, captures_per_tab: int = DEFAULT_TAB_CAPTURES, stats: Any = None) -> None:
        if captures_per_tab < 1:
            raise ValueError("captures_per_tab must be at least 1")
        self.captures_per_tab = captures_per_tab
        self.stats = stats
        self._slots: weakref.WeakKeyDictionary[Any, TabSlots] = weakref.WeakKeyDictionary()
        self._idle: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
        self._served: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._viewport: weakref.WeakKeyDictionary[Any, dict[str, int] | None] = (
            weakref.WeakKeyDictionary())
        self._broken: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def enabled(self) -> bool:
        return self.captures_per_tab > 1

    def slots_for(self, context: Any, pages: int) -> TabSlots:
        """The page slots of a new browser context (`pages` at most open at once)."""
        ref = weakref.ref(context)  # a slot table must not keep its context alive
        slots = TabSlots(pages, lambda: self.close_one_idle(ref()))
        self._slots[context] = slots
        return slots

    def wanted(self, context: Any) -> bool:
        """Whether a request is waiting for a page slot of `context`: a finished tab is then
        closed rather than kept, since an idle tab holds its slot."""
        slots = self._slots.get(context)
        return slots is not None and slots.waiting > 0

    def opened(self, page: Any) -> None:
        """A new tab: note its viewport (to put it back) and watch for a renderer crash."""
        self._served[page] = 0
        size = page.viewport_size
        self._viewport[page] = dict(size) if size else None
        page.on("crash", lambda *_: self._broken.add(page))

    def take(self, context: Any) -> Any | None:
        """An idle tab of `context`, or None. The tab keeps the context slot it held."""
        idle = self._idle.get(context)
        while idle:
            page = idle.pop()
            if not page.is_closed() and page not in self._broken:
                self._reused()
                return page
        return None

    async def wait(self, context: Any) -> Any | None:
        """An idle tab of `context`, or, when every page slot of the context is taken, the
        next tab a finished capture gives back; None when a slot is free (open a new tab)."""
        page = self.take(context)
        slots = self._slots.get(context)
        if page is not None or slots is None or not slots.locked():
            return page
        handed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        slots.handoff.append(handed)
        try:
            page = await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                slots.wake(handed.result())  # what was handed to this request goes on
            raise
        if page is not None:
            self._reused()
        return page

    def _reused(self) -> None:
        if self.stats is not None:
            self.stats.inc_value("evidence/tabs_reused")

    def describe(self) -> str:
        """Each browser context's page slots and idle tabs, as text (`StatusDump`)."""
        lines = []
        for context, slots in list(self._slots.items()):
            lines.append(f"  context {id(context):#x}: free slots {slots._value}, "
                         f"waiting to open a tab {slots.waiting}, waiting for a tab "
                         f"{sum(not f.done() for f in slots.handoff)}, "
                         f"idle tabs {self.idle_count(context)}")
        return "\n".join(lines) or "  none"

    def idle_count(self, context: Any) -> int:
        return len(self._idle.get(context) or ())

    async def give_back(self, page: Any, *, reusable: bool) -> None:
        """The capture on `page` is over: keep the tab for the next one, or close it.

        Closed instead when the capture did not end cleanly (`reusable` False), the tab has
        served its captures or crashed, or a request is waiting for a page slot of its
        context (see `wanted`)."""
        served = self._served.get(page, 0) + 1
        self._served[page] = served
        # only in a context whose page slots are this pool's: elsewhere an idle tab would
        # hold a slot that nobody could take back
        keep = (reusable and self.enabled and served < self.captures_per_tab
                and not page.is_closed() and page not in self._broken
                and page.context in self._slots)
        if keep:
            try:
                await self._empty(page)
            except PlaywrightError as exc:
                logger.debug("tab not reusable: %s", exc)
                keep = False
        # asked after emptying, with no await before the tab is handed on or goes idle: a
        # request that began waiting meanwhile is seen here
        slots = self._slots.get(page.context)
        if keep and slots is not None and slots.wake(page):
            return  # straight to a request waiting for a tab of this context
        if keep and self.wanted(page.context):
            keep = False
        if not keep:
            await self.close(page)
            return
        self._idle.setdefault(page.context, []).append(page)

    async def close(self, page: Any) -> None:
        """Close a tab (`crawler.browser.closing.close_tab`); one that will not close gives
        its page slot back without it."""
        if await close_tab(page, stats=self.stats):
            return
        slots = self._slots.get(page.context)
        if slots is not None:
            slots.forgive(page)

    async def _empty(self, page: Any) -> None:
        # to the load of `about:blank`, not its commit: a tab closed while its navigation
        # commits may never close (crawler.browser.closing), and the next capture's page
        # would otherwise meet the blank page's navigation still under way
        await page.goto("about:blank", wait_until="load")
        viewport = self._viewport.get(page)
        if viewport and page.viewport_size != viewport:
            await page.set_viewport_size(viewport)

    async def activate(self, page: Any) -> None:
        """Make a reused tab the active one, as a newly opened tab is. Chromium draws frames
        for a tab that is not active more slowly: measured with two captures at a time, a
        capture's animation-frame waits and its screenshot took three times as long in a
        reused tab left inactive (0.155 against 0.053 s, 0.214 against 0.076 s)."""
        with contextlib.suppress(PlaywrightError):
            await page.bring_to_front()

    async def close_one_idle(self, context: Any) -> bool:
        """Close one idle tab of `context` (its slot is given back); False if it has none."""
        idle = self._idle.get(context) if context is not None else None
        if not idle:
            return False
        page = idle.pop()
        await self.close(page)
        return True

    async def close_idle(self, context: Any) -> None:
        """Close the idle tabs of `context` (it is retired, or the crawl is over)."""
        for page in self._idle.pop(context, []):
            await self.close(page)


class TabSlots(asyncio.Semaphore):
    """A browser context's page slots (scrapy-playwright's per-context semaphore, bounded by
    `PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`), aware that idle tabs hold slots.

    Requests that may reuse a tab wait in `handoff` (`TabPool.wait`): a finished capture's
    tab goes to the first of them, and a slot given back by a closed tab wakes one to open a
    new tab. A request that opens a new tab in any case (`acquire`) first closes idle tabs of
    the context (each close gives a slot back) and only then waits; while one waits
    (`waiting`), a finished tab nobody is handed is closed rather than kept."""

    def __init__(self, value: int, evict: Callable[[], Awaitable[bool]]) -> None:
        super().__init__(value)
        self.evict = evict
        self.waiting = 0
        self.handoff: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._forgiven: weakref.WeakSet[Any] = weakref.WeakSet()

    async def acquire(self) -> Literal[True]:
        while self.locked() and await self.evict():
            pass
        self.waiting += 1
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1

    def release(self) -> None:
        for page in list(self._forgiven):
            if page.is_closed():  # a forgiven tab closed at last: its slot was given back
                self._forgiven.discard(page)
                return
        super().release()
        self.wake(None)

    def forgive(self, page: Any) -> None:
        """`page` would not close (`crawler.browser.closing`): its slot is given back now, and
        the release its close would bring, should it ever close, is not counted again."""
        if page in self._forgiven or page.is_closed():
            return
        self._forgiven.add(page)
        super().release()
        self.wake(None)

    def wake(self, page: Any) -> bool:
        """Hand `page` (or None: a free slot) to the first request waiting in `handoff`."""
        while self.handoff:
            waiter = self.handoff.popleft()
            if not waiter.done():
                waiter.set_result(page)
                return True
        return False
