"""Etsy page objects: search/shop result cards (`.v2-listing-card[data-listing-id]`) and
listing pages (JSON-LD `Product` with an `AggregateOffer`, buy box, page JSON).

Etsy search is usually behind DataDome; shop pages use the same cards, so the search page
object reads both. Card prices print a bare `$`: the currency comes from the page's own
JSON-LD `ItemList` offers or its `"currency_code"` setting.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count, dig, iter_jsonld, jsonld_product, to_decimal
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "EtsyListingPage", "EtsySearchPage", "search_url"]

MARKETPLACE = "etsy"
_LISTING_ID = re.compile(r"/listing/(\d+)")
_CURRENCY = re.compile(r'"(?:locale_)?currency_code"\s*:\s*"([A-Z]{3})"')
_SHOP = re.compile(r'"shop_name"\s*:\s*"([^"]+)"')


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` (Etsy has one site; `site` is ignored)."""
    return f"https://www.etsy.com/search?q={quote_plus(term)}&page={max(page, 1)}"


def _page_currency(html: str) -> str | None:
    match = _CURRENCY.search(html)
    return match.group(1) if match else None


class EtsySearchPage(SearchPage):
    """Etsy search results or shop page: listing cards."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = self._ld_currency() or _page_currency(self.html)
        out = []
        cards = self.selector.css(".v2-listing-card[data-listing-id]")
        for position, card in enumerate(cards, start=1):
            listing_id = card.attrib["data-listing-id"]
            href = card.css("a[href*='/listing/']::attr(href)").get() or card.attrib.get("href")
            text = clean(" ".join(card.css(
                ".n-listing-card__price .currency-symbol::text, "
                ".n-listing-card__price .currency-value::text").getall()[:2])) or clean(
                " ".join(card.css(".currency-symbol::text, .currency-value::text").getall()[:2]))
            money = parse_price(text or "", hint)
            url = abs_url(href, self.url)
            img = card.css("img")[:1]
            image = (img.attrib.get("src") or img.attrib.get("data-src")) if img else None
            ad_text = " ".join(card.css(".wt-screen-reader-only::text, span::text").getall())
            out.append(SearchResult(
                url=url.split("?")[0] if url else f"https://www.etsy.com/listing/{listing_id}",
                listing_id=listing_id,
                title=clean(card.css(".v2-listing-card__title").xpath("string()").get()),
                price=money.amount if money else None,
                currency=money.currency if money else None,
                image_url=abs_url(image, self.url),
                sponsored=bool(card.attrib.get("data-is-ad") == "true"
                               or re.search(r"\bad (?:by|from) Etsy seller\b", ad_text, re.I)),
                position=position,
            ))
        return out

    def _ld_currency(self) -> str | None:
        for data in iter_jsonld(self.selector):
            for element in data.get("itemListElement") or []:
                currency = dig(element, "item", "offers", "priceCurrency")
                if currency:
                    return str(currency)
        return None

    def next_page_url(self) -> str | None:
        href = self.selector.css(
            "a[data-page].wt-action-group__item[aria-label*='Next']::attr(href), "
            "link[rel=next]::attr(href)").get()
        return abs_url(href, self.url)


class EtsyListingPage(ListingPage):
    """An Etsy listing page (`/listing/<id>/<slug>`)."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        product: dict[str, Any] = jsonld_product(sel) or {}
        canonical = abs_url(sel.css("link[rel=canonical]::attr(href)").get(), self.url)
        url = canonical or str(product.get("url") or self.url)
        match = _LISTING_ID.search(url) or _LISTING_ID.search(self.url)
        offers: dict[str, Any] = (
            product["offers"] if isinstance(product.get("offers"), dict) else {})
        price_node = sel.css("[data-buy-box-region=price] p")[:1]
        price_text = clean(" ".join(
            price_node.xpath(".//text()[not(ancestor::*[contains(@class,'screen-reader')])]"
                             ).getall())) if price_node else None
        amount = to_decimal(offers.get("lowPrice") or offers.get("price"))
        currency = clean(offers.get("priceCurrency"))
        if amount is None:
            money = parse_price(price_text or "", _page_currency(self.html))
            amount, currency = (money.amount, money.currency) if money else (None, None)
        brand = product.get("brand")
        shop = _SHOP.search(self.html)
        seller = shop.group(1) if shop else (brand.get("name") if isinstance(brand, dict) else None)
        images = [
            img.get("contentURL") or img.get("url") if isinstance(img, dict) else img
            for img in product.get("image") or []
        ]
        availability = str(offers.get("availability") or "")
        listing = Listing(
            marketplace=MARKETPLACE,
            url=f"https://www.etsy.com/listing/{match.group(1)}" if match else url,
            listing_id=match.group(1) if match else clean(product.get("sku")),
            title=clean(sel.css("h1[data-buy-box-listing-title]").xpath("string()").get())
            or clean(product.get("name")),
            price=amount,
            currency=currency,
            price_text=price_text,
            seller_name=seller,
            seller_url=f"https://www.etsy.com/shop/{seller}" if seller else None,
            images=[u for u in images if isinstance(u, str)],
            brand=clean(brand.get("name")) if isinstance(brand, dict) else clean(brand),
            rating=to_decimal(dig(product, "aggregateRating", "ratingValue")),
            review_count=count(dig(product, "aggregateRating", "reviewCount")),
            ship_from=clean(dig(offers, "shippingDetails", "shippingOrigin", "addressCountry")),
            available=not availability.endswith(("OutOfStock", "SoldOut", "Discontinued")),
        )
        high = to_decimal(offers.get("highPrice"))
        if high is not None and high != amount:
            listing.extra["price_high"] = str(high)
        return listing


SEARCH_PAGE = EtsySearchPage
LISTING_PAGE = EtsyListingPage
