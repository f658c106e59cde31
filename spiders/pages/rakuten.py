"""Rakuten Ichiba page objects: item pages (schema.org microdata) and search results.

Item: `[itemprop=price]` / `[itemprop=priceCurrency]` (content attributes),
`[itemprop=aggregateRating]`, `og:` tags; the shop is the first path segment of
`item.rakuten.co.jp/<shop>/<item>/`, and the listing id is `<shop>/<item>`. Real pages are
EUC-JP; decode bytes by the response's charset before building the page object.

Search (2026 layout, `tests/pages/rakuten/search-1`): the results are in
`window.__INITIAL_STATE__` under `state.data.ichibaSearch.items` (name, price, url, shop
name/url, images, review) and rendered as `div.searchresultitem[data-id]` cards with stable
`data-track-price`, `h2 a` and `.merchant a`; the state is read first, the cards when it is
gone. Paid results are marked by Rakuten with a `[PR]` title prefix and go through
`redirect_rpp` / `/rd/` links (a non-null `itemOptions.cpc` in the state is also taken as
paid: an inference from the name, no item on the saved page has one); the "あなたにおすすめ"
carousel (`.adBta`, behavioural ads whose links are only ad redirects) is not a search
result and is not read.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count, dig, embedded_json, meta, to_decimal
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "RakutenListingPage", "RakutenSearchPage", "search_url"]

MARKETPLACE = "rakuten"
_ITEM = re.compile(r"item\.rakuten\.co\.jp/([^/?#]+)/([^/?#]+)")
_BAR = "\uff5c"  # fullwidth vertical line between item name and shop name
_STATE = r"window\.__INITIAL_STATE__\s*=\s*"
_AD_LINK = re.compile(r"redirect_rpp|//[^/]*\.ias\.rakuten\.co\.jp/|/rd/")
_PR = re.compile("^\\s*[\\[\uff3b]PR[\\]\uff3d]")  # [PR], ASCII or fullwidth


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """Search URL for `term` on Rakuten Ichiba (`site` ignored)."""
    return f"https://search.rakuten.co.jp/search/mall/{quote(term)}/?p={max(page, 1)}"


class RakutenSearchPage(SearchPage):
    """A Rakuten Ichiba search page: `__INITIAL_STATE__` items, else `.searchresultitem` cards."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        items = dig(embedded_json(self.html, _STATE), "state", "data", "ichibaSearch", "items")
        if isinstance(items, list) and items:
            out = [r for r in (self._from_state(i) for i in items if isinstance(i, dict)) if r]
            if out:
                return _numbered(out)
        return _numbered(self._from_cards())

    def _from_state(self, item: dict[str, Any]) -> SearchResult | None:
        url = abs_url(item.get("url") if isinstance(item.get("url"), str) else None, self.url)
        if not url:
            return None
        shop: dict[str, Any] = item["shop"] if isinstance(item.get("shop"), dict) else {}
        image = dig(item, "images", 0, "url")
        title = clean(str(item["name"])) if item.get("name") is not None else None
        options = item.get("itemOptions")
        paid = isinstance(options, dict) and bool(options.get("cpc"))
        return _result(
            url, title, to_decimal(item.get("price")),
            clean(shop.get("name")) if isinstance(shop.get("name"), str) else None,
            abs_url(image, self.url) if isinstance(image, str) else None,
            paid,
        )

    def _from_cards(self) -> list[SearchResult]:
        out = []
        for card in self.selector.css(".searchresultitem"):
            link = card.css("h2 a::attr(href), .title a::attr(href)").get()
            url = abs_url(link, self.url)
            if not url:
                continue
            amount = to_decimal(card.attrib.get("data-track-price"))
            if amount is None:
                money = parse_price(clean(card.css(
                    "[class*=price--], .important").xpath("string()").get()) or "", "JPY")
                amount = money.amount if money else None
            out.append(_result(
                url, clean(card.css("h2 a, .title a").xpath("string()").get()), amount,
                clean(card.css(".merchant a").xpath("string()").get()),
                abs_url(card.css("img::attr(src)").get(), self.url),
                bool(card.css(".rpp-label, [data-ad]")),
            ))
        return out


def _result(url: str, title: str | None, price: Any, shop: str | None, image: str | None,
            paid: bool) -> SearchResult:
    """One result; `listing_id` is `<shop>/<item>` from an item URL (None for ad redirects)."""
    match = _ITEM.search(url)
    return SearchResult(
        url=url.split("?")[0] if match else url,
        listing_id="/".join(match.groups()) if match else None,
        title=title,
        price=price,
        currency="JPY" if price is not None else None,
        seller_name=shop,
        image_url=image,
        sponsored=paid or bool(_AD_LINK.search(url)) or bool(_PR.match(title or "")),
    )


def _numbered(results: list[SearchResult]) -> list[SearchResult]:
    """Page order as 1-based `position` (every result, paid ones included)."""
    for position, result in enumerate(results, start=1):
        result.position = position
    return results


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
