"""Etsy: both kinds rendered (DataDome checks run in the browser).
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.etsy import search_url


class EtsySpider(SiteSpider):
    """Searches etsy and captures its listings."""

    name = "etsy"  # type: ignore[misc]
    render_search = True
    render_listing = True
    consent_click = "button[data-gdpr-single-choice-accept]"
    build_search_url = staticmethod(search_url)
