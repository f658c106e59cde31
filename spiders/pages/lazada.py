"""Lazada page objects (all country sites): search result cards and product pages.

Cards are `[data-qa-locator=product-item][data-item-id]` (class names are hashed, never
used): title from `a[title]`, price = the card text carrying a currency symbol (₱, RM, ฿,
Rp, ₫, $ with the page's `<html lang>`), "2k+ sold", "(384)" ratings, and the location as
the card's last text. Product pages (`/products/<slug>-i<item>[-s<sku>].html`, tested on a 2025
lazada.sg page rendered by Puppeteer, `tests/pages/lazada/item-1`): the title from
`h1.pdp-mod-product-badge-title`, the price shown in `#module_product_price_1` (`$17.00`) read
with the page's own currency (JSON-LD `priceCurrency`, else `"currency"` in `__moduleData__`:
`$` alone is ambiguous), the seller from `.seller-name__detail` (its shop URL without the
tracking query), the ratings count; JSON-LD `Product` and `og:` tags for the rest. A JSON-LD
price of 0 is Lazada's placeholder (the same page shows $17.00), never a price.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count, dig, jsonld_product, meta, to_decimal
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "LazadaListingPage", "LazadaSearchPage", "search_url"]

MARKETPLACE = "lazada"
_ITEM = re.compile(r"-i(\d+)(?:-s\d+)?\.html")
_SITES = {"ph": "com.ph", "my": "com.my", "sg": "sg", "th": "co.th", "id": "co.id", "vn": "vn"}
_STATE_CURRENCY = re.compile(r'"(?:currency|currencyCode)"\s*:\s*"([A-Z]{3})"')
_SHOWN_PRICE = ("#module_product_price_1 .pdp-price_type_normal, "
                ".pdp-product-price .pdp-price_type_normal")


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """Search URL for `term` (`site="ph"` or `"com.ph"` → lazada.com.ph; default ph)."""
    tld = (site or "ph").strip().lower().removeprefix("lazada.")
    tld = _SITES.get(tld, tld)
    return f"https://www.lazada.{tld}/catalog/?q={quote_plus(term)}&page={max(page, 1)}"


class LazadaSearchPage(SearchPage):
    """A Lazada catalog/search page."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        out = []
        cards = self.selector.css("[data-qa-locator=product-item][data-item-id]")
        for position, card in enumerate(cards, start=1):
            texts = [t for t in (clean(x) for x in card.xpath(
                ".//text()[not(ancestor::script)]").getall()) if t]
            money = next((m for m in (parse_price(t) for t in texts if re.search(r"\d", t))
                          if m), None)
            link = card.css("a[href*='.html']::attr(href)").get()
            url = abs_url(link, self.url) or ""
            img = card.css("img::attr(src)").get()
            out.append(SearchResult(
                url=url.split("?")[0],
                listing_id=card.attrib["data-item-id"],
                title=clean(card.css("a[title]::attr(title)").get()),
                price=money.amount if money else None,
                currency=money.currency if money else None,
                image_url=abs_url(img, self.url),
                sponsored=bool(re.search(r"\bsponsored\b", card.attrib.get("data-tracking", ""),
                                         re.I)),
                position=position,
            ))
        return out


class LazadaListingPage(ListingPage):
    """A Lazada product page (`/products/<slug>-i<item>-s<sku>.html`)."""

    marketplace = MARKETPLACE

    def _currency(self, offers: dict[str, Any]) -> str | None:
        """The page's own currency: the JSON-LD offer's, else the page state's."""
        declared = clean(str(offers.get("priceCurrency") or "")) or None
        if declared and len(declared) == 3:
            return declared.upper()
        for script in self.selector.xpath("//script[not(@src)]/text()").getall():
            if "__moduleData__" in script:
                found = _STATE_CURRENCY.search(script)
                if found:
                    return found.group(1)
        return None

    def listing(self) -> Listing:
        sel = self.selector
        product: dict[str, Any] = jsonld_product(sel) or {}
        offers: dict[str, Any] = (
            product["offers"] if isinstance(product.get("offers"), dict) else {})
        url = abs_url(sel.css("link[rel=canonical]::attr(href)").get(), self.url) or self.url
        match = _ITEM.search(url) or _ITEM.search(self.url)
        image = product.get("image")
        brand = product.get("brand")
        currency = self._currency(offers)
        shown = clean(sel.css(_SHOWN_PRICE).xpath("string()").get())
        money = parse_price(shown, currency) if shown and currency else None
        amount = None
        if money is None:  # no rendered price: the JSON-LD offer's, unless Lazada's 0
            amount = to_decimal(offers.get("lowPrice") or offers.get("price"))
            amount = amount if amount and amount > 0 else None
        seller = sel.css(".seller-name__detail a.seller-name__detail-name, "
                         ".seller-name__detail a")[:1]
        seller_url = abs_url(seller.attrib.get("href"), url) if seller else None
        return Listing(
            marketplace=MARKETPLACE,
            url=url.split("?")[0],
            listing_id=match.group(1) if match else None,
            title=clean(sel.css("h1.pdp-mod-product-badge-title").xpath("string()").get())
            or clean(product.get("name")) or meta(sel, "og:title"),
            price=money.amount if money else amount,
            currency=money.currency if money else (currency if amount else None),
            price_text=shown if money else None,
            seller_name=clean(seller.xpath("string()").get()) if seller else None,
            seller_url=seller_url.split("?")[0] if seller_url else None,
            images=[u for u in (abs_url(i, url) for i in (
                image if isinstance(image, list) else [image]) if isinstance(i, str)) if u],
            brand=clean(dig(brand, "name")) if isinstance(brand, dict) else clean(brand),
            rating=to_decimal(dig(product, "aggregateRating", "ratingValue")),
            review_count=count(dig(product, "aggregateRating", "ratingCount"))
            or count(sel.css(".pdp-review-summary__link").xpath("string()").get()),
        )


SEARCH_PAGE = LazadaSearchPage
LISTING_PAGE = LazadaListingPage
