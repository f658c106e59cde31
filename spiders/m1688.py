"""1688.com (Alibaba China B2B): search results are drawn client-side, so both kinds render.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.m1688 import search_url


class M1688Spider(SiteSpider):
    """Searches 1688 and captures its listings."""

    name = "1688"  # type: ignore[misc]
    render_search = True
    render_listing = True
    build_search_url = staticmethod(search_url)
