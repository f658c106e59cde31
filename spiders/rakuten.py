"""Rakuten Ichiba: server-rendered search pages fetched plainly (pages counted); items rendered.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.rakuten import search_url


class RakutenSpider(SiteSpider):
    """Searches rakuten and captures its listings."""

    name = "rakuten"  # type: ignore[misc]
    render_search = False
    render_listing = True
    build_search_url = staticmethod(search_url)
