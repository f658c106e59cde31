"""Taobao: both kinds rendered (client-side pages, login and Baxia walls).
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.taobao import search_url


class TaobaoSpider(SiteSpider):
    """Searches taobao and captures its listings."""

    name = "taobao"  # type: ignore[misc]
    render_search = True
    render_listing = True
    build_search_url = staticmethod(search_url)
