"""Tmall page objects: item pages.

Search: Tmall's own search (list.tmall.com) now sends visitors to Taobao's search with the
`tab=mall` filter, so the search page is Taobao's (`TmallSearchPage`), restricted to Tmall shops.

Item (2020): `TShop.Setup({...})` JSON → `itemDO` (itemId, title, brand, prov, quantity,
isOnline, URL-encoded sellerNickName) and `propertyPics.default` (images); the shown price
is `#J_StrPriceModBox .tm-price` (a range for multi-SKU items, promotion in
`#J_PromoPrice .tm-price` when loaded), the review count `.tm-ind-reviewCount .tm-count`,
the shop `.slogo-shopname`. Currency: `¥` on a Chinese page (see `yen_hint`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from crawler.items import Listing
from crawler.prices import parse_price_range
from spiders.pages._util import abs_url, clean, count, dig, embedded_json, full_image, unique
from spiders.pages.base import ListingPage
from spiders.pages.taobao import TaobaoSearchPage, currency_hint, item_id_from_url
from spiders.pages.taobao import search_url as taobao_search_url

MARKETPLACE = "tmall"


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """Taobao's search for `term` with only Tmall shops (`tab=mall`)."""
    return taobao_search_url(term, page, site, tab="mall")


class TmallSearchPage(TaobaoSearchPage):
    """Taobao search results with `tab=mall` (Tmall shops only)."""

    marketplace = MARKETPLACE


class TmallListingPage(ListingPage):
    """`detail.tmall.com/item.htm?id=`."""

    marketplace = MARKETPLACE

    def _setup(self) -> dict[str, Any]:
        data = embedded_json(self.html, r"TShop\.Setup\(\s*")
        return data if isinstance(data, dict) else {}

    def listing(self) -> Listing:
        sel = self.selector
        setup = self._setup()
        item = setup.get("itemDO") or {}
        canonical = sel.css("link[rel=canonical]::attr(href)").get()
        url = abs_url(canonical, self.url) or self.url
        hint = currency_hint(sel)
        promo = clean(sel.css("#J_PromoPrice .tm-price").xpath("string()").get())
        shown = clean(sel.css("#J_StrPriceModBox .tm-price").xpath("string()").get())
        price_text = promo or shown or clean(sel.css(".tm-price").xpath("string()").get())
        span = parse_price_range(price_text or "", hint)
        shop = sel.css(".slogo-shopname")
        nick = item.get("sellerNickName")
        images = dig(setup, "propertyPics", "default") or sel.css(
            "#J_UlThumb img::attr(src)"
        ).getall()
        title = clean(item.get("title")) or clean(
            sel.css(".tb-detail-hd h1").xpath("string()").get()
        )
        extra = {
            "list_price": item.get("reservePrice"),
            "stock": item.get("quantity"),
            "seller_id": item.get("userId"),
            "shop_id": setup.get("rstShopId"),
            "category_id": item.get("categoryId"),
        }
        return Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id=str(item.get("itemId") or "") or item_id_from_url(url),
            title=title,
            price=span[0].amount if span else None,
            currency=span[0].currency if span else None,
            price_text=price_text,
            seller_name=clean(shop.xpath("string()").get()) or clean(unquote(nick or "")),
            seller_url=abs_url(shop.attrib.get("href"), url) if shop else None,
            images=unique(full_image(abs_url(u, url) or "") for u in images),
            brand=clean(item.get("brand")),
            review_count=count(clean(sel.css(".tm-ind-reviewCount .tm-count::text").get())),
            units_sold=count(clean(sel.css(".tm-ind-sellCount .tm-count::text").get())),
            ship_from=clean(item.get("prov")),
            available=item.get("isOnline", True) is not False,
            extra={k: v for k, v in extra.items() if v not in (None, "")},
        )


LISTING_PAGE = TmallListingPage
SEARCH_PAGE = TmallSearchPage
