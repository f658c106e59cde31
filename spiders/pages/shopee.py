"""Shopee page objects (every country site: shopee.sg, .vn, .co.th, .com.my, .ph, .tw...).

Shopee's web pages are a client-side shell: results and item data arrive from its JSON API
after load, so both page kinds are rendered and read from the rendered DOM. A result card is
a link to `/<slug>-i.<shopid>.<itemid>` (the listing id is `<shopid>.<itemid>`), inside
`li.shopee-search-item-result__item`, `[data-sqe=item]` or a shop page's
`.shop-search-result-view__item`, with the name in `[data-sqe=name]`
or the image's `alt`, a price with the site's currency sign, and an "Ad" label on promoted
cards. Item pages carry a JSON-LD `Product` for search engines, read by the generic layers.
Outside a logged-in session Shopee often answers with its login page, recognised as a
`login-wall` block (`tests/pages/shopee/blocked-1`). Tested on a 2025 shopee.sg search page
shop page and item page saved from a browser (`search-1`, `shop-1`, `item-1`).
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus, urlsplit

from crawler.items import SearchResult
from spiders.pages._cardprice import card_price
from spiders.pages._generic import GenericListingPage
from spiders.pages._util import abs_url, clean
from spiders.pages.base import SearchPage

MARKETPLACE = "shopee"
ITEM_ID = re.compile(r"-i\.(\d+\.\d+)(?:[/?#]|$)|/product/(\d+)/(\d+)")
_CURRENCY_BY_TLD = {"sg": "SGD", "vn": "VND", "co.th": "THB", "com.my": "MYR", "ph": "PHP",
                    "tw": "TWD", "co.id": "IDR", "com.br": "BRL", "cl": "CLP", "com.co": "COP",
                    "com.mx": "MXN"}
"""The one currency each country site sells in (Shopee shows a bare `$` or `₫` sign)."""
_AD = re.compile(r"^(?:ad|ads|quảng cáo|iklan|โฆษณา|廣告)$", re.IGNORECASE)


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` on a country site (`site="vn"` → shopee.vn; default sg);
    Shopee counts pages from 0."""
    tld = (site or "sg").strip().lower().removeprefix("shopee.")
    return f"https://shopee.{tld}/search?keyword={quote_plus(term)}&page={max(page, 1) - 1}"


def listing_id(url: str) -> str | None:
    """`<shopid>.<itemid>` from `/<slug>-i.<shopid>.<itemid>` or `/product/<shop>/<item>`."""
    match = ITEM_ID.search(urlsplit(url).path)
    if not match:
        return None
    return match.group(1) or f"{match.group(2)}.{match.group(3)}"


def site_currency(url: str) -> str | None:
    """The currency of the Shopee country site a URL is on."""
    host = urlsplit(url).hostname or ""
    return _CURRENCY_BY_TLD.get(host.split("shopee.", 1)[-1])


class ShopeeSearchPage(SearchPage):
    """`/search?keyword=` as rendered."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = site_currency(self.url)
        cards = self.selector.css("li.shopee-search-item-result__item, [data-sqe=item], "
                                  ".shop-search-result-view__item")
        out: list[SearchResult] = []
        for card in cards:
            href = card.xpath(".//a[contains(@href, '-i.')]/@href").get()
            url = abs_url(href, self.url)
            if not url:
                continue
            title = clean(card.css("[data-sqe=name]").xpath("string()").get()) or clean(
                card.css("img::attr(alt)").get())
            labels = [clean(t) or "" for t in card.xpath(".//text()").getall()]
            money = card_price([t for t in labels if t], hint)
            out.append(SearchResult(
                url=url.split("?")[0], listing_id=listing_id(url), title=title,
                price=money.amount if money else None,
                currency=money.currency if money else None,
                image_url=abs_url(card.css("img::attr(src)").get(), self.url),
                sponsored=any(_AD.match(t) for t in labels), position=len(out) + 1))
        return out


class ShopeeListingPage(GenericListingPage):
    """`/<slug>-i.<shopid>.<itemid>`: JSON-LD `Product`, `og:` meta, the rendered DOM."""

    marketplace = MARKETPLACE
    id_pattern = re.compile(r"-i\.(\d+\.\d+)")


SEARCH_PAGE = ShopeeSearchPage
LISTING_PAGE = ShopeeListingPage
