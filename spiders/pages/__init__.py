"""Page objects by marketplace: `spiders.pages.<name>` defines SEARCH_PAGE and LISTING_PAGE."""

from __future__ import annotations

import importlib
import re
from typing import Literal

from spiders.pages.base import ListingPage, Page, SearchPage

Kind = Literal["search", "listing"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def page_class(marketplace: str, kind: Kind) -> type[Page]:
    """The page object class for a marketplace and page kind. `LookupError` if there is none."""
    if not _NAME.match(marketplace) and marketplace != "1688":
        raise LookupError(f"not a marketplace name: {marketplace!r}")
    module_name = "m1688" if marketplace == "1688" else marketplace
    try:
        module = importlib.import_module(f"spiders.pages.{module_name}")
    except ModuleNotFoundError as exc:
        raise LookupError(f"no page objects for marketplace {marketplace!r}") from exc
    attr = "SEARCH_PAGE" if kind == "search" else "LISTING_PAGE"
    cls = getattr(module, attr, None)
    if cls is None:
        raise LookupError(f"marketplace {marketplace!r} has no {kind} page object")
    assert issubclass(cls, SearchPage if kind == "search" else ListingPage)
    return cls


__all__ = ["ListingPage", "Page", "SearchPage", "page_class"]
