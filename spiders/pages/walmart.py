"""Walmart page objects, read from the Next.js state in `script#__NEXT_DATA__`.

Search: `props.pageProps.initialData.searchResult.itemStacks[*].items[]` (`__typename ==
"Product"`; `isSponsoredFlag` marks ads). Item: `props.pageProps.initialData.data.product`.
Search prices print a bare `$`; the page's `<html lang>` region (en-US) resolves it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, dig, to_decimal
from spiders.pages.base import ListingPage, Page, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "WalmartListingPage", "WalmartSearchPage", "search_url"]

MARKETPLACE = "walmart"
_REGION_CURRENCY = {"us": "USD", "ca": "CAD", "mx": "MXN"}


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` (`site="ca"` → walmart.ca)."""
    tld = (site or "com").strip().lower().removeprefix("walmart.")
    return f"https://www.walmart.{tld}/search?q={quote_plus(term)}&page={max(page, 1)}"


def next_data(page: Page) -> dict[str, Any]:
    """The page's `__NEXT_DATA__` JSON ({} when absent or broken)."""
    raw = page.selector.css("script#__NEXT_DATA__::text").get()
    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _lang_currency(page: Page) -> str | None:
    lang = (page.selector.xpath("/html/@lang").get() or "").lower()
    return _REGION_CURRENCY.get(lang.rpartition("-")[2]) if "-" in lang else None


class WalmartSearchPage(SearchPage):
    """A Walmart search page (`/search?q=`)."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = _lang_currency(self)
        stacks = dig(next_data(self), "props", "pageProps", "initialData", "searchResult",
                     "itemStacks") or []
        out = []
        items = [i for s in stacks for i in (s.get("items") or []) if isinstance(i, dict)]
        for position, item in enumerate(items, start=1):
            if item.get("__typename") != "Product":
                continue
            text = clean(dig(item, "priceInfo", "linePrice")) or ""
            money = parse_price(text, hint)
            amount = money.amount if money else to_decimal(item.get("price"))
            url = abs_url(item.get("canonicalUrl"), self.url) or ""
            out.append(SearchResult(
                url=url.split("?")[0],
                listing_id=clean(item.get("usItemId")),
                title=clean(item.get("name")),
                price=amount,
                currency=money.currency if money else None,
                seller_name=clean(item.get("sellerName")),
                image_url=clean(item.get("image")) or clean(dig(item, "imageInfo",
                                                                 "thumbnailUrl")),
                sponsored=bool(item.get("isSponsoredFlag")),
                position=position,
            ))
        return out


class WalmartListingPage(ListingPage):
    """A Walmart item page (`/ip/<slug>/<usItemId>`)."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        product = dig(next_data(self), "props", "pageProps", "initialData", "data",
                      "product") or {}
        current = dig(product, "priceInfo", "currentPrice") or {}
        canonical = abs_url(self.selector.css("link[rel=canonical]::attr(href)").get(),
                            self.url)
        url = canonical or abs_url(product.get("canonicalUrl"), self.url) or self.url
        images = [i.get("url") for i in dig(product, "imageInfo", "allImages") or []
                  if isinstance(i, dict)]
        location = dig(product, "location") or {}
        listing = Listing(
            marketplace=MARKETPLACE,
            url=url.split("?")[0],
            listing_id=clean(product.get("usItemId")),
            title=clean(product.get("name")) or clean(self.selector.css("h1").xpath(
                "string()").get()),
            price=to_decimal(current.get("price")),
            currency=clean(current.get("currencyUnit")),
            price_text=clean(current.get("priceString")),
            seller_name=clean(product.get("sellerDisplayName") or product.get("sellerName")),
            seller_url=clean(product.get("sellerStoreFrontURL")),
            images=[u for u in images if isinstance(u, str)],
            brand=clean(product.get("brand")),
            rating=to_decimal(product.get("averageRating")),
            review_count=product.get("numberOfReviews"),
            available=product.get("availabilityStatus") != "OUT_OF_STOCK",
        )
        if product.get("sellerName") and product.get("sellerName") != listing.seller_name:
            listing.extra["seller_legal_name"] = product["sellerName"]
        if product.get("sellerId"):
            listing.extra["seller_id"] = product["sellerId"]
        if location.get("city"):
            state = location.get("stateOrProvinceCode")
            listing.extra["priced_for_location"] = f"{location['city']}, {state}"
        return listing


SEARCH_PAGE = WalmartSearchPage
LISTING_PAGE = WalmartListingPage
