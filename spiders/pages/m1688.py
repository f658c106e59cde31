"""1688.com (Alibaba China B2B) page objects: search results.

The 2026 search page renders its offers client-side; in the rendered DOM each offer is an
`a.search-offer-wrapper` whose `data-renderkey` is `<page>_<pos>_<normal|p4p>_<member>_<offerId>`
and whose `data-aplus-report` carries `_p_isad@1` for ads (`bid` cards, class
`cardui-adOffer`, are paid top placements). Cards use readable class names
(`title-text`, `price-item`, `offer-shop-row`, `main-img`). Prices are `¥` on a Chinese page,
hence CNY (from the page's language, see `yen_hint`).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from parsel import Selector

from crawler.items import SearchResult
from crawler.prices import parse_price
from spiders.pages._generic import GenericListingPage
from spiders.pages._util import abs_url, clean, yen_hint
from spiders.pages.base import SearchPage

MARKETPLACE = "1688"
_AD_KINDS = {"p4p", "bid", "ad"}
"""`data-renderkey` kinds of paid placements (P4P and bid ranking)."""
_OFFER_ID = re.compile(r"(?:offerId=|/offer/)(\d{6,})")


def offer_url(offer_id: str) -> str:
    """The canonical desktop URL of an offer."""
    return f"https://detail.1688.com/offer/{offer_id}.html"


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` (UTF-8 keywords; `site` is ignored)."""
    return (f"https://s.1688.com/selloffer/offer_search.htm?keywords={quote(term)}"
            f"&charset=utf8&beginPage={max(page, 1)}")


class M1688ListingPage(GenericListingPage):
    """`detail.1688.com/offer/<id>.html`, read generically (no saved page to build a reader on
    yet): JSON-LD, `og:` meta, `<h1>`; `¥` as CNY."""

    marketplace = MARKETPLACE
    id_pattern = _OFFER_ID
    currency_hint = "CNY"


class M1688SearchPage(SearchPage):
    """`s.1688.com/selloffer/offer_search.htm?keywords=` result pages."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = yen_hint(self.selector)
        cards = self.selector.css(".search-offer-wrapper[data-renderkey]") or self.selector.css(
            "a.search-offer-wrapper, [data-renderkey]"
        )
        return [self._result(card, i, hint) for i, card in enumerate(cards, start=1)]

    def _result(self, card: Selector, position: int, hint: str | None) -> SearchResult:
        render_key = card.attrib.get("data-renderkey", "")
        parts = render_key.split("_")
        offer_id = parts[-1] if parts and parts[-1].isdigit() else None
        if offer_id is None:
            match = _OFFER_ID.search(card.attrib.get("href", "") or card.get()[:2000])
            offer_id = match.group(1) if match else None
        report = card.attrib.get("data-aplus-report", "")
        sponsored = (
            "_p_isad@1" in report
            or (len(parts) > 2 and parts[2] in _AD_KINDS)
            or "adOffer" in card.attrib.get("class", "")
        )
        price_text = clean(card.css(".offer-price-row .price-item").xpath("string()").get())
        price_text = price_text or clean(card.css(".price-item").xpath("string()").get())
        money = parse_price(price_text or "", hint)
        shop = card.css(".offer-shop-row .col-left")
        return SearchResult(
            url=offer_url(offer_id) if offer_id else abs_url(card.attrib.get("href"), self.url)
            or self.url,
            listing_id=offer_id,
            title=clean(card.css(".title-text").xpath("string()").get()),
            price=money.amount if money else None,
            currency=money.currency if money else None,
            seller_name=clean(shop.xpath("string()").get()) if shop else None,
            image_url=abs_url(card.css("img.main-img::attr(src)").get(), self.url),
            sponsored=sponsored,
            placeholder=offer_id is None,
            position=position,
        )

    def next_page_url(self) -> str | None:
        href = self.selector.css("a.fui-next::attr(href), a[rel=next]::attr(href)").get()
        return abs_url(href, self.url)


SEARCH_PAGE = M1688SearchPage
LISTING_PAGE = M1688ListingPage
