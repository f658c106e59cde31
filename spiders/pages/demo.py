"""Page objects of the bundled demo marketplace."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, jsonld_product
from spiders.pages.base import ListingPage, SearchPage

GONE_TEXT = "no longer available"


class DemoSearchPage(SearchPage):
    """A rendered search page: `#results .result` cards drawn by the page's script."""

    marketplace = "demo"

    def results(self) -> list[SearchResult]:
        out = []
        for position, card in enumerate(self.selector.css("#results .result"), start=1):
            href = card.css("a.result-link::attr(href)").get()
            url = abs_url(href, self.url)
            if not url:
                continue
            price_text = clean(card.css(".price::text").get())
            money = parse_price(price_text) if price_text else None
            out.append(
                SearchResult(
                    url=url,
                    listing_id=card.attrib.get("data-listing-id"),
                    title=clean(card.css("a.result-link::text").get()),
                    price=money.amount if money else None,
                    currency=money.currency if money else None,
                    seller_name=clean(card.css(".seller::text").get()),
                    image_url=abs_url(card.css("img::attr(src)").get(), self.url),
                    sponsored="sponsored" in (card.attrib.get("class") or "").split(),
                    position=position,
                )
            )
        return out

    def next_page_url(self) -> str | None:
        return abs_url(self.selector.css("a.pagination-next::attr(href)").get(), self.url)


class DemoListingPage(ListingPage):
    """A listing page: JSON-LD Product first, microdata and markup as fallbacks."""

    marketplace = "demo"

    def listing(self) -> Listing:
        sel = self.selector
        product = jsonld_product(sel) or {}
        offers = product.get("offers") or {}
        if isinstance(offers, list):
            offers = offers[0] if offers else {}
        price_text = clean(sel.css(".price::text").get())
        amount = _decimal(offers.get("price") or sel.css("[itemprop=price]::attr(content)").get())
        currency = offers.get("priceCurrency") or sel.css(
            "[itemprop=priceCurrency]::attr(content)").get()
        if amount is None and price_text:
            money = parse_price(price_text, currency)
            if money:
                amount, currency = money.amount, money.currency
        images = product.get("image") or sel.css(".gallery img::attr(data-src)").getall()
        if isinstance(images, str):
            images = [images]
        canonical = sel.css("link[rel=canonical]::attr(href)").get() or product.get("url")
        brand = product.get("brand")
        gone = self.status in (404, 410) or GONE_TEXT in (
            " ".join(sel.css("main ::text").getall()).lower())
        return Listing(
            marketplace="demo",
            url=abs_url(canonical, self.url) or self.url,
            listing_id=clean(product.get("sku")) or clean(sel.css("[itemprop=sku]::text").get()),
            title=clean(product.get("name")) or clean(sel.css("h1::text").get()),
            price=amount,
            currency=currency,
            price_text=price_text,
            seller_name=clean(sel.css(".seller a::text").get()),
            seller_url=abs_url(sel.css(".seller a::attr(href)").get(), self.url),
            images=[u for u in (abs_url(i, self.url) for i in images) if u],
            brand=clean(brand.get("name")) if isinstance(brand, dict) else clean(brand),
            available=not gone,
        )


def _decimal(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


SEARCH_PAGE = DemoSearchPage
LISTING_PAGE = DemoListingPage
