"""Temu page objects.

Temu draws its search results and item pages client-side and serves a login wall to many
visitors (recognised as a `login-wall` block, `tests/pages/temu/blocked-1`). A listing is
`/<slug>-g-<goods_id>.html` (the listing id is the goods id). Search results are read from
the rendered DOM: each result is a link to such a page, with its title in the link's text
or `title`/`aria-label`, the image's `alt`, and a price-shaped text in the card (the largest
ancestor of the link that links to no other goods; the sign may be its own element, `₩`
then `16,592`); anything else falls to the generic search layers (`spiders.extract.search`).
Tested on the 2024 Korean best-sellers grid as the desktop and the mobile web front ends
draw it (`tests/pages/temu/search-1`, `search-2`). Item pages are read from their
`window.rawData` state (`spiders.pages._temu_goods`, `tests/pages/temu/item-1`), then by the
generic layers (JSON-LD `Product`, `og:` meta, DOM heuristics).
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus

from parsel import Selector

from crawler.items import Listing, SearchResult
from spiders.pages._cardprice import card_price
from spiders.pages._generic import GenericListingPage
from spiders.pages._temu_goods import dom_seller, goods_fields
from spiders.pages._util import abs_url, clean
from spiders.pages.base import SearchPage

MARKETPLACE = "temu"
GOODS_ID = re.compile(r"-g-(\d{6,})\.html")
_CARD_DEPTH = 8


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` (`site`, e.g. `uk`, is the country path). Temu scrolls
    rather than pages; a page number beyond 1 is passed as `page=`."""
    prefix = f"/{site.strip().lower().strip('/')}" if site else ""
    more = f"&page={page}" if page > 1 else ""
    return (f"https://www.temu.com{prefix}/search_result.html?"
            f"search_key={quote_plus(term)}{more}")


def _card(link: Selector, goods_id: str) -> Selector:
    """The largest ancestor of a result link (up to `_CARD_DEPTH` levels) that links to no
    other goods: the card holding the link's title, price and image."""
    card = link
    for parent in reversed(link.xpath(f"ancestor::*[position() <= {_CARD_DEPTH}]")):
        ids = {m.group(1) for m in map(GOODS_ID.search, parent.xpath(".//a/@href").getall())
               if m}
        if ids - {goods_id}:
            break
        card = parent
    return card


class TemuSearchPage(SearchPage):
    """`/search_result.html?search_key=` as rendered."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        out: list[SearchResult] = []
        seen: set[str] = set()
        for link in self.selector.xpath("//a[contains(@href, '-g-')]"):
            url = abs_url(link.attrib.get("href"), self.url)
            match = GOODS_ID.search(url or "")
            if not url or not match or match.group(1) in seen:
                continue
            seen.add(match.group(1))
            card = _card(link, match.group(1))
            title = (clean(link.attrib.get("title")) or clean(link.attrib.get("aria-label"))
                     or clean(link.xpath("string()").get())
                     or clean(card.css("img::attr(alt)").get()))
            texts = [t for t in (clean(x) for x in card.xpath(".//text()").getall()) if t]
            money = card_price(texts)
            out.append(SearchResult(
                url=url.split("?")[0], listing_id=match.group(1), title=title,
                price=money.amount if money else None,
                currency=money.currency if money else None,
                image_url=abs_url(card.css("img::attr(src)").get(), self.url),
                position=len(out) + 1))
        return out


class TemuListingPage(GenericListingPage):
    """`/<slug>-g-<goods_id>.html`: the `rawData` state first, then the generic reading."""

    marketplace = MARKETPLACE
    id_pattern = GOODS_ID

    def listing(self) -> Listing:
        listing = super().listing()
        for name, value in goods_fields(self.html, self.url).items():
            setattr(listing, name, value)
        if not listing.seller_name:
            listing.seller_name = dom_seller(self.selector)
        return listing


SEARCH_PAGE = TemuSearchPage
LISTING_PAGE = TemuListingPage
