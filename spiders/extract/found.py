"""What one extraction strategy found on a page: its name and the listing fields it gave."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELDS = (
    "listing_id",
    "title",
    "price",
    "currency",
    "price_text",
    "seller_name",
    "seller_url",
    "images",
    "brand",
    "available",
)
"""The listing fields the layers fill and record a source for."""

PAGE = "page"
"""Layer 1: the marketplace's own page object (embedded state, stable attributes)."""
JSONLD = "jsonld"
MICRODATA = "microdata"
META = "meta"
"""Layer 2: structured data (JSON-LD `Product`/`Offer`, microdata, OpenGraph / `product:`)."""
HEURISTIC = "heuristic"
"""Layer 3: generic heuristics on the DOM (headings, price-shaped text, seller links)."""
URL = "url"
"""Layer 3: the listing id read from the page's URL."""

LAYER_OF = {PAGE: 1, JSONLD: 2, MICRODATA: 2, META: 2, HEURISTIC: 3, URL: 3}


@dataclass
class Found:
    """The fields one strategy found (only the ones it found; no None values)."""

    source: str
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Why the strategy gave nothing, when it failed (a page object that raised)."""

    def put(self, name: str, value: Any) -> None:
        """Keep `value` unless it is empty or the field is already set."""
        if value is None or value == "" or value == [] or name in self.fields:
            return
        self.fields[name] = value
