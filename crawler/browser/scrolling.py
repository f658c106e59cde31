"""Infinite scroll: scroll a rendered page until no new results appear.

Pages that load results as the reader scrolls (no page links) only show everything when
scrolled to the bottom again and again. `scroll_until_stable()` scrolls to the bottom, waits
for the number of result elements to grow, and stops when a scroll brings nothing new within
`settle` seconds, when the page is taller than `max_height`, or after `max_rounds` scrolls.
What stopped it early is returned, to be recorded as a limit hit.
"""

from __future__ import annotations

import logging

from playwright.async_api import Page as PwPage
from playwright.async_api import TimeoutError as PwTimeout

logger = logging.getLogger(__name__)

_COUNT_JS = """
([kind, expr]) => kind === "xpath"
  ? document.evaluate(expr, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null)
      .snapshotLength
  : document.querySelectorAll(expr).length
"""
_GREW_JS = """
([kind, expr, before]) => (kind === "xpath"
  ? document.evaluate(expr, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null)
      .snapshotLength
  : document.querySelectorAll(expr).length) > before
"""
_BOTTOM_JS = """
() => { window.scrollTo(0, document.documentElement.scrollHeight);
        return document.documentElement.scrollHeight; }
"""


async def count_results(page: PwPage, kind: str, expr: str) -> int:
    """How many elements match a CSS (`kind="css"`) or XPath selector now."""
    return int(await page.evaluate(_COUNT_JS, [kind, expr]))


async def scroll_until_stable(
    page: PwPage,
    kind: str,
    expr: str,
    *,
    settle: float = 3.0,
    max_rounds: int = 60,
    max_height: int = 16_000,
) -> tuple[int, list[str]]:
    """Scroll until the results stop growing; (results found, limits hit)."""
    hit: list[str] = []
    found = await count_results(page, kind, expr)
    for _ in range(max_rounds):
        height = await page.evaluate(_BOTTOM_JS)
        if isinstance(height, int | float) and height > max_height:
            hit.append(f"infinite scroll stopped: page is {int(height)} px tall "
                       f"(cap {max_height} px)")
            break
        try:
            await page.wait_for_function(_GREW_JS, arg=[kind, expr, found],
                                         timeout=settle * 1000, polling=100)
        except PwTimeout:
            break  # nothing new appeared: the end of the results
        found = await count_results(page, kind, expr)
    else:
        hit.append(f"infinite scroll stopped after {max_rounds} scrolls")
    await page.evaluate("window.scrollTo(0, 0)")
    logger.debug("infinite scroll: %d results", found)
    return found, hit
