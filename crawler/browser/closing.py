"""Closing a tab Chromium says it closed and did not.

Playwright's `page.close()` asks the browser to close the tab's target (`Target.closeTarget`)
and then waits, without a timeout, for the target to go. When the close meets a navigation
as it commits (a page's `<meta http-equiv=refresh>`, a script setting `location`, or our own
move to `about:blank` between two captures), Chromium answers that it closed the target and
leaves it open (crbug.com/536385539; Playwright issues 41900, 42068 and 42366, with no fix
merged): `page.close()` never returns. Measured here with Chromium 156: a page that refreshes
itself at once, closed as it arrives, hung 26 times in 40; a tab closed right after going to
`about:blank` (waiting for the commit only) 5 in 30. The crawl then waited for ever: the tab
kept its context's page slot, and the next request of that context waited for the slot
(a hostile page can do this on purpose).

`close_tab` bounds the close: it waits `CLOSE_WAIT` seconds for the tab to go, then asks the
browser again, directly through a browser-level DevTools session (a second `page.close()`
does not: Playwright sends the close once), up to `ATTEMPTS` times; asked again, Chromium
closes the target (every time in the 26 cases above). A tab that outlives every attempt is
reported (`evidence/tabs_unclosed`, with a warning naming its URL) and left to its context;
its caller gives its page slot back without it (`crawler.browser.tabs.TabSlots.forgive`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from playwright.async_api import Error as PlaywrightError

logger = logging.getLogger(__name__)

CLOSE_WAIT = 2.0
"""Seconds a close is given before the browser is asked again (a tab normally goes in
milliseconds)."""
ATTEMPTS = 3
"""Times the browser is asked again, directly, to close a tab that did not go."""

_BROWSER_SESSIONS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
"""A browser-level DevTools session per browser, opened the first time a tab does not close."""
_CLOSING: set[asyncio.Future[None]] = set()


async def close_tab(page: Any, *, stats: Any = None, wait: float = CLOSE_WAIT,
                    attempts: int = ATTEMPTS) -> bool:
    """Close `page`; True once it is closed, False if it outlived every attempt."""
    if page.is_closed():
        return True
    closing = asyncio.ensure_future(_close(page))
    _CLOSING.add(closing)  # a close that never returns is kept, not collected half way
    closing.add_done_callback(_CLOSING.discard)
    if await _gone(page, closing, wait):
        return True
    for _ in range(attempts):
        _count(stats, "evidence/tabs_close_retried")
        await _close_target(page, wait)
        if await _gone(page, closing, wait):
            return True
    _count(stats, "evidence/tabs_unclosed")
    logger.warning("a tab showing %s did not close after %d requests to the browser; its page "
                   "slot is given back without it", _url(page), attempts + 1)
    return False


async def _close(page: Any) -> None:
    with contextlib.suppress(PlaywrightError):
        await page.close()


async def _gone(page: Any, closing: asyncio.Future[None], wait: float) -> bool:
    """Whether the tab is closed within `wait` seconds (`closing` is left running)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(closing), wait)
    return bool(closing.done() or page.is_closed())


async def _close_target(page: Any, wait: float) -> None:
    """`Target.closeTarget` for the tab, sent on a browser-level session (bounded by `wait`;
    an error is only logged: the next attempt or the caller goes on)."""
    try:
        await asyncio.wait_for(_send_close(page), wait)
    except (PlaywrightError, TimeoutError, AttributeError, KeyError) as exc:
        logger.debug("asking the browser again to close a tab failed: %r", exc)


async def _send_close(page: Any) -> None:
    browser = page.context.browser
    if browser is None:  # a persistent context has no Browser object: nothing more to ask
        return
    cdp = await page.context.new_cdp_session(page)
    try:
        info = await cdp.send("Target.getTargetInfo")
    finally:
        with contextlib.suppress(PlaywrightError):
            await cdp.detach()
    session = _BROWSER_SESSIONS.get(browser)
    if session is None:
        session = await browser.new_browser_cdp_session()
        _BROWSER_SESSIONS[browser] = session
    await session.send("Target.closeTarget", {"targetId": info["targetInfo"]["targetId"]})


def _count(stats: Any, key: str) -> None:
    if stats is not None:
        stats.inc_value(key)


def _url(page: Any) -> str:
    try:
        return str(page.url)[:300]
    except Exception:  # a page object past use
        return "?"
