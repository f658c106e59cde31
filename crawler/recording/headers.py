"""Tagging every request of a capture's page, so one browser context can serve many captures.

Each page that belongs to a capture gets `Content-Language: markwatch-<token>` as a page-level
extra HTTP header (`page.set_extra_http_headers`, DevTools `Network.setExtraHTTPHeaders`).
The browser adds it to every request the page and its frames make, inside Chromium, with no
round trip through Python per request. `Content-Language` with an alphanumeric value is a
CORS-safelisted request header, so cross-origin requests gain no preflight (a custom header
such as `x-markwatch-capture` would add one, and fail where the site does not allow it:
measured, see docs/fidelity.md). The recording proxy files each request under the capture its
tag names and strips the header: the site never sees it and the WARC does not record it.
"""

from __future__ import annotations

from typing import Any

from crawler.recording.proxy import CAPTURE_HEADER, tag_value

HEADER = CAPTURE_HEADER.decode("ascii")


async def tag_page(page: Any, token: str) -> None:
    """Mark every later request of `page` as belonging to the capture `token`."""
    await page.set_extra_http_headers({HEADER: tag_value(token)})
