"""Shopee, every country site (`-a site=vn`, `co.th`...; setting `SHOPEE_SITE`, default `sg`):
results and items are drawn client-side from Shopee's API, so both kinds render; pages are
counted (no next link)."""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.shopee import search_url


class ShopeeSpider(SiteSpider):
    """Searches Shopee and captures its listings."""

    name = "shopee"  # type: ignore[misc]
    render_search = True
    render_listing = True
    site_setting = "SHOPEE_SITE"
    build_search_url = staticmethod(search_url)
