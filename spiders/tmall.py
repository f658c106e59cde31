"""Tmall: searched through Taobao's `tab=mall` search; both kinds rendered.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.tmall import search_url


class TmallSpider(SiteSpider):
    """Searches tmall and captures its listings."""

    name = "tmall"  # type: ignore[misc]
    render_search = True
    render_listing = True
    build_search_url = staticmethod(search_url)
