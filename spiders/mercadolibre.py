"""Mercado Libre / Mercado Livre, every country site (`-a site=com.br`, `com.ar`, `com.co`...;
setting `MERCADOLIBRE_SITE`, default `com.mx`): search HTML fetched plainly, items rendered.
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.mercadolibre import search_url


class MercadolibreSpider(SiteSpider):
    """Searches mercadolibre and captures its listings."""

    name = "mercadolibre"  # type: ignore[misc]
    render_search = False
    render_listing = True
    consent_click = "button.cookie-consent-banner-opt-out__action--key-accept"
    site_setting = "MERCADOLIBRE_SITE"
    build_search_url = staticmethod(search_url)
