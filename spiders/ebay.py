"""eBay, every country site (`-a site=de`, `co.uk`...; setting `EBAY_SITE`): search HTML is
server-rendered and fetched plainly; item pages are rendered (photos, screenshot).
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.ebay import search_url


class EbaySpider(SiteSpider):
    """Searches ebay and captures its listings."""

    name = "ebay"  # type: ignore[misc]
    render_search = False
    render_listing = True
    consent_click = "#gdpr-banner-accept"
    site_setting = "EBAY_SITE"
    build_search_url = staticmethod(search_url)
