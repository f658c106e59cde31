"""Where each setting comes from.

A CLI flag wins, then a MARKWATCH_* variable, then the watchlist's `settings:`, then the default.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from storage.uri import DEFAULT_STORE, default_catalog_uri

if TYPE_CHECKING:
    from crawler.watchlist import Watchlist


def resolve_store(flag: str | None, watchlist: Watchlist | None = None) -> str:
    """The store URI to use."""
    return (
        flag
        or os.environ.get("MARKWATCH_STORE")
        or (watchlist.settings.store if watchlist else None)
        or DEFAULT_STORE
    )


def resolve_catalog(flag: str | None, store: str, watchlist: Watchlist | None = None) -> str:
    """The catalog URI to use."""
    return (
        flag
        or os.environ.get("MARKWATCH_CATALOG")
        or (watchlist.settings.catalog if watchlist else None)
        or default_catalog_uri(store)
    )
