"""Lazada, every country site (`-a site=sg`, `co.th`...; setting `LAZADA_SITE`, default
`com.ph`): results are drawn client-side, so both kinds render; no next link, pages counted.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.lazada import search_url


class LazadaSpider(SiteSpider):
    """Searches lazada and captures its listings."""

    name = "lazada"  # type: ignore[misc]
    render_search = True
    render_listing = True
    site_setting = "LAZADA_SITE"
    build_search_url = staticmethod(search_url)
