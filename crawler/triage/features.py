"""Gathering what the scorer needs about one capture: page text, brand, price, seller, photos."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from crawler.triage.brands import find_brand
from crawler.triage.rates import RateBook
from crawler.triage.signals import Features
from crawler.triage.text import contacts
from crawler.triage.vocabulary import Vocabulary

_RATING = re.compile(r"(\d{1,3}(?:[.,]\d{1,2})?)\s?%\s*(?:positive|positiv|positif|好评)",
                     re.IGNORECASE)


@dataclass(frozen=True)
class BrandInfo:
    """What the watchlist says about a brand, as triage uses it."""

    name: str
    msrp: dict[str, Any] | None = None
    """{currency, min, max} (amounts as strings) or None."""
    references: tuple[tuple[str, str], ...] = ()
    """(reference image path, perceptual hash hex)."""


@dataclass
class Context:
    """What the rest of the catalog says about this listing's seller and photos."""

    seller_listings: int = 0
    seller_marketplaces: list[str] = field(default_factory=list)
    shared_images: list[dict[str, Any]] = field(default_factory=list)
    official_images: list[dict[str, Any]] = field(default_factory=list)


def seller_rating(text: str) -> float | None:
    """The seller's positive-feedback percentage when the page states one."""
    m = _RATING.search(text)
    if not m:
        return None
    value = float(m.group(1).replace(",", "."))
    return value if 0 <= value <= 100 else None


def build(capture: dict[str, Any], text: str, brand: BrandInfo, rates: RateBook,
          vocabulary: Vocabulary, context: Context) -> Features:
    """Features of a capture (a catalog row: title, price, currency, started_at)."""
    title = capture.get("title") or ""
    whole = f"{title}\n{text}"
    price = _decimal(capture.get("price"))
    currency = capture.get("currency")
    conversion = None
    if price is not None and currency and brand.msrp:
        conversion = rates.convert(price, currency, brand.msrp["currency"],
                                   capture.get("started_at"))
    accessory = vocabulary.find(title, "accessory")
    return Features(
        brand=brand.name,
        title=title,
        price=price,
        currency=currency,
        msrp=brand.msrp,
        conversion=conversion,
        brand_match=find_brand(whole, brand.name),
        counterfeit_terms=vocabulary.find(whole, "counterfeit"),
        accessory_terms=accessory,
        seller_listings=context.seller_listings,
        seller_marketplaces=context.seller_marketplaces,
        seller_rating=seller_rating(text),
        official_images=context.official_images,
        shared_images=context.shared_images,
    )


def page_contacts(text: str) -> list[tuple[str, str]]:
    """Contacts and shop links found in the page text."""
    return contacts(text)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
