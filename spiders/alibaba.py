"""Alibaba.com: search pages carry their offers in server HTML (not rendered); product pages
are rendered.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.alibaba import search_url


class AlibabaSpider(SiteSpider):
    """Searches alibaba and captures its listings."""

    name = "alibaba"  # type: ignore[misc]
    render_search = False
    render_listing = True
    build_search_url = staticmethod(search_url)
