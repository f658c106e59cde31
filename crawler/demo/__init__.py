"""The bundled demo marketplace: a small fictional shop served on 127.0.0.1.

Used by ``markwatch demo`` and as the fixture of the end-to-end tests::

    from crawler.demo import DemoMarketplace, watchlist_path

    with DemoMarketplace() as market:
        print(market.base_url)                      # http://127.0.0.1:PORT
        truth = market.catalog.search("lumara")     # what the search pages show, in order

Search pages are rendered by JavaScript, listing pages lazy-load their photos, and every page
sits behind a cookie-consent overlay, so only a crawler that renders, clicks and scrolls gets
everything.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from crawler.demo.data import BRANDS, Catalog, DemoListing, DemoSeller, build_catalog
from crawler.demo.server import DemoMarketplace

__all__ = [
    "BRANDS",
    "Catalog",
    "DemoListing",
    "DemoMarketplace",
    "DemoSeller",
    "build_catalog",
    "watchlist_path",
]


def watchlist_path() -> Path:
    """Path of the bundled sample watchlist (``crawler/demo/watchlist.yaml``)."""
    return Path(str(resources.files("crawler.demo") / "watchlist.yaml"))
