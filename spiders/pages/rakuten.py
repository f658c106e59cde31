"""Rakuten Ichiba page objects: item pages (schema.org microdata) and search results.

Item: `[itemprop=price]` / `[itemprop=priceCurrency]` (content attributes),
`[itemprop=aggregateRating]`, `og:` tags; the shop is the first path segment of
`item.rakuten.co.jp/<shop>/<item>/`, and the listing id is `<shop>/<item>`. Real pages are
EUC-JP; decode bytes by the response's charset before building the page object.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count, meta, to_decimal
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "RakutenListingPage", "RakutenSearchPage", "search_url"]

MARKETPLACE = "rakuten"
_ITEM = re.compile(r"item\.rakuten\.co\.jp/([^/?#]+)/([^/?#]+)")
_BAR = "\uff5c"  # fullwidth vertical line between item name and shop name


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """Search URL for `term` on Rakuten Ichiba (`site` ignored)."""
    return f"https://search.rakuten.co.jp/search/mall/{quote(term)}/?p={max(page, 1)}"


class RakutenSearchPage(SearchPage):
    """A Rakuten Ichiba search page (`div.searchresultitem[data-id]`); no fixture yet."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        out = []
        cards = self.selector.css(".searchresultitem")
        for position, card in enumerate(cards, start=1):
            link = card.css(".title a::attr(href), h2 a::attr(href)").get()
            url = abs_url(link, self.url)
            if not url:
                continue
            match = _ITEM.search(url)
            money = parse_price(clean(card.css(".important").xpath("string()").get()) or "",
                                "JPY")
            out.append(SearchResult(
                url=url.split("?")[0],
                listing_id="/".join(match.groups()) if match else None,
                title=clean(card.css(".title a, h2 a").xpath("string()").get()),
                price=money.amount if money else None,
                currency=money.currency if money else None,
                seller_name=clean(card.css(".merchant a").xpath("string()").get()),
                image_url=abs_url(card.css("img::attr(src)").get(), self.url),
                sponsored="/rd/" in url or bool(card.css(".rpp-label, [data-ad]")),
                position=position,
            ))
        return out


class RakutenListingPage(ListingPage):
    """A Rakuten Ichiba item page (`item.rakuten.co.jp/<shop>/<item>/`)."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        url = abs_url(sel.css("link[rel=canonical]::attr(href)").get() or meta(sel, "og:url"),
                      self.url) or self.url
        match = _ITEM.search(url) or _ITEM.search(self.url)
        rating = sel.css("[itemprop=aggregateRating]")[:1]
        title = clean(sel.css("[itemprop=name]::attr(content)").get()) or meta(sel, "og:title")
        shop_name = None
        if title and _BAR in title:
            title, _, shop_name = title.rpartition(_BAR)
        images = [abs_url(u, url) for u in sel.css("[itemprop=image]::attr(content)").getall()]
        images = images or [meta(sel, "og:image")]
        price_text = clean(sel.css(".price2, .price--OX_YW").xpath("string()").get())
        return Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id="/".join(match.groups()) if match else None,
            title=clean(title),
            price=to_decimal(sel.css("[itemprop=price]::attr(content)").get()),
            currency=clean(sel.css("[itemprop=priceCurrency]::attr(content)").get()),
            price_text=price_text,
            seller_name=clean(shop_name),
            seller_url=f"https://www.rakuten.co.jp/{match.group(1)}/" if match else None,
            images=[u for u in dict.fromkeys(images) if u],
            rating=to_decimal(rating.css("[itemprop=ratingValue]::attr(content)").get())
            if rating else None,
            review_count=count(rating.css("[itemprop=reviewCount]::attr(content)").get())
            if rating else None,
            extra={"shop_id": match.group(1)} if match else {},
        )


SEARCH_PAGE = RakutenSearchPage
LISTING_PAGE = RakutenListingPage
