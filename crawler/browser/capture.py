"""Capturing a rendered page in Chromium: consent, lazy content, screenshot, DOM, exchanges.

Everything here runs on the page scrapy-playwright opened for a request, inside one bounded
wall-clock budget; the page is always closed afterwards, before its context.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from playwright.async_api import CDPSession
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page as PwPage
from playwright.async_api import Response as PwResponse
from playwright.async_api import TimeoutError as PwTimeout

from crawler.browser.shell_fonts import font_families_params
from crawler.clock import Clock
from crawler.config import CaptureLimits
from crawler.evidence.screenshot import png_size
from crawler.evidence.warc_decoded import Exchange
from crawler.exceptions import CaptureError
from crawler.recording.handle import RECORDING_META, CaptureRecording
from crawler.recording.headers import tag_page

logger = logging.getLogger(__name__)

RECORDER_META = "markwatch_recorder"
LIMITS_META = "markwatch_limits"
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/svg+xml"}
_RECORDED_TYPES = {"document", "xhr", "fetch", "image", "script", "stylesheet", "font"}


@dataclass
class RecordedResponse:
    """A response seen by the page, body still to be read."""

    response: PwResponse
    at: dt.datetime


class ExchangeRecorder:
    """Collects a page's responses from before navigation until the capture ends."""

    def __init__(self, limits: CaptureLimits, clock: Clock) -> None:
        self.limits = limits
        self.clock = clock
        self.responses: list[RecordedResponse] = []
        self.dropped = 0

    def attach(self, page: PwPage) -> None:
        page.on("response", self._on_response)

    def _on_response(self, response: PwResponse) -> None:
        if response.request.resource_type not in _RECORDED_TYPES:
            return
        if len(self.responses) >= self.limits.max_exchanges:
            self.dropped += 1
            return
        self.responses.append(RecordedResponse(response, self.clock.now()))


class InFlight:
    """Counts a page's requests in flight, to wait for a quiet network without the fixed
    500 ms of Playwright's `networkidle`."""

    def __init__(self, idle: float = 0.15, timeout: float = 5.0) -> None:
        self.idle = idle
        self.timeout = timeout
        self.count = 0
        self.changed = time.monotonic()

    def attach(self, page: PwPage) -> None:
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, _request: Any) -> None:
        self.count += 1
        self.changed = time.monotonic()

    def _ended(self, _request: Any) -> None:
        self.count = max(self.count - 1, 0)
        self.changed = time.monotonic()

    async def quiet(self) -> bool:
        """Wait until nothing has been in flight for `idle` s; False after `timeout` s."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            count, changed = self.state()
            if count == 0 and time.monotonic() - changed >= self.idle:
                return True
            await asyncio.sleep(0.05)
        return False

    def state(self) -> tuple[int, float]:
        """Requests in flight, and when that last changed (monotonic clock)."""
        return self.count, self.changed


class ProxyInFlight(InFlight):
    """A capture's requests in flight as its recording proxy session counts them.

    Every request of a recorded capture passes through the proxy, so the proxy knows when the
    page's network is quiet; the page then needs no request events from Playwright (each is a
    message from the browser through the driver to Python, with a handler call, for every
    resource of every page). The proxy runs on its own thread; an int and a float read across
    threads are whole under the GIL."""

    def __init__(self, session: Any, idle: float = 0.15, timeout: float = 5.0) -> None:
        super().__init__(idle, timeout)
        self.session = session

    def attach(self, page: PwPage) -> None:
        """Nothing to attach: the proxy counts."""

    def state(self) -> tuple[int, float]:
        return int(self.session.in_flight), float(self.session.changed)


_A = TypeVar("_A")
_B = TypeVar("_B")

INFLIGHT_META = "markwatch_inflight"
CDP_META = "markwatch_cdp"
SHELL_FONTS_META = "markwatch_shell_fonts"
"""True when the browser is the headless shell: each tab gets the full browser's default
fonts (`crawler.browser.shell_fonts`)."""


async def init_page(page: PwPage, request: Any) -> None:
    """scrapy-playwright's `playwright_page_init_callback`: attach a recorder before `goto`."""
    limits, clock = request.meta[LIMITS_META]
    recording = request.meta.get(RECORDING_META)
    inflight = (ProxyInFlight(recording.session) if isinstance(recording, CaptureRecording)
                else InFlight())
    inflight.attach(page)
    request.meta[INFLIGHT_META] = inflight
    if isinstance(recording, CaptureRecording):  # the recording proxy records this capture
        recording.context = page.context
        request.meta[RECORDER_META] = recording
        # the tag says whose requests are (a shared listener), and is the secret without
        # which the proxy relays nothing (a listener of the capture's own, too)
        await tag_page(page, recording.session.token)
    else:
        recorder = ExchangeRecorder(limits, clock)
        recorder.attach(page)
        request.meta[RECORDER_META] = recorder
    # Every capture must record every resource it shows: a resource served from the
    # browser's memory or HTTP cache never reaches the recording proxy, so the cache is off
    # for evidence pages. `setCacheDisabled` only takes effect on a session whose Network
    # domain is enabled (bodies are not buffered for it). The same DevTools session takes the
    # screenshot later (see `_screenshot`).
    # A reused tab (`crawler.browser.tabs`) keeps its session, with the cache still off.
    cdp = _CDP_SESSIONS.get(page)
    if cdp is None:
        try:
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Network.enable",
                           {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0})
            await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        except PlaywrightError as exc:  # not Chromium: record what the network shows
            logger.debug("could not disable the browser cache: %s", exc)
            return
        _CDP_SESSIONS[page] = cdp
        if request.meta.get(SHELL_FONTS_META):  # kept by the tab, as its cache setting
            try:
                await cdp.send("Page.setFontFamilies", font_families_params())
            except PlaywrightError as exc:
                logger.warning("the headless shell did not take the full browser's default "
                               "fonts (%s): its pages are drawn in its own", exc)
    request.meta[CDP_META] = cdp


_CDP_SESSIONS: weakref.WeakKeyDictionary[Any, CDPSession] = weakref.WeakKeyDictionary()
"""Each open tab's DevTools session (the browser cache off, the screenshot taken through it)."""


@dataclass
class RenderedPage:
    """What one capture took from the browser."""

    final_url: str
    dom: bytes
    screenshot: bytes
    exchanges: list[Exchange]
    images: list[tuple[str, str, bytes]]
    user_agent: str
    browser_version: str
    viewport: dict[str, int]
    limits_hit: list[str] = field(default_factory=list)
    recording: Any = None
    """The capture's `crawler.recording.CaptureSession` when the recording proxy was used."""
    step_seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds each capture step took (`capture_page`), for the crawl's timeline only:
    not evidence, never stored with the capture."""
    screenshot_attempts: int = 1
    """Screenshots taken until one was wholly drawn (`_screenshot`); the last is kept."""


@dataclass(frozen=True)
class CaptureSteps:
    """What to do on a page before taking it (per marketplace and page kind)."""

    consent_click: str | None = None
    wait_for: str | None = None
    lazy_load: str = "expand"
    """`expand`, `scroll` or `off` (`EVIDENCE_LAZY_LOAD`; see `_expand_to_page`)."""
    wait_timeout: float = 15.0
    png_speed: bool = True
    """Chromium's fast zlib level for the screenshot's PNG (`optimizeForSpeed`); False: its
    default level, about 0.73 of the bytes for about 10 ms more
    (`EVIDENCE_SCREENSHOT_FORMAT=png-compact`)."""
    challenge: Callable[[str, str], str | None] | None = None
    """Looks at a page that has not met `wait_for` yet (its URL and DOM) and says why waiting
    longer is pointless (a captcha, a sign-in or a rate-limit page: only a person, or time,
    gets past those), or None to keep waiting. Without it the wait lasts `wait_timeout`."""


async def capture_page(
    page: PwPage,
    recorder: ExchangeRecorder | CaptureRecording | None,
    steps: CaptureSteps,
    limits: CaptureLimits,
    inflight: InFlight | None = None,
    cdp: CDPSession | None = None,
) -> RenderedPage:
    """Run the capture steps on an open page within `limits.timeout` seconds.

    `cdp` is a DevTools session on the page (Chromium): the screenshot is taken through it in
    one call, PNG encoded for speed; without it, through Playwright's `page.screenshot`.

    The tab is brought to the front first and again before the screenshot. Of the tabs open
    in a browser context, Chromium (156, headless) draws some only once a second once their
    images are given their source by a script (a lazy gallery), though every one is
    `visible`: each capture step that waits for a frame (the page's size, the images, the
    screenshot) then waits up to a second. A tab once brought to the front after loading is
    drawn at the display's rate again, without lifting the frame-rate limit for every page
    (docs/performance.md, "Frames once a second")."""
    hit: list[str] = []
    viewport = _viewport(page)
    laps = _Laps()
    try:
        async with asyncio.timeout(limits.timeout):
            await page.bring_to_front()  # frames at the display's rate (see above)
            laps("to_front")
            # the consent click and the wait for the content are independent (an element is
            # waited for as attached, overlay or not): two round trips in flight at once
            await _together(_dismiss_consent(page, steps.consent_click, hit),
                            _wait_for_step(page, steps, hit, limits.max_dom_bytes))
            laps("consent_and_wait_for")
            size = None
            if steps.lazy_load == "expand":
                size = await _expand_to_page(page, limits.max_page_height, hit, inflight)
            elif steps.lazy_load == "scroll":
                await _scroll_through(page, limits.max_page_height, hit, inflight)
            laps("lazy_load")
            # again: the lazy images just loaded can slow the tab's frames once more
            await page.bring_to_front()
            laps("to_front_again")
            size = await _measured(page, size, limits.max_dom_bytes)
            # the DOM is read while Chromium draws the screenshot (both of the settled page)
            attempts: list[int] = []
            shot, html = await _together(
                _screenshot(page, limits.max_page_height, hit, cdp, None, size,
                            steps.png_speed, viewport, attempts),
                page.content())
            laps("screenshot_and_dom")
            dom = html.encode("utf-8")
            if len(dom) > limits.max_dom_bytes:
                raise CaptureError(
                    f"rendered DOM is {len(dom)} bytes, over the cap of {limits.max_dom_bytes}"
                )
            recording = None
            if isinstance(recorder, CaptureRecording):
                recording = await recorder.finish(hit)
                exchanges: list[Exchange] = []
                images = recorder.images(IMAGE_TYPES, limits.max_exchange_bytes)
            else:
                exchanges, images = await _read_exchanges(recorder, limits, hit)
            laps("recording")
            user_agent = await _user_agent(page)
            laps("user_agent")
    except TimeoutError as exc:
        raise CaptureError(f"capture did not finish within {limits.timeout:g} s") from exc
    except PlaywrightError as exc:
        raise CaptureError(f"browser error during capture: {exc.message}") from exc
    browser = page.context.browser
    return RenderedPage(
        final_url=page.url,
        dom=dom,
        screenshot=shot,
        exchanges=exchanges,
        images=images,
        user_agent=str(user_agent),
        browser_version=browser.version if browser else "unknown",
        viewport=viewport,
        limits_hit=hit,
        recording=recording,
        step_seconds=laps.seconds,
        screenshot_attempts=max(attempts, default=1),
    )


class _Laps:
    """Wall seconds from one capture step's end to the next's (monotonic clock)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(now - self._last, 4)
        self._last = now


async def _together(first: Awaitable[_A], second: Awaitable[_B]) -> tuple[_A, _B]:
    """Both results, the two awaited at once. When one fails (or this is cancelled: the
    capture's timeout) the other is cancelled and awaited before the error goes on, so no
    step of a capture outlives it."""
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()  # nothing for a task already done
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return tasks[0].result(), tasks[1].result()


async def _wait_for_step(page: PwPage, steps: CaptureSteps, hit: list[str],
                         max_dom_bytes: int) -> None:
    if steps.wait_for:
        await wait_for_content(page, steps.wait_for, steps.wait_timeout, hit, steps.challenge,
                               max_dom_bytes)


async def _measured(page: PwPage, size: list[Any] | None, max_dom_bytes: int
                    ) -> list[Any] | None:
    """The page's size (`_PAGE_SIZE_JS`), measured now unless the lazy-loading step did; a
    page whose DOM is over the cap fails here, before its screenshot and its DOM are read."""
    if size is None:
        size = await page.evaluate(_PAGE_SIZE_JS)
    if isinstance(size, list) and len(size) > 2 and size[2] > max_dom_bytes:
        # UTF-8 takes at least a byte per character: over the cap already
        raise CaptureError(f"rendered DOM is at least {int(size[2])} bytes, over the cap of "
                           f"{max_dom_bytes}")
    return size if isinstance(size, list) else None


def _viewport(page: PwPage) -> dict[str, int]:
    size = page.viewport_size
    return {"width": size["width"], "height": size["height"]} if size else {}


async def _dismiss_consent(page: PwPage, selector: str | None, hit: list[str]) -> None:
    if not selector:
        return
    button = page.locator(selector).first
    try:
        if await button.is_visible():  # False when there is no such element

            await button.click(timeout=5_000)
            await button.wait_for(state="hidden", timeout=5_000)
    except PwTimeout:
        hit.append(f"consent overlay {selector!r} did not close")


CHALLENGE_LOOK_FIRST = 1.0
"""Seconds of waiting for `wait_for` before the page is first looked at as a challenge; the
gap doubles after each look, up to `CHALLENGE_LOOK_EVERY`."""
CHALLENGE_LOOK_EVERY = 4.0


async def wait_for_content(page: PwPage, selector: str, timeout: float, hit: list[str],
                    challenge: Callable[[str, str], str | None] | None = None,
                    max_dom_bytes: int = 0) -> None:
    """Wait until `selector` is in the page, `timeout` s at most.

    With `challenge`, a page that is not there yet is looked at after 1, 2, 4 s and then every
    4 s: a captcha page never shows the listing, so its tab is not held for the whole timeout
    (a marketplace that blocks a crawl blocks many pages). Each slice of the wait is a wait of
    its own that ends in the browser too (a cancelled one would go on polling there)."""
    # a locator's wait returns no element handle: the selector is matched in Playwright's
    # isolated world, and no handle is adopted into the page's own world (which would make
    # Playwright install its 330 KB injected script there too, once per page)
    locator = page.locator(selector).first
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    gap = CHALLENGE_LOOK_FIRST if challenge is not None else timeout
    while True:
        left = deadline - loop.time()
        try:
            # Playwright reads a timeout of 0 as none at all
            await locator.wait_for(timeout=max(min(gap, left), 0.001) * 1000, state="attached")
            return
        except PwTimeout:
            pass
        if challenge is None or deadline - loop.time() <= 0:
            hit.append(f"wait_for {selector!r} not met within {timeout:g} s")
            return
        reason = await _looks_like(page, challenge, max_dom_bytes)
        if reason is not None:
            hit.append(f"wait_for {selector!r} not met: {reason}; not waited for further")
            return
        gap = min(gap * 2, CHALLENGE_LOOK_EVERY)


async def _looks_like(page: PwPage, challenge: Callable[[str, str], str | None],
                      max_dom_bytes: int) -> str | None:
    """What `challenge` says of the page as it is now; None when it cannot be read (a page
    between two documents) or is larger than a capture may be (the capture says so later)."""
    try:
        html = await page.content()  # serialised in Playwright's isolated world
    except PlaywrightError:
        return None
    if max_dom_bytes and len(html) > max_dom_bytes:
        return None
    # parsing a page is CPU: off the event loop, which every other tab's capture runs on
    try:
        return await asyncio.to_thread(challenge, page.url, html)
    except Exception:  # a page half built (or built to break a parser): keep waiting
        logger.debug("could not look at %s while waiting for it", page.url, exc_info=True)
        return None


_SCROLL_JS = """
async ([maxHeight, step]) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  let y = 0;
  for (let i = 0; i < 400; i++) {
    const height = Math.min(document.documentElement.scrollHeight, maxHeight);
    window.scrollTo(0, y);
    await frame();
    if (y + step >= height) break;
    y += step;
  }
  await frame();
  window.scrollTo(0, 0);
  await frame();
  return document.documentElement.scrollHeight;
}
"""

_IMAGES_DONE_JS = """
async (timeoutMs) => {
  const start = Date.now();
  for (;;) {
    const pending = Array.from(document.images).filter((img) => !img.complete);
    if (!pending.length) return true;
    const left = timeoutMs - (Date.now() - start);
    if (left <= 0) return false;
    await new Promise((resolve) => {
      setTimeout(resolve, Math.min(left, 100));
      for (const img of pending) {
        img.addEventListener("load", resolve, { once: true });
        img.addEventListener("error", resolve, { once: true });
      }
    });
  }
}
"""
IMAGES_TIMEOUT = 10.0
"""Seconds a capture waits for its images to be complete before it notes them as loading."""


async def _scroll_through(page: PwPage, max_height: int, hit: list[str],
                          inflight: InFlight | None) -> None:
    """Scroll the page through, so lazy content loads, then let the network settle."""
    step = max((page.viewport_size or {"height": 720})["height"], 200)
    await page.evaluate(_SCROLL_JS, [max_height, step])
    await _settle(page, hit, inflight)


_GROWN_JS = """
async () => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  await frame();
  // lazy loaders that listen for scrolling rather than observe intersections look again
  window.dispatchEvent(new Event("scroll"));
  document.dispatchEvent(new Event("scroll"));
  await frame();
  return Math.max(document.documentElement.scrollHeight,
                  document.body ? document.body.scrollHeight : 0);
}
"""

EXPAND_ROUNDS = 4
"""Times the viewport is grown for a page that keeps growing (content loaded at its end)."""


async def _expand_to_page(page: PwPage, max_height: int, hit: list[str],
                          inflight: InFlight | None) -> list[Any] | None:
    """Grow the viewport to the page's full height (up to `max_height`), so that everything
    lazy is in view at once, then let the network settle; the page's size once it has.

    One layout instead of a frame per scrolled viewport; it is the state the full-page
    screenshot puts the page in anyway (Chromium's capture beyond the viewport also grows the
    visible area), only early enough for lazy images to load. The height is measured again
    once the network is quiet, so a page that grows after loading (results appended at its
    end, content fetched by script) is grown again, `EXPAND_ROUNDS` times at most. The last
    measure, the wait for the page's images and the size the screenshot is cut to are one
    evaluation (`_SETTLED_JS`). The capture records the configured viewport, and the
    screenshot puts it back before drawing the page (see `_screenshot`)."""
    viewport = page.viewport_size or {"width": 1280, "height": 720}
    height = viewport["height"]
    rounds = 0
    target = min(int(await page.evaluate(_GROWN_JS) or 0), max_height)
    while True:
        if target > height:
            if rounds == EXPAND_ROUNDS:
                _note(hit, f"page still growing after {EXPAND_ROUNDS} rounds of lazy loading")
                return (await _settled(page, None, max_height, hit))[1]
            rounds += 1
            height = target
            await page.set_viewport_size({"width": viewport["width"], "height": height})
        await _quiet(page, hit, inflight)
        grown, size = await _settled(page, height, max_height, hit)
        if grown is None:
            return size
        target = grown


async def _settled(page: PwPage, height: int | None, max_height: int,
                   hit: list[str]) -> tuple[int | None, list[Any] | None]:
    """(the new height, None) when the page has grown beyond `height` (None: do not look);
    else wait for its images and return (None, its size as `_PAGE_SIZE_JS` measures it).
    The size is None when the page did not answer in time (the screenshot then measures the
    page itself). The page's world can be hostile: the wait is bounded here too."""
    try:
        result = await asyncio.wait_for(
            page.evaluate(_SETTLED_JS, [height, max_height, IMAGES_TIMEOUT * 1000]),
            IMAGES_TIMEOUT + 1)
    except TimeoutError:
        result = None
    if isinstance(result, list) and len(result) == 2 and result[0] == "grown":
        return int(result[1]), None
    if not (isinstance(result, list) and len(result) == 3 and result[0] == "settled"):
        hit.append(f"images still loading after {IMAGES_TIMEOUT:g} s")
        return None, None
    if not result[1]:
        hit.append(f"images still loading after {IMAGES_TIMEOUT:g} s")
    return None, result[2] if isinstance(result[2], list) else None


async def _quiet(page: PwPage, hit: list[str], inflight: InFlight | None) -> None:
    """Wait until the page has had no request in flight for a moment."""
    if inflight is not None:
        if not await inflight.quiet():
            _note(hit, f"network still busy {inflight.timeout:g} s after loading lazy content")
        return
    try:
        await page.wait_for_load_state("networkidle", timeout=5_000)
    except PwTimeout:
        _note(hit, "network still busy 5 s after loading lazy content")


def _note(hit: list[str], message: str) -> None:
    if message not in hit:
        hit.append(message)


async def _images_done(page: PwPage, hit: list[str]) -> None:
    """Wait until every image of the page is complete (loaded or broken).

    One evaluation that waits in the page (woken by the images' load and error events, and
    every 100 ms for images added meanwhile), instead of `wait_for_function`, which would
    install Playwright's injected script in the page's own world for every capture. The
    page's world can be hostile (timers replaced, promises never settled): the wait is bounded
    here as well as in the page."""
    try:
        done = await asyncio.wait_for(
            page.evaluate(_IMAGES_DONE_JS, IMAGES_TIMEOUT * 1000), IMAGES_TIMEOUT + 1)
    except TimeoutError:
        done = False
    if not done:
        hit.append(f"images still loading after {IMAGES_TIMEOUT:g} s")


async def _settle(page: PwPage, hit: list[str], inflight: InFlight | None) -> None:
    """Wait for a quiet network and for every image to be complete."""
    await _quiet(page, hit, inflight)
    await _images_done(page, hit)


_PAGE_SIZE_JS = """
async () => {
  await document.fonts.ready;
  const d = document.documentElement, b = document.body || d;
  return [Math.max(d.scrollWidth, b.scrollWidth, d.offsetWidth, b.offsetWidth, d.clientWidth),
          Math.max(d.scrollHeight, b.scrollHeight, d.offsetHeight, b.offsetHeight,
                   d.clientHeight),
          d.outerHTML.length];
}
"""

_SETTLED_JS = (
    "async ([height, maxHeight, timeoutMs]) => {\n"
    "  if (height !== null) {\n"
    "    const grown = Math.min(await (" + _GROWN_JS.strip() + ")(), maxHeight);\n"
    "    if (grown > height) return [\"grown\", grown];\n"
    "  }\n"
    "  const images = await (" + _IMAGES_DONE_JS.strip() + ")(timeoutMs);\n"
    "  return [\"settled\", images, await (" + _PAGE_SIZE_JS.strip() + ")()];\n"
    "}\n"
)
"""`_GROWN_JS`, then (unless the page grew) `_IMAGES_DONE_JS` and `_PAGE_SIZE_JS`, in one
evaluation: the last steps of lazy loading by viewport (see `_expand_to_page`)."""


async def _screenshot(page: PwPage, max_height: int, hit: list[str],
                      cdp: CDPSession | None = None, max_dom_bytes: int | None = None,
                      size: list[Any] | None = None, fast: bool = True,
                      configured: dict[str, int] | None = None,
                      attempts: list[int] | None = None) -> bytes:
    """A full-page PNG, cut at `max_height` CSS pixels.

    Through DevTools when there is a session: one `Page.captureScreenshot` beyond the viewport
    (what Playwright's full-page screenshot does after several round trips of its own), with
    `optimizeForSpeed`, which picks a faster zlib level: the same pixels, a larger file,
    about a third less CPU in the browser process for the step that dominates a capture
    (`fast`; without it Chromium's default level).

    A viewport grown for lazy loading is put back to `configured` (the size the page was
    opened at) first, so the page is always drawn afresh at the size of the capture. Copying
    the grown viewport "as it is on screen" took whatever frame the compositor had last drawn:
    on a busy machine one whose tiles below the first few hundred pixels were not drawn yet
    (the page's background there: no text, half a photo), 5-17 % of the demo's listings under
    load, with nothing to say so. A capture beyond the viewport changes the size the page is
    drawn at, and Chromium then waits for a frame drawn at that size (docs/performance.md,
    "Complete screenshots").

    That wait is not a promise: rarely (about one capture in 300-600 under load) the frame
    copied is not the whole page, and the part never drawn comes back transparent (seen: a
    listing 2,916 px tall drawn 640 px down, the rest alpha 0). A page's rendering is opaque
    (Chromium paints its white base background under every document) and Chromium writes an
    opaque capture as an RGB PNG, so a PNG with an alpha channel is a frame not wholly
    drawn: it is taken again, after a pause, `SCREENSHOT_ATTEMPTS` times in all, and if
    every one has undrawn areas the capture says so in `hit`. `attempts`, when given, gets
    the number of screenshots taken.
    """
    if size is None:  # not measured by the lazy-loading step
        size = await page.evaluate(_PAGE_SIZE_JS)
    if max_dom_bytes is not None and size and len(size) > 2 and size[2] > max_dom_bytes:
        # UTF-8 takes at least a byte per character: over the cap already, so fail before
        # spending a screenshot on a hostile page
        raise CaptureError(f"rendered DOM is at least {int(size[2])} bytes, over the cap of "
                           f"{max_dom_bytes}")
    viewport = page.viewport_size or {"width": 1280, "height": 720}
    resized = bool(configured) and viewport != configured
    if configured and resized:  # grown by `_expand_to_page`: see above
        viewport = {"width": configured["width"], "height": configured["height"]}
        await page.set_viewport_size(viewport)
    width = int(size[0]) if size and size[0] else viewport["width"]
    height = int(size[1]) if size and size[1] else viewport["height"]
    if height > max_height:
        hit.append(f"page is {height} px tall; screenshot cut at {max_height} px")
        height = max_height
    # a page the configured viewport holds is drawn as it is on screen, unless the viewport
    # was just put back (its frame at that size may not be drawn yet)
    beyond = resized or width > viewport["width"] or height > viewport["height"]
    shot = b""
    for attempt in range(1, SCREENSHOT_ATTEMPTS + 1):
        if attempt > 1:
            logger.info("screenshot of %s has undrawn areas; taking it again (%d of %d)",
                        page.url, attempt, SCREENSHOT_ATTEMPTS)
            await asyncio.sleep(RETAKE_PAUSE * (attempt - 1))
        if attempts is not None:
            attempts.append(attempt)
        shot, cdp = await _capture_png(page, cdp, width, height, beyond, fast)
        if not undrawn_areas(shot):
            return shot
    hit.append(f"screenshot has undrawn (transparent) areas in all {SCREENSHOT_ATTEMPTS} "
               "attempts")
    return shot


SCREENSHOT_ATTEMPTS = 3
"""Screenshots taken of a page at most while each comes back with undrawn areas."""
RETAKE_PAUSE = 0.1
"""Seconds waited before the second screenshot (twice that before the third)."""


def undrawn_areas(png: bytes) -> bool:
    """Whether Chromium's screenshot has an alpha channel (PNG colour type 4 or 6): it writes
    an opaque capture as RGB, and a page's rendering is opaque, so alpha means part of the
    frame copied was never drawn (see `_screenshot`)."""
    header = png_size(png)
    return header is not None and header[3] in (4, 6)


async def _capture_png(page: PwPage, cdp: CDPSession | None, width: int, height: int,
                       beyond: bool, fast: bool) -> tuple[bytes, CDPSession | None]:
    """One full-page PNG through DevTools (None after a failure there: Playwright's then), and
    the session to use for the next."""
    if cdp is not None:
        try:
            shot = await cdp.send("Page.captureScreenshot", {
                "format": "png", "optimizeForSpeed": fast, "captureBeyondViewport": beyond,
                "fromSurface": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            })
            return base64.b64decode(shot["data"]), cdp
        except PlaywrightError as exc:
            logger.debug("DevTools screenshot failed, using Playwright's: %s", exc)
    clip = {"x": 0, "y": 0, "width": width, "height": height}
    png = await page.screenshot(full_page=True, clip=clip, type="png")  # type: ignore[arg-type]
    return png, None


_USER_AGENTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


async def _user_agent(page: PwPage) -> str:
    """The browser's user agent, asked of the browser process (DevTools `Browser.getVersion`)
    once per browser: never of the page, whose scripts can redefine `navigator.userAgent`."""
    browser = page.context.browser
    key: Any = browser if browser is not None else page.context
    agent = _USER_AGENTS.get(key)
    if agent is None:
        agent = "unknown"
        if browser is not None:
            try:
                cdp = await browser.new_browser_cdp_session()
                try:
                    agent = str((await cdp.send("Browser.getVersion"))["userAgent"])
                finally:
                    await cdp.detach()
            except (PlaywrightError, KeyError) as exc:
                logger.debug("user agent: Browser.getVersion failed: %r", exc)
        _USER_AGENTS[key] = agent
    return agent


async def _read_exchanges(
    recorder: ExchangeRecorder | None, limits: CaptureLimits, hit: list[str]
) -> tuple[list[Exchange], list[tuple[str, str, bytes]]]:
    if recorder is None:
        return [], []
    if recorder.dropped:
        hit.append(f"{recorder.dropped} HTTP exchanges over the cap of {limits.max_exchanges}")
    exchanges: list[Exchange] = []
    images: list[tuple[str, str, bytes]] = []
    budget = limits.max_exchange_bytes
    over_budget = 0
    for recorded in recorder.responses:
        response = recorded.response
        body: bytes | None = None
        if budget > 0 and not 300 <= response.status < 400:
            try:
                body = await response.body()
            except PlaywrightError:
                body = None
        if body is not None and len(body) > budget:
            over_budget += 1
            body = None
        if body is not None:
            budget -= len(body)
        request = response.request
        resource_type = request.resource_type
        content_type = (await response.header_value("content-type") or "").split(";")[0].strip()
        if resource_type == "image" and body and content_type in IMAGE_TYPES:
            images.append((response.url, content_type, body))
            continue
        server = await response.server_addr()
        exchanges.append(
            Exchange(
                url=response.url,
                method=request.method,
                request_headers=[(h["name"], h["value"]) for h in await request.headers_array()],
                status=response.status,
                status_text=response.status_text,
                response_headers=[(h["name"], h["value"]) for h in await response.headers_array()],
                body=body,
                resource_type=resource_type,
                at=recorded.at,
                remote_ip=server["ipAddress"] if server else None,
                request_body=request.post_data_buffer,
            )
        )
    if over_budget:
        hit.append(f"{over_budget} bodies not kept: over {limits.max_exchange_bytes} bytes in all")
    return exchanges, images
