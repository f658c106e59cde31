"""Temu (`-a site=uk` for a country path; setting `TEMU_SITE`): results and items are drawn
client-side, so both kinds render; the search scrolls instead of paging, so one page per
term is read."""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.temu import search_url


class TemuSpider(SiteSpider):
    """Searches Temu and captures its listings."""

    name = "temu"  # type: ignore[misc]
    render_search = True
    render_listing = True
    increment_pages = False
    site_setting = "TEMU_SITE"
    build_search_url = staticmethod(search_url)
