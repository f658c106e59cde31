"""JD.com: both kinds rendered (prices are filled in by script).
"""

from __future__ import annotations

from spiders._site import SiteSpider
from spiders.pages.jd import search_url


class JdSpider(SiteSpider):
    """Searches jd and captures its listings."""

    name = "jd"  # type: ignore[misc]
    render_search = True
    render_listing = True
    build_search_url = staticmethod(search_url)
