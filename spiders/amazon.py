"""Amazon, every country site (`-a site=co.uk`, `de`, `co.jp`...; setting `AMAZON_SITE`):
search HTML is fetched plainly; product pages are rendered.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.amazon import search_url


class AmazonSpider(SiteSpider):
    """Searches amazon and captures its listings."""

    name = "amazon"  # type: ignore[misc]
    render_search = False
    render_listing = True
    consent_click = "#sp-cc-accept"
    site_setting = "AMAZON_SITE"
    build_search_url = staticmethod(search_url)
