"""AliExpress: search and item pages are rendered (item pages are a client-side shell; the
Baxia slider captcha needs a browser to show). `site`: language subdomain (`es`) or host.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.aliexpress import search_url


class AliexpressSpider(SiteSpider):
    """Searches aliexpress and captures its listings."""

    name = "aliexpress"  # type: ignore[misc]
    render_search = True
    render_listing = True
    consent_click = "button.btn-accept"
    site_setting = "ALIEXPRESS_SITE"
    build_search_url = staticmethod(search_url)
