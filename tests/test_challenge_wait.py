"""A capture stops waiting for its page's content on a page that will never show it.

A marketplace that blocks a crawl serves captcha, sign-in and rate-limit pages for many of its
pages; waiting the whole `wait_timeout` for a listing's selector on each held a tab (and, in a
crawl, a page slot) for nothing. Real Chromium renders pages from a real HTTP server on
127.0.0.1 through markwatch's own capture steps, with the demo marketplace's page objects
looking at the page while it waits (`spiders.base.waiting_will_not_pass`). The wait is long
(60 s): a capture that waited it out would say "not met within 60 s", which each test rules
out by the note it asserts, not by a clock.
"""

from __future__ import annotations

import asyncio
import http.server
from collections.abc import Iterator

import pytest
from playwright.async_api import async_playwright

from crawler.browser.capture import CaptureSteps, RenderedPage, capture_page
from crawler.config import CaptureLimits
from crawler.demo import pages
from spiders.base import waiting_will_not_pass
from spiders.pages import ListingPage, page_class
from tests.helpers import send, serving

WAIT = 60.0

LATE = """<!doctype html><html><head><title>Lumara bag</title></head><body>
<p id="state">loading</p>
<script>setTimeout(() => {
  const h = document.createElement("h1"); h.textContent = "Lumara bag, arrived late";
  document.body.append(h);
}, 2500);</script></body></html>"""

INTERSTITIAL = """<!doctype html><html><head><title>Just a moment...</title></head><body>
<div id="challenge-running">Checking your browser before accessing the site.</div>
<script>setTimeout(() => location.replace("/content"), 2500);</script></body></html>"""

CONTENT = """<!doctype html><html><head><title>Lumara bag</title></head><body>
<h1>Lumara bag, past the check</h1></body></html>"""

LOGIN = """<!doctype html><html><head><title>Sign in</title></head><body>
<form action="/session" method="post"><input name="user"><input name="password"
type="password"><button>Sign in</button></form></body></html>"""

PAGES = {
    "/captcha": pages.captcha_page(),
    "/late": LATE,
    "/interstitial": INTERSTITIAL,
    "/content": CONTENT,
    "/account/login": LOGIN,
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        send(self, 200, body.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving(_Handler) as host:
        yield f"http://{host}"


def _demo_listing(url: str, html: bytes, status: int, headers: dict[str, str]) -> ListingPage:
    cls = page_class("demo", "listing")
    assert issubclass(cls, ListingPage)
    return cls(url, html, status, headers)


async def _capture(chromium: str, url: str, *, challenge: bool = True) -> RenderedPage:
    steps = CaptureSteps(None, "h1", lazy_load="off", wait_timeout=WAIT,
                         challenge=waiting_will_not_pass(_demo_listing) if challenge else None)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(url, wait_until="load")
            return await capture_page(page, None, steps, CaptureLimits(timeout=WAIT + 30))
        finally:
            await browser.close()


def _waits(rendered: RenderedPage) -> list[str]:
    return [note for note in rendered.limits_hit if note.startswith("wait_for")]


@pytest.mark.browser
def test_a_captcha_page_is_not_waited_for(chromium: str, site: str) -> None:
    rendered = asyncio.run(_capture(chromium, f"{site}/captcha"))
    assert _waits(rendered) == [
        "wait_for 'h1' not met: captcha page (challenge page (title 'Are you a robot?')); "
        "not waited for further"]
    assert b"g-recaptcha" in rendered.dom and rendered.screenshot  # captured all the same


@pytest.mark.browser
def test_a_sign_in_page_is_not_waited_for(chromium: str, site: str) -> None:
    rendered = asyncio.run(_capture(chromium, f"{site}/account/login"))
    (note,) = _waits(rendered)
    assert note.startswith("wait_for 'h1' not met: login-wall page (login page URL (")
    assert note.endswith("; not waited for further")


@pytest.mark.browser
def test_content_that_arrives_after_the_first_looks_is_waited_for(chromium: str,
                                                                   site: str) -> None:
    # the page is looked at 1 s and 3 s into the wait, before its heading exists
    rendered = asyncio.run(_capture(chromium, f"{site}/late"))
    assert _waits(rendered) == []
    assert b"<h1>Lumara bag, arrived late</h1>" in rendered.dom


@pytest.mark.browser
def test_an_automatic_check_that_lets_the_browser_through_is_waited_for(chromium: str,
                                                                        site: str) -> None:
    # a Cloudflare-style interstitial (a bot wall, not a captcha) that moves on by itself; it
    # navigates while the capture looks at it
    assert _demo_listing(f"{site}/interstitial", INTERSTITIAL.encode(), 200, {}).block()
    rendered = asyncio.run(_capture(chromium, f"{site}/interstitial"))
    assert _waits(rendered) == []
    assert rendered.final_url == f"{site}/content"
    assert b"<h1>Lumara bag, past the check</h1>" in rendered.dom


@pytest.mark.browser
def test_without_a_challenge_look_the_wait_is_as_configured(chromium: str, site: str) -> None:
    steps = CaptureSteps(None, "h1", lazy_load="off", wait_timeout=1.5)

    async def capture() -> RenderedPage:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = await browser.new_page()
                await page.goto(f"{site}/captcha", wait_until="load")
                return await capture_page(page, None, steps, CaptureLimits())
            finally:
                await browser.close()

    rendered = asyncio.run(capture())
    assert _waits(rendered) == ["wait_for 'h1' not met within 1.5 s"]
