"""Page objects: per-site extraction, apart from crawling, testable offline on saved pages.

A page object is built from what a fetch returned (URL, HTML, status, headers) and answers
questions about it. It never fetches, never waits and never touches the browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from parsel import Selector

from crawler.items import Block, Listing, SearchResult


class Page:
    """Base of every page object."""

    marketplace: ClassVar[str] = ""
    """The marketplace this page object reads (the spider's name)."""

    def __init__(
        self,
        url: str,
        html: str | bytes,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.status = status
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        if isinstance(html, bytes):
            html = html.decode("utf-8", errors="replace")
        self.html = html
        self.selector = Selector(text=html, base_url=url)

    def block(self) -> Block | None:
        """A captcha, bot wall, login wall or rate-limit page, or None for a real page."""
        from spiders.pages.blocks import detect_block

        return detect_block(self.url, self.html, self.status, self.headers)


class SearchPage(Page):
    """A page of search results."""

    def results(self) -> list[SearchResult]:
        """Every result on the page, in page order (placeholders and sponsored flagged)."""
        raise NotImplementedError

    def next_page_url(self) -> str | None:
        """Absolute URL of the next results page, or None when this is the last one."""
        return None


class ListingPage(Page):
    """The page of one listing."""

    def listing(self) -> Listing:
        """The listing's fields; missing ones stay None."""
        raise NotImplementedError
