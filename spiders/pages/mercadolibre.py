"""Mercado Libre / Mercado Livre page objects: search (`poly-card` results) and item pages
(`/p/<catalog id>` catalogue pages and `/MLx-<id>` item pages).

`listing_id` is the seller's item id (`MCO1505218051`): on a catalogue page it comes from
`input[name=item_id]`, on search cards from the `wid=` fragment, the item URL, or, for ad
cards whose link is a `click1.` redirect, from the page's card JSON (`metadata.id` of the card
whose `url_params` match). Catalogue product ids go to `extra["catalog_product_id"]`.
Prices: JSON-LD `priceCurrency` / `meta[itemprop=priceCurrency]`; on cards the printed
symbol (`R$`), with the page's JSON `"currency_id"` for a bare `$`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count, dig, jsonld_product, to_decimal
from spiders.pages.base import ListingPage, SearchPage

__all__ = [
    "LISTING_PAGE", "SEARCH_PAGE", "MercadoLibreListingPage", "MercadoLibreSearchPage",
    "search_url",
]

MARKETPLACE = "mercadolibre"
_ITEM = re.compile(r"\b(M[A-Z]{2})-?(\d{6,})\b")
_WID = re.compile(r"[#&?]wid=(M[A-Z]{2}\d+)")
_CATALOG = re.compile(r"/p/(M[A-Z]{2}\d+)")
_CURRENCY = re.compile(r'"currency_id"\s*:\s*"([A-Z]{3})"')
_AD_META = re.compile(r'"metadata":\{"id":"(M[A-Z]{2}\d+)"[^{}]*?"url_params":"([^"]+)"')


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """Search URL for `term` on a country site (`site="com.br"`, `"com.co"`, `"com.mx"`...)."""
    tld = (site or "com.mx").strip().lower().removeprefix("mercadolibre.").removeprefix(
        "mercadolivre.")
    host = "lista.mercadolivre.com.br" if tld == "com.br" else f"listado.mercadolibre.{tld}"
    slug = quote(re.sub(r"\s+", "-", term.strip()))
    offset = "" if page <= 1 else f"_Desde_{(page - 1) * 48 + 1}_NoIndex_True"
    return f"https://{host}/{slug}{offset}"


def _item_id(text: str) -> str | None:
    match = _ITEM.search(text or "")
    return match.group(1) + match.group(2) if match else None


class MercadoLibreSearchPage(SearchPage):
    """A Mercado Libre search results page (`poly-card` layout)."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        currency = _CURRENCY.search(self.html)
        hint = currency.group(1) if currency else None
        ads = {unquote(p.replace("\\u002F", "/")): i for i, p in _AD_META.findall(self.html)}
        out = []
        cards = self.selector.css("li.ui-search-layout__item")
        for position, card in enumerate(cards, start=1):
            link = card.css("a.poly-component__title::attr(href), a::attr(href)").get() or ""
            sponsored = "click1." in link or "is_advertising=true" in link
            listing_id = _match(_WID, link)
            if not listing_id and sponsored:
                query = unquote(urlsplit(link).query)
                listing_id = next((i for p, i in ads.items() if p.lstrip("?") == query), None)
            listing_id = listing_id or _item_id(urlsplit(link).path)
            price = card.css(".poly-price__current .andes-money-amount")[:1]
            symbol = clean(price.css(".andes-money-amount__currency-symbol::text").get())
            fraction = clean(price.css(".andes-money-amount__fraction::text").get())
            cents = clean(price.css(".andes-money-amount__cents::text").get())
            money = parse_price(f"{symbol} {fraction}", hint) if fraction else None
            amount = money.amount if money else None
            if amount is not None and cents:
                amount = to_decimal(f"{amount}.{cents}")
            url = link.split("#")[0] if not sponsored else link
            if sponsored and listing_id:
                host = (urlsplit(self.url).netloc or "lista.mercadolivre.com.br").replace(
                    "lista.", "produto.").replace("listado.", "articulo.")
                url = f"https://{host}/{listing_id[:3]}-{listing_id[3:]}"
            seller = clean(card.css(".poly-component__seller").xpath("string()").get())
            out.append(SearchResult(
                url=abs_url(url, self.url) or url,
                listing_id=listing_id,
                title=clean(card.css(".poly-component__title").xpath("string()").get()),
                price=amount,
                currency=money.currency if money else None,
                seller_name=re.sub(r"^(?:Por|Vendido por)\s+", "", seller) if seller else None,
                image_url=abs_url(card.css("img.poly-component__picture::attr(src)").get(),
                                  self.url),
                sponsored=sponsored,
                position=position,
            ))
        return out

    def next_page_url(self) -> str | None:
        href = self.selector.css(
            "li.andes-pagination__button--next a::attr(href), link[rel=next]::attr(href)").get()
        return abs_url(href, self.url)


class MercadoLibreListingPage(ListingPage):
    """A Mercado Libre item or catalogue (`/p/`) page."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        product: dict[str, Any] = jsonld_product(sel) or {}
        offers: dict[str, Any] = (
            product["offers"] if isinstance(product.get("offers"), dict) else {})
        canonical = abs_url(sel.css("link[rel=canonical]::attr(href)").get(), self.url)
        url = canonical or self.url
        item_id = clean(sel.css("input[name=item_id]::attr(value)").get()) or _item_id(
            urlsplit(url).path if not _CATALOG.search(url) else "")
        price_node = sel.css(".ui-pdp-price__second-line .andes-money-amount")[:1]
        seller_link = sel.css(".ui-pdp-seller a::attr(href), .ui-seller-data a::attr(href)").get()
        subtitle = clean(sel.css(".ui-pdp-subtitle::text").get()) or ""
        images = [
            img.attrib.get("data-zoom") or img.attrib.get("src")
            for img in sel.css(".ui-pdp-gallery__figure img")
        ]
        listing = Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id=item_id,
            title=clean(sel.css("h1.ui-pdp-title::text").get()) or clean(product.get("name")),
            price=to_decimal(sel.css("meta[itemprop=price]::attr(content)").get())
            or to_decimal(offers.get("price")),
            currency=clean(sel.css("meta[itemprop=priceCurrency]::attr(content)").get())
            or clean(offers.get("priceCurrency")),
            price_text=clean("".join(price_node.xpath(".//span[@aria-hidden='true']//text()")
                                     .getall())) or clean(price_node.xpath("string()").get()),
            seller_name=clean(sel.css(".ui-seller-data-header__title").xpath("string()").get())
            or clean(sel.css(".ui-pdp-seller__link-trigger").xpath("string()").get()),
            seller_url=abs_url(seller_link.split("?")[0].split("#")[0], self.url)
            if seller_link else None,
            images=[u for u in dict.fromkeys(images) if u],
            brand=clean(product.get("brand")) if isinstance(product.get("brand"), str)
            else clean(dig(product, "brand", "name")),
            rating=to_decimal(clean(sel.css(".ui-pdp-review__rating::text").get())),
            review_count=count(sel.css(".ui-pdp-review__amount::text").get()),
            units_sold=count(subtitle.partition("|")[2]) if "|" in subtitle else None,
            condition=clean(subtitle.partition("|")[0]) or None,
            ship_from=clean(dig(offers, "shippingDetails", "shippingOrigin", "addressRegion")),
        )
        catalog = _CATALOG.search(url)
        if catalog:
            listing.extra["catalog_product_id"] = catalog.group(1)
        return listing


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text or "")
    return match.group(1) if match else None


SEARCH_PAGE = MercadoLibreSearchPage
LISTING_PAGE = MercadoLibreListingPage
