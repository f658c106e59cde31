"""JD.com page objects: search results (`li.gl-item[data-sku]`) and item pages.

Current JD search needs a logged-in session and rate-limits (see `blocks.py`); the markup
read here is the stable `gl-item` card: `data-sku`, `.p-name em`, `.p-price strong[data-price]`
/ `.p-price i`, `.p-shop`. Prices print `¥`; a Chinese-language page makes it CNY.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, meta, yen_hint
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "JdListingPage", "JdSearchPage", "search_url"]

MARKETPLACE = "jd"
_SKU = re.compile(r"item\.jd\.[a-z.]+/(\d+)\.html")
_TITLE = re.compile(r"^(?:【[^】]{1,200}】)?(.+?)【[^】]{1,40}】\s*-\s*京东$")


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """Search URL for `term`; JD numbers pages 1, 3, 5... (two half-pages per page)."""
    return (f"https://search.jd.com/Search?keyword={quote(term)}&enc=utf-8"
            f"&page={2 * max(page, 1) - 1}")


class JdSearchPage(SearchPage):
    """A JD search page (`search.jd.com/Search`)."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = yen_hint(self.selector) or "CNY"
        out = []
        for position, card in enumerate(self.selector.css("li.gl-item[data-sku]"), start=1):
            sku = card.attrib["data-sku"]
            price = card.css(".p-price strong")[:1]
            text = clean(price.xpath("string()").get()) if price else None
            money = parse_price(text or "", hint)
            img = card.css(".p-img img")[:1]
            src = (img.attrib.get("src") or img.attrib.get("data-lazy-img")
                   or img.attrib.get("source-data-lazy-img")) if img else None
            out.append(SearchResult(
                url=f"https://item.jd.com/{sku}.html",
                listing_id=sku,
                title=clean(card.css(".p-name em").xpath("string()").get()),
                price=money.amount if money else None,
                currency=money.currency if money else None,
                seller_name=clean(card.css(".p-shop").xpath("string()").get()),
                image_url=abs_url(src, self.url),
                sponsored=bool(card.css(".p-promo-flag")),
                position=position,
            ))
        return out

    def next_page_url(self) -> str | None:
        return abs_url(self.selector.css("a.pn-next::attr(href)").get(), self.url)


def _title_name(title: str | None) -> str | None:
    """The product name in an item page's `<title>`, `【model】name【行情 报价 价格 评测】-京东`
    (the 2025 page draws its name client-side; the title is what the server sends)."""
    match = _TITLE.match(title or "")
    return clean(match.group(1)) if match else None


class JdListingPage(ListingPage):
    """A JD item page (`item.jd.com/<sku>.html`); the price loads by XHR, so often None."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        url = abs_url(sel.css("link[rel=canonical]::attr(href)").get(), self.url) or self.url
        match = _SKU.search(url) or _SKU.search(self.url)
        text = clean(sel.css(".p-price, .summary-price .price").xpath("string()").get())
        money = parse_price(text or "", yen_hint(sel) or "CNY")
        shop = sel.css(".J-hove-wrap .name a, .shopName a, #popbox .mt h3 a")[:1]
        return Listing(
            marketplace=MARKETPLACE,
            url=f"https://item.jd.com/{match.group(1)}.html" if match else url,
            listing_id=match.group(1) if match else None,
            title=clean(sel.css(".sku-name").xpath("string()").get()) or meta(sel, "og:title")
            or _title_name(clean(sel.css("title::text").get())),
            price=money.amount if money else None,
            currency=money.currency if money else None,
            price_text=text if money else None,
            seller_name=clean(shop.xpath("string()").get()) if shop else None,
            seller_url=abs_url(shop.attrib.get("href"), url) if shop else None,
            brand=clean(sel.css("#parameter-brand li a::text").get()),
        )


SEARCH_PAGE = JdSearchPage
LISTING_PAGE = JdListingPage
