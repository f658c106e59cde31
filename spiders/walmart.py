"""Walmart: search results are in `__NEXT_DATA__` (fetched plainly); item pages rendered.
`site`: `com` (default) or `ca`.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.walmart import search_url


class WalmartSpider(SiteSpider):
    """Searches walmart and captures its listings."""

    name = "walmart"  # type: ignore[misc]
    render_search = False
    render_listing = True
    site_setting = "WALMART_SITE"
    build_search_url = staticmethod(search_url)
