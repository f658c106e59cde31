"""DHgate page objects: search results and item pages.

Search (no saved page yet, so read by structure only): every link to
`/product/<slug>/<itemcode>.html` is a result, once per item code, in page order; the title is
the link's `title` or text, the price the first `US $`/`$` amount in the link's card.

JSON-LD `Product` first (`sku` = item code, `offers.price`/`priceCurrency`, `itemCondition`,
`aggregateRating`, `offers.seller.name`, images); then the page: `h1` for the title (the
JSON-LD `name` is truncated and on some locales literally holds the placeholder `&Price;`),
the `self.__next_f` RSC payload for the supplier (`suppliername`, `supplierSeq` = store id),
the canonical `/product/<slug>/<itemcode>.html` for URL and id.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus, urlsplit

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, dig, jsonld_product, to_decimal, unique
from spiders.pages.base import ListingPage, SearchPage

MARKETPLACE = "dhgate"
_ITEM_CODE = re.compile(r"/product/[^/]+/(\d+)\.html")
_PLACEHOLDER_BRANDS = {"dhgate", "no brand", "none", "unbranded", "generic"}
_IMAGE_SIZE = re.compile(r"/(?:webp/m/)?\d+x\d+/")
_CARD = "ancestor-or-self::*[self::li or self::article or contains(@class, 'item')][1]"


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` (`site="de"` → de.dhgate.com; default www)."""
    host = f"{(site or 'www').strip().lower()}.dhgate.com"
    return (f"https://{host}/wholesale/search.do?act=search&searchkey={quote_plus(term)}"
            f"&pageNum={max(page, 1)}")


class DhgateSearchPage(SearchPage):
    """`/wholesale/search.do?searchkey=` result pages (see the module doc)."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        out: list[SearchResult] = []
        seen: set[str] = set()
        for link in self.selector.css("a[href*='/product/']"):
            url = abs_url(link.attrib.get("href"), self.url)
            match = _ITEM_CODE.search(url or "")
            if not url or not match or match.group(1) in seen:
                continue
            seen.add(match.group(1))
            card = link.xpath(_CARD)
            text = clean(card.xpath("string()").get()) if card else None
            money = parse_price(text or "", "USD") if text and "$" in text else None
            out.append(SearchResult(
                url=url.split("?")[0].split("#")[0],
                listing_id=match.group(1),
                title=clean(link.attrib.get("title")) or clean(link.xpath("string()").get()),
                price=money.amount if money else None,
                currency=money.currency if money else None,
                image_url=abs_url(link.css("img::attr(src)").get(), self.url),
                sponsored=bool(card.css("[class*=sponsor], [class*=-ad-]")) if card else False,
                position=len(out) + 1,
            ))
        return out

    def next_page_url(self) -> str | None:
        href = self.selector.css("a.next::attr(href), a[rel=next]::attr(href)").get()
        return abs_url(href, self.url)


def _rsc(html: str, key: str) -> str | None:
    """A scalar `"key":value` from the page's (possibly backslash-escaped) RSC payload."""
    match = re.search(rf'\\?"{key}\\?"\s*:\s*\\?"?([^"\\,}}]+)', html)
    return clean(match.group(1)) if match else None


def _condition(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    name = value.rsplit("/", 1)[-1].removesuffix("Condition")
    return name.lower() or None


def _images(product: dict[str, Any], base: str) -> list[str]:
    raw = product.get("image") or []
    raw = raw if isinstance(raw, list) else [raw]
    urls = [r.get("contentURL") or r.get("url") if isinstance(r, dict) else r for r in raw]
    seen: set[str] = set()
    out: list[str] = []
    for url in urls:
        absolute = abs_url(url if isinstance(url, str) else None, base)
        if not absolute:
            continue
        key = _IMAGE_SIZE.sub("/", urlsplit(absolute).path)
        if key not in seen:
            seen.add(key)
            out.append(absolute)
    return out


class DhgateListingPage(ListingPage):
    """`/product/<slug>/<itemcode>.html`."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        product = jsonld_product(sel) or {}
        offers = product.get("offers") or {}
        first = offers[0] if isinstance(offers, list) and offers else offers
        offer: dict[str, Any] = first if isinstance(first, dict) else {}
        canonical = sel.css("link[rel=canonical]::attr(href)").get() or dig(offer, "url")
        url = (abs_url(canonical, self.url) or self.url).split("#")[0]
        match = _ITEM_CODE.search(url) or _ITEM_CODE.search(self.url)
        currency = offer.get("priceCurrency") if isinstance(offer, dict) else None
        amount = to_decimal(offer.get("price")) if isinstance(offer, dict) else None
        price_text: str | None = None
        if amount is None:
            price_text = clean(sel.css("[itemprop=price]::attr(content)").get())
            money = parse_price(price_text or "", currency)
            amount, currency = (money.amount, money.currency) if money else (None, None)
        title = clean(sel.css("h1").xpath("string()").get())
        name = clean(product.get("name"))
        if not title and name and "&Price;" not in name:
            title = name
        raw_brand = product.get("brand")
        brand = clean(raw_brand.get("name") if isinstance(raw_brand, dict) else raw_brand)
        if brand and brand.lower() in _PLACEHOLDER_BRANDS:
            brand = None
        seller = clean(dig(offer, "seller", "name")) or _rsc(self.html, "suppliername")
        store_id = _rsc(self.html, "supplierSeq")
        host = urlsplit(url).netloc or "www.dhgate.com"
        rating = product.get("aggregateRating") or {}
        reviews = rating.get("reviewCount")
        availability = str(offer.get("availability") or "") if isinstance(offer, dict) else ""
        return Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id=(match.group(1) if match else None) or clean(str(product.get("sku") or "")),
            title=title,
            price=amount,
            currency=currency if amount is not None else None,
            price_text=price_text,
            seller_name=seller,
            seller_url=f"https://{host}/store/{store_id}" if store_id and store_id.isdigit()
            else None,
            images=unique(_images(product, url)),
            brand=brand,
            rating=to_decimal(rating.get("ratingValue")) if reviews else None,
            review_count=int(str(reviews)) if str(reviews or "").isdigit() else None,
            condition=_condition(product.get("itemCondition") or offer.get("itemCondition")),
            available="OutOfStock" not in availability and "Discontinued" not in availability,
            extra={"mpn": product["mpn"]} if product.get("mpn") else {},
        )


LISTING_PAGE = DhgateListingPage
SEARCH_PAGE = DhgateSearchPage
