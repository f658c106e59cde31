"""Tabs that Chromium says it closed and did not (`crawler.browser.closing`): a tab closed as
its page refreshes itself is closed all the same, and one that outlives the close gives its
page slot back once, not twice. Real Chromium, a site on 127.0.0.1 whose page refreshes itself
at once (a hostile listing can do this on purpose)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from crawler.browser.closing import close_tab
from crawler.browser.tabs import TabPool, TabSlots
from tests.helpers import send, serving

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu"]
REFRESH = b"""<!doctype html><title>moving</title>
<meta http-equiv="refresh" content="0; URL='/arrived'"><p>moving on</p>"""
ARRIVED = b"<!doctype html><title>arrived</title><p>arrived</p>"
TRIES = 20


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        # the tab may be closed while its page comes
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            send(self, 200, REFRESH if self.path == "/refresh" else ARRIVED,
                 {"Content-Type": "text/html"})


class Stats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str) -> None:
        self.values[key] = self.values.get(key, 0) + 1


@pytest.fixture
def site() -> Iterator[str]:
    with serving(_Site) as host:
        yield f"http://{host}"


async def _arriving(context: Any, site: str) -> Any:
    """A tab whose page is refreshing itself, left as its navigation commits."""
    page = await context.new_page()
    await page.goto(f"{site}/refresh", wait_until="commit")
    with contextlib.suppress(PlaywrightError):  # the refresh took the document away
        await page.evaluate("1")
    return page


def test_a_tab_closed_as_its_page_refreshes_is_closed(site: str, chromium: str) -> None:
    """Playwright's close alone never returns for most of these tabs (26 of 40 here); asked
    again through the browser, every one goes. (Ten tries: were a close to meet the race one
    time in three, ten would all miss it once in 50,000 runs.)"""
    async def scenario() -> Stats:
        stats = Stats()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            context = await browser.new_context()
            for _ in range(TRIES // 2):
                page = await _arriving(context, site)
                assert await close_tab(page, stats=stats, wait=1.0)
                assert page.is_closed()
            assert context.pages == []
            await browser.close()
        return stats

    stats = asyncio.run(scenario())
    assert "evidence/tabs_unclosed" not in stats.values
    # the race was met (else this test no longer tests it: find another trigger)
    assert stats.values.get("evidence/tabs_close_retried", 0) > 0


def test_a_tab_that_will_not_close_gives_its_slot_back_once(site: str, chromium: str) -> None:
    """Without the browser asked again (`attempts=0`), a tab that stays open gives its page
    slot back at once; when it closes at last (its context closed), nothing more is given."""
    async def scenario() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            context = await browser.new_context()
            pool = TabPool(5, Stats())
            slots = pool.slots_for(context, 2)
            stuck = None
            for _ in range(TRIES):
                await slots.acquire()
                page = await _arriving(context, site)
                page.on("close", lambda *_: slots.release())  # as scrapy-playwright's
                if not await close_tab(page, wait=0.5, attempts=0):
                    stuck = page
                    slots.forgive(page)
                    break
            assert stuck is not None, f"no close met the race in {TRIES} tries"
            assert not stuck.is_closed()
            assert slots._value == 2  # both slots free: the stuck tab's was given back
            slots.forgive(stuck)  # forgiving twice gives nothing more
            assert slots._value == 2
            await context.close()  # the stuck tab goes with its context
            assert stuck.is_closed()
            await asyncio.sleep(0)
            assert slots._value == 2  # its close gave nothing back a second time
            await browser.close()

    asyncio.run(scenario())


def test_a_forgiven_slot_is_handed_to_a_request_waiting_for_a_tab() -> None:
    """The slot a stuck tab gives back goes to a request waiting for a tab of the context
    (it opens a new one), as a closed tab's would."""
    class Tab:
        closed = False

        def is_closed(self) -> bool:
            return self.closed

    async def scenario() -> None:
        async def nothing_idle() -> bool:
            return False

        slots = TabSlots(1, nothing_idle)
        await slots.acquire()
        handed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        slots.handoff.append(handed)
        tab = Tab()
        slots.forgive(tab)
        assert handed.done() and handed.result() is None
        assert not slots.locked()
        await slots.acquire()  # the new tab's slot
        other = Tab()
        other.closed = True
        slots.release()  # another tab closes: its slot comes back (the stuck one is open)
        assert slots._value == 1
        await slots.acquire()
        tab.closed = True
        slots.release()  # the stuck tab's close: already given back
        assert slots._value == 0

    asyncio.run(scenario())
