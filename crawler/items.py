"""Typed records of what a page says: search results, listings and bot walls.

Page objects produce these from a page's HTML alone; the crawl adds the watch and the evidence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Money:
    """A price as printed on the page."""

    amount: Decimal
    """The amount, exact (never a float)."""
    currency: str
    """ISO 4217 code taken from the page (symbol, code or structured data), never guessed."""


@dataclass
class SearchResult:
    """One result on a search results page."""

    url: str
    """Absolute URL of the listing."""
    listing_id: str | None = None
    """The marketplace's own identifier of the listing."""
    title: str | None = None
    """Title as shown in the result."""
    price: Decimal | None = None
    """Price amount shown in the result (the lower bound of a range)."""
    currency: str | None = None
    """ISO 4217 currency of `price`."""
    seller_name: str | None = None
    """Seller or store name, when the result shows it."""
    image_url: str | None = None
    """Thumbnail URL."""
    sponsored: bool = False
    """True for an advertisement / promoted result."""
    placeholder: bool = False
    """True for a result that is not a real listing (template cards, "shop on ..." tiles)."""
    position: int = 0
    """1-based rank on the page, counting every result."""
    organic_position: int | None = None
    """1-based rank among the results that are neither sponsored nor placeholders (None for
    those); set by `spiders.extract.search`."""


@dataclass
class Listing:
    """The fields of one listing, as extracted from its page."""

    marketplace: str
    """Name of the marketplace (the spider's name or the recipe's key)."""
    url: str
    """Canonical URL of the listing."""
    listing_id: str | None = None
    """The marketplace's own identifier of the listing."""
    title: str | None = None
    """Title as shown on the page."""
    price: Decimal | None = None
    """Price amount; for a range, the lower bound (the range text is kept in `price_text`)."""
    currency: str | None = None
    """ISO 4217 code, taken from the page."""
    price_text: str | None = None
    """The price exactly as printed."""
    seller_name: str | None = None
    """Seller or store name."""
    seller_url: str | None = None
    """Absolute URL of the seller's page."""
    images: list[str] = field(default_factory=list)
    """Absolute URLs of the listing's product images, in page order."""
    brand: str | None = None
    """Brand as stated by the seller."""
    rating: Decimal | None = None
    """Average rating as shown (usually out of 5)."""
    review_count: int | None = None
    """Number of reviews or ratings."""
    units_sold: int | None = None
    """Units sold as shown ("1,000+ sold" gives 1000)."""
    ship_from: str | None = None
    """Where the item ships from, as shown."""
    condition: str | None = None
    """Condition as shown (new, used, ...)."""
    available: bool = True
    """False when the page says the listing is gone or unavailable."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Site-specific fields worth keeping (JSON-serialisable values only)."""
    field_sources: dict[str, str] = field(default_factory=dict)
    """Which strategy gave each field (`page`, `jsonld`, `microdata`, `meta`, `heuristic`,
    `url`; see `spiders.extract`); empty for a listing read by a page object alone."""
    sponsored: bool = False
    """True when the crawl reached this listing from a sponsored search result."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: decimals as strings, keys in field order, lone surrogates a
        page's JSON put in its text replaced (`crawler.textsafe`)."""
        from crawler.textsafe import scrub

        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Decimal) else scrub(value)
        return out


@dataclass(frozen=True)
class Block:
    """Why a page is not what was asked for (captcha, bot wall, login wall, rate limit)."""

    kind: str
    """One of `captcha`, `bot-wall`, `login-wall`, `rate-limit`."""
    reason: str
    """A short human-readable explanation naming the evidence (e.g. the vendor's marker)."""
