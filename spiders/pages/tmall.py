"""Tmall page objects: item pages.

Search: Tmall's own search (list.tmall.com) now sends visitors to Taobao's search with the
`tab=mall` filter, so the search page is Taobao's (`TmallSearchPage`), restricted to Tmall shops.
A list.tmall.com page as it was served until about 2020 (`search_product.htm`, server-rendered)
is read too: `#J_ItemList div.product[data-id]` cards with `.productPrice em[title]`,
`.productTitle a[title]`, `.productShop-name`, the image in `src` or `data-ks-lazyload`, the
next page in `a.ui-page-next`. Its P4P adverts are loaded by script, not in the HTML.

Item (2020): `TShop.Setup({...})` JSON → `itemDO` (itemId, title, brand, prov, quantity,
isOnline, URL-encoded sellerNickName) and `propertyPics.default` (images); the shown price
is `#J_StrPriceModBox .tm-price` (a range for multi-SKU items, promotion in
`#J_PromoPrice .tm-price` when loaded), the review count `.tm-ind-reviewCount .tm-count`,
the shop `.slogo-shopname`. Currency: `¥` on a Chinese page (see `yen_hint`).

Mobile item (detail.m.tmall.com, 2015 `detail-m` generation): the same `itemDO` inside
`var _DATA_Detail = {...}`, review and sales counts in `var _DATA_Mdskip = {...}`
(`defaultModel.rateDO.rateCounts`, `defaultModel.sellCountDO.sellCount`); in the markup the
title is `#s-title h1`, the shown price `#s-price .mui-price`, the shop `#s-shop .shop-t` and
the gallery `#s-showcase img` (`src`, then `data-src`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from parsel import Selector

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price, parse_price_range
from spiders.pages._util import abs_url, clean, count, dig, embedded_json, full_image, unique
from spiders.pages.base import ListingPage
from spiders.pages.taobao import TaobaoSearchPage, currency_hint, item_id_from_url
from spiders.pages.taobao import search_url as taobao_search_url

MARKETPLACE = "tmall"


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """Taobao's search for `term` with only Tmall shops (`tab=mall`)."""
    return taobao_search_url(term, page, site, tab="mall")


class TmallSearchPage(TaobaoSearchPage):
    """Taobao search results with `tab=mall` (Tmall shops only), or a list.tmall.com page."""

    marketplace = MARKETPLACE

    def _list_cards(self) -> list[Selector]:
        return list(self.selector.css("#J_ItemList div.product[data-id]"))

    def results(self) -> list[SearchResult]:
        cards = self._list_cards()
        if not cards:
            return super().results()
        hint = currency_hint(self.selector) or "CNY"
        return [self._list_result(card, i, hint) for i, card in enumerate(cards, start=1)]

    def _list_result(self, card: Selector, position: int, hint: str) -> SearchResult:
        item_id = card.attrib.get("data-id", "")
        item_id = item_id if item_id.isdigit() else ""
        link = card.css(".productTitle a")
        price = card.css(".productPrice em::attr(title)").get() or clean(
            card.css(".productPrice").xpath("string()").get())
        money = parse_price(price or "", hint)
        image = card.css(".productImg img::attr(src)").get() or card.css(
            ".productImg img::attr(data-ks-lazyload)").get()
        return SearchResult(
            url=f"https://detail.tmall.com/item.htm?id={item_id}" if item_id
            else abs_url(link.attrib.get("href") if link else None, self.url) or self.url,
            listing_id=item_id or None,
            title=clean(link.attrib.get("title") if link else None)
            or clean(link.xpath("string()").get() if link else None),
            price=money.amount if money else None,
            currency=money.currency if money else None,
            seller_name=clean(card.css(".productShop-name").xpath("string()").get()),
            image_url=abs_url(image, self.url),
            placeholder=not item_id,
            position=position,
        )

    def next_page_url(self) -> str | None:
        if self._list_cards():
            return abs_url(self.selector.css("a.ui-page-next::attr(href)").get(), self.url)
        return super().next_page_url()


class TmallListingPage(ListingPage):
    """`detail.tmall.com/item.htm?id=`."""

    marketplace = MARKETPLACE

    def _setup(self) -> dict[str, Any]:
        data = embedded_json(self.html, r"TShop\.Setup\(\s*")
        if not isinstance(data, dict):
            data = embedded_json(self.html, r"\b_DATA_Detail\s*=\s*")
        return data if isinstance(data, dict) else {}

    def _mdskip(self) -> dict[str, Any]:
        """Mobile page: `_DATA_Mdskip.defaultModel` (reviews, sales, delivery)."""
        data = embedded_json(self.html, r"\b_DATA_Mdskip\s*=\s*")
        model = dig(data, "defaultModel") if isinstance(data, dict) else None
        return model if isinstance(model, dict) else {}

    def listing(self) -> Listing:
        sel = self.selector
        setup = self._setup()
        item = setup.get("itemDO") or {}
        canonical = sel.css("link[rel=canonical]::attr(href)").get()
        url = abs_url(canonical, self.url) or self.url
        hint = currency_hint(sel)
        promo = clean(sel.css("#J_PromoPrice .tm-price").xpath("string()").get())
        shown = clean(sel.css("#J_StrPriceModBox .tm-price").xpath("string()").get())
        price_text = (promo or shown or clean(sel.css(".tm-price").xpath("string()").get())
                      or clean(sel.css("#s-price .mui-price").xpath("string()").get()))
        span = parse_price_range(price_text or "", hint)
        shop = sel.css(".slogo-shopname")
        mobile_shop = clean(sel.css("#s-shop .shop-t").xpath("string()").get())
        nick = item.get("sellerNickName")
        images = dig(setup, "propertyPics", "default") or sel.css(
            "#J_UlThumb img::attr(src)"
        ).getall() or [
            img.attrib.get("src") or img.attrib.get("data-src")
            for img in sel.css("#s-showcase img")
        ]
        title = clean(item.get("title")) or clean(
            sel.css(".tb-detail-hd h1").xpath("string()").get()
        ) or clean(sel.css("#s-title h1").xpath("string()").get())
        mdskip = self._mdskip()
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
            seller_name=clean(shop.xpath("string()").get()) or mobile_shop
            or clean(unquote(nick or "")),
            seller_url=abs_url(shop.attrib.get("href"), url) if shop else None,
            images=unique(full_image(abs_url(u, url) or "") for u in images),
            brand=clean(item.get("brand")),
            review_count=count(clean(sel.css(".tm-ind-reviewCount .tm-count::text").get()))
            if sel.css(".tm-ind-reviewCount") else count(dig(mdskip, "rateDO", "rateCounts")),
            units_sold=count(clean(sel.css(".tm-ind-sellCount .tm-count::text").get()))
            if sel.css(".tm-ind-sellCount") else count(dig(mdskip, "sellCountDO", "sellCount")),
            ship_from=clean(item.get("prov")),
            available=item.get("isOnline", True) is not False,
            extra={k: v for k, v in extra.items() if v not in (None, "")},
        )


LISTING_PAGE = TmallListingPage
SEARCH_PAGE = TmallSearchPage
