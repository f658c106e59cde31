"""Tagging every request of a capture's page, so one browser context can serve many captures.

scrapy-playwright routes each request of a page through Python
(`PLAYWRIGHT_PROCESS_REQUEST_HEADERS`); `tag_capture_headers` returns the browser's own
headers plus `x-markwatch-capture: <token>` for pages that belong to a capture. Headers set on
a route reach the network below the browser's CORS checks, so cross-origin requests trigger no
extra preflight (unlike `page.set_extra_http_headers`). The recording proxy strips the header:
the site never sees it and the WARC does not record it.
"""

from __future__ import annotations

import weakref
from typing import Any

from playwright.async_api import Error as PlaywrightError

from crawler.recording.proxy import CAPTURE_HEADER

_TOKENS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
HEADER = CAPTURE_HEADER.decode("ascii")


def tag_page(page: Any, token: str) -> None:
    """Mark every later request of `page` as belonging to the capture `token`."""
    _TOKENS[page] = token


async def tag_capture_headers(browser_type_name: str, playwright_request: Any,
                              scrapy_request_data: dict[str, Any]) -> dict[str, str]:
    """`PLAYWRIGHT_PROCESS_REQUEST_HEADERS`: the browser's headers, tagged with the capture."""
    headers: dict[str, str] = dict(await playwright_request.all_headers())
    headers.pop(HEADER, None)  # never let a page choose its own capture
    try:
        page = playwright_request.frame.page
    except PlaywrightError:  # a service worker's request has no frame: left untagged
        return headers
    token = _TOKENS.get(page)
    if token is not None:
        headers[HEADER] = token
    return headers
