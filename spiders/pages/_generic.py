"""A listing page read from what most product pages carry: JSON-LD Product, `og:` meta, `<h1>`.

For sites whose item pages have no dedicated reader yet (1688), so their listings are still
captured with a title, a price and images where the page states them.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from crawler.items import Listing
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, dig, jsonld_product, meta, to_decimal, unique
from spiders.pages.base import ListingPage


class GenericListingPage(ListingPage):
    """JSON-LD Product first, then `og:`/`product:` meta, then the `<h1>`."""

    id_pattern: ClassVar[re.Pattern[str] | None] = None
    """Finds the listing id (group 1) in the listing URL."""
    currency_hint: ClassVar[str | None] = None

    def listing(self) -> Listing:
        sel = self.selector
        product: dict[str, Any] = jsonld_product(sel) or {}
        canonical = abs_url(sel.css("link[rel=canonical]::attr(href)").get()
                            or meta(sel, "og:url"), self.url) or self.url
        found = self.id_pattern.search(canonical) or self.id_pattern.search(self.url) \
            if self.id_pattern else None
        listing = Listing(
            marketplace=self.marketplace,
            url=canonical,
            listing_id=found.group(1) if found else clean(str(product.get("sku") or "")),
            title=clean(product.get("name")) or clean(sel.css("h1").xpath("string()").get())
            or meta(sel, "og:title"),
        )
        offers = product.get("offers")
        offer: dict[str, Any] = (offers[0] if isinstance(offers, list) and offers else
                                 offers if isinstance(offers, dict) else {})
        amount = to_decimal(offer.get("price") or offer.get("lowPrice"))
        currency = clean(offer.get("priceCurrency"))
        if amount is None:
            amount = to_decimal(meta(sel, "product:price:amount"))
            currency = meta(sel, "product:price:currency")
        if amount is not None and currency:
            listing.price, listing.currency = amount, currency
            listing.price_text = f"{amount} {currency}"
        else:
            text = clean(sel.css("[itemprop=price]").xpath("string()").get())
            money = parse_price(text or "", self.currency_hint)
            if money is not None:
                listing.price, listing.currency, listing.price_text = (
                    money.amount, money.currency, text)
        image = product.get("image")
        images = image if isinstance(image, list) else [image]
        images.append(meta(sel, "og:image"))
        listing.images = unique(abs_url(u, self.url) for u in images if isinstance(u, str))
        seller = dig(offer, "seller", "name")
        listing.seller_name = clean(seller) if isinstance(seller, str) else None
        seller_url = dig(offer, "seller", "url")
        if listing.seller_name and isinstance(seller_url, str):
            listing.seller_url = abs_url(seller_url, self.url)
        brand = product.get("brand")
        listing.brand = clean(brand.get("name") if isinstance(brand, dict) else brand) \
            if isinstance(brand, dict | str) else None
        availability = str(offer.get("availability") or "")
        if availability.endswith(("OutOfStock", "SoldOut", "Discontinued")):
            listing.available = False
        return listing
