"""DHgate: server-rendered (Next.js) search pages are fetched plainly; item pages rendered.
`site`: language subdomain (`de`), default www.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.dhgate import search_url


class DhgateSpider(SiteSpider):
    """Searches dhgate and captures its listings."""

    name = "dhgate"  # type: ignore[misc]
    render_search = False
    render_listing = True
    site_setting = "DHGATE_SITE"
    build_search_url = staticmethod(search_url)
