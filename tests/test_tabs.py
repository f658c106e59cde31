"""Tabs reused from one capture to the next (`crawler.browser.tabs`): a reused tab records
nothing of the page it showed before, a finished tab goes to a request waiting for one, and the
setting is checked. Real Chromium through the recording proxy, a site on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from playwright.async_api import async_playwright

from crawler.browser.tabs import DEFAULT_TAB_CAPTURES, TabPool
from crawler.config import CaptureLimits
from crawler.exceptions import ConfigError
from crawler.recording import RecordingProxy
from crawler.recording.headers import tag_page
from tests.helpers import project_config, serving

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu"]

# Page A keeps asking for more while it is open and says goodbye when it is left: all of it
# belongs to capture A, none of it to the capture the tab serves next (page B is slow to
# come, so page A, were it still open, would go on asking under B's tag meanwhile).
PAGE_A = b"""<!doctype html><title>A</title><p>page a</p>
<script>
addEventListener("pagehide", () => navigator.sendBeacon("/beacon-from-a", "bye"));
setInterval(() => fetch("/poll-from-a"), 20);
</script>"""
PAGE_B = b"<!doctype html><title>B</title><p>page b</p>"


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        if self.path == "/b":
            time.sleep(0.3)  # the next page is slow to come: the old one would run meanwhile
        body = PAGE_A if self.path == "/a" else PAGE_B if self.path == "/b" else b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if self.path in ("/a", "/b")
                         else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def site() -> Iterator[str]:
    with serving(_Site) as host:
        yield f"http://{host}"


def test_a_reused_tab_records_nothing_its_earlier_page_sends(site: str, chromium: str) -> None:
    async def scenario() -> tuple[list[str], list[str], dict[str, int] | None]:
        with RecordingProxy() as proxy:
            a = await proxy.open_tagged_session("cap-a", CaptureLimits())
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
                context = await browser.new_context(
                    proxy={"server": f"http://127.0.0.1:{a.port}"},
                    viewport={"width": 800, "height": 600})
                pool = TabPool(5)
                pool.slots_for(context, 4)
                page = await context.new_page()
                pool.opened(page)
                await tag_page(page, "cap-a")
                await page.goto(f"{site}/a")
                await page.set_viewport_size({"width": 800, "height": 2000})  # as lazy loading
                await asyncio.sleep(0.2)
                await proxy.close_session(a)
                await pool.give_back(page, reusable=True)
                again = pool.take(context)
                assert again is page
                viewport = again.viewport_size
                b = await proxy.open_tagged_session("cap-b", CaptureLimits())
                await tag_page(again, "cap-b")
                await again.goto(f"{site}/b")
                await asyncio.sleep(0.3)
                await proxy.close_session(b)
                await browser.close()
            return [x.url for x in a.exchanges], [x.url for x in b.exchanges], viewport

    recorded_a, recorded_b, viewport = asyncio.run(scenario())
    assert f"{site}/a" in recorded_a and any("/poll-from-a" in u for u in recorded_a)
    assert f"{site}/b" in recorded_b
    assert not [u for u in recorded_b if "-from-a" in u]
    assert viewport == {"width": 800, "height": 600}


def test_a_finished_tab_goes_to_the_request_waiting_for_one(chromium: str) -> None:
    async def scenario() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            context = await browser.new_context()
            pool = TabPool(5)
            slots = pool.slots_for(context, 1)
            await slots.acquire()
            page = await context.new_page()
            page.on("close", lambda *_: slots.release())  # as scrapy-playwright's callback
            pool.opened(page)
            waiter = asyncio.ensure_future(pool.wait(context))
            await asyncio.sleep(0.05)
            assert not waiter.done()  # the only slot is in use
            await pool.give_back(page, reusable=True)
            assert await asyncio.wait_for(waiter, 5) is page
            # a tab that is closed instead gives its slot to the next waiter: open a new tab
            waiter = asyncio.ensure_future(pool.wait(context))
            await asyncio.sleep(0.05)
            assert not waiter.done()
            await pool.give_back(page, reusable=False)
            assert await asyncio.wait_for(waiter, 5) is None
            assert not slots.locked()
            await browser.close()

    asyncio.run(scenario())


def test_tab_captures_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="EVIDENCE_TAB_CAPTURES must be positive, not 0"):
        project_config(EVIDENCE_TAB_CAPTURES=0)
    assert project_config().tab_captures == DEFAULT_TAB_CAPTURES
    assert project_config(EVIDENCE_TAB_CAPTURES="3").tab_captures == 3
    assert not TabPool(1).enabled  # EVIDENCE_TAB_CAPTURES = 1: a fresh tab per capture


def test_no_tab_is_kept_in_a_context_whose_slots_are_not_the_pools(chromium: str) -> None:
    """An idle tab holds a page slot: where the pool cannot take slots back (a context it did
    not make the slots of), a finished tab is closed, never kept."""
    async def scenario() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            context = await browser.new_context()
            pool = TabPool(5)
            page = await context.new_page()
            pool.opened(page)
            await pool.give_back(page, reusable=True)
            assert page.is_closed() and pool.take(context) is None
            await browser.close()

    asyncio.run(scenario())


def test_a_context_lasts_long_enough_for_its_tabs_by_default() -> None:
    # auto: 100 pages, or enough for every page slot's tab to serve its captures
    assert project_config().context_pages == 100  # 4 slots x 20 captures = 80 < 100
    assert project_config(PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=16).context_pages == 320
    assert project_config(PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=16,
                          EVIDENCE_TAB_CAPTURES=5).context_pages == 100
    assert project_config(EVIDENCE_CONTEXT_PAGES="auto",
                          PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=8).context_pages == 160
    assert project_config(EVIDENCE_CONTEXT_PAGES=7).context_pages == 7
    assert project_config(EVIDENCE_CONTEXT_PAGES="0").context_pages == 0  # never
    for bad in ("lots", -1, "2.5"):
        with pytest.raises(ConfigError, match="EVIDENCE_CONTEXT_PAGES must be auto"):
            project_config(EVIDENCE_CONTEXT_PAGES=bad)
