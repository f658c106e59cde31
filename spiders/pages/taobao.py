"""Taobao page objects: search results and item pages.

Search (2018 layout): `g_page_config = {...}` JSON → `mods.itemlist.data.auctions[]` (nid,
raw_title, view_price, nick, view_sales, item_loc, pic_url, detail_url); the DOM cards
`div.item.J_MouserOnverReq` (`a[data-nid]`) add the ones rendered after the JSON was built.
Current s.taobao.com is client-rendered behind a login.

Item (2020): `g_config` is a JavaScript literal (single quotes, expressions), so single
fields are read from it by pattern (`itemId`, `shopName`, `sellerNick`, `auctionImages`);
the price is `#J_StrPrice .tb-rmb-num`, whose sibling `.tb-rmb` ('RMB') names the currency.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

from parsel import Selector

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price, parse_price_range
from spiders.pages._util import (
    abs_url,
    clean,
    count,
    dig,
    embedded_json,
    full_image,
    unique,
    yen_hint,
)
from spiders.pages.base import ListingPage, SearchPage

MARKETPLACE = "taobao"
PAGE_SIZE = 44
"""Results per search page (`s=` is the offset of the first)."""


def search_url(term: str, page: int = 1, site: str | None = None, tab: str = "") -> str:
    """The search URL for `term` (`tab="mall"` keeps only Tmall shops; `site` is ignored)."""
    extra = f"&tab={tab}" if tab else ""
    offset = f"&s={(max(page, 1) - 1) * PAGE_SIZE}" if page > 1 else ""
    return f"https://s.taobao.com/search?q={quote_plus(term)}{extra}{offset}"


def item_id_from_url(url: str) -> str | None:
    """The `id=` query parameter of a Taobao/Tmall item URL."""
    values = parse_qs(urlsplit(url).query).get("id")
    return values[0] if values and values[0].isdigit() else None


def js_string_field(html: str, name: str) -> str | None:
    """`name : 'value'` (or double-quoted) from a JavaScript literal, escapes decoded."""
    match = re.search(rf"\b{name}\s*:\s*(['\"])((?:\\.|(?!\1).)*)\1", html)
    if not match:
        return None
    raw = match.group(2).replace('\\"', '"').replace("\\'", "'")
    try:
        value: str = json.loads('"' + raw.replace('"', '\\"') + '"')
    except json.JSONDecodeError:
        value = raw
    return clean(value)


def currency_hint(selector: Selector) -> str | None:
    """CNY when the page marks its prices as RMB (`.tb-rmb`), else the page language's yen."""
    if selector.css(".tb-rmb"):
        return "CNY"
    return yen_hint(selector)


class TaobaoSearchPage(SearchPage):
    """`s.taobao.com/search?q=` result pages."""

    marketplace = MARKETPLACE

    def _config(self) -> dict[str, Any]:
        config = embedded_json(self.html, r"g_page_config\s*=\s*")
        return config if isinstance(config, dict) else {}

    def results(self) -> list[SearchResult]:
        hint = currency_hint(self.selector)
        auctions = dig(self._config(), "mods", "itemlist", "data", "auctions") or []
        out = [self._from_json(a, i, hint) for i, a in enumerate(auctions, start=1)]
        known = {r.listing_id for r in out}
        for card in self.selector.css("div.item.J_MouserOnverReq"):
            nid = card.css("a[data-nid]::attr(data-nid)").get()
            if nid and nid not in known:
                known.add(nid)
                out.append(self._from_card(card, nid, len(out) + 1, hint))
        return out

    def _from_json(self, item: dict[str, Any], position: int, hint: str | None) -> SearchResult:
        nid = str(item.get("nid") or "") or None
        money = parse_price(str(item.get("view_price") or ""), hint)
        url = abs_url(item.get("detail_url"), self.url) or self.url
        return SearchResult(
            url=_item_url(url, nid),
            listing_id=nid,
            title=clean(item.get("raw_title")),
            price=money.amount if money else None,
            currency=money.currency if money else None,
            seller_name=clean(item.get("nick")),
            image_url=abs_url(item.get("pic_url"), self.url),
            sponsored=bool(item.get("p4p") or item.get("isP4p")),
            placeholder=nid is None,
            position=position,
        )

    def _from_card(self, card: Selector, nid: str, position: int, hint: str | None) -> SearchResult:
        href = card.css("a.pic-link::attr(href), a[data-nid]::attr(href)").get()
        url = abs_url(href, self.url) or self.url
        money = parse_price(clean(card.css(".price").xpath("string()").get()) or "", hint)
        image = card.css("img::attr(data-src)").get() or card.css("img::attr(src)").get()
        return SearchResult(
            url=_item_url(url, nid),
            listing_id=nid,
            title=clean(card.css(".title").xpath("string()").get()),
            price=money.amount if money else None,
            currency=money.currency if money else None,
            seller_name=clean(card.css(".shopname").xpath("string()").get()),
            image_url=abs_url(image, self.url),
            sponsored=bool(card.css("[data-p4p], .icon-p4p")),
            position=position,
        )

    def next_page_url(self) -> str | None:
        pager = dig(self._config(), "mods", "pager", "data") or {}
        current, total, size = (pager.get(k) for k in ("currentPage", "totalPage", "pageSize"))
        if not (isinstance(current, int) and isinstance(total, int) and isinstance(size, int)):
            return None
        if current >= total:
            return None
        base = re.sub(r"([?&])s=\d+&?", r"\1", self.url).rstrip("&?")
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}s={current * size}"


def _item_url(url: str, nid: str | None) -> str:
    """Item URL without tracking parameters: host and path kept, only `id=`."""
    if not nid:
        return url
    parts = urlsplit(url)
    host = parts.netloc or "item.taobao.com"
    path = parts.path or "/item.htm"
    return f"https://{host}{path}?id={nid}"


class TaobaoListingPage(ListingPage):
    """`item.taobao.com/item.htm?id=`."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        canonical = sel.css("link[rel=canonical]::attr(href)").get()
        url = abs_url(canonical, self.url) or self.url
        item_id = item_id_from_url(url) or js_string_field(self.html, "itemId")
        price_text = clean(sel.css("#J_StrPrice .tb-rmb-num").xpath("string()").get())
        price_text = price_text or clean(sel.css(".tb-rmb-num").xpath("string()").get())
        span = parse_price_range(price_text or "", currency_hint(sel))
        promo = clean(sel.css("#J_PromoPriceNum").xpath("string()").get())
        promo_money = parse_price(promo or "", currency_hint(sel))
        low = promo_money or (span[0] if span else None)
        shop = sel.css(".tb-shop-name a")
        title = clean(sel.css("#J_Title .tb-main-title").xpath("string()").get())
        title = title or js_string_field(self.html, "title")
        images = _auction_images(self.html) or [
            full_image(abs_url(u, url) or "")
            for u in sel.css("#J_UlThumb img::attr(data-src), #J_UlThumb img::attr(src)").getall()
        ]
        extra = {
            "seller_nick": js_string_field(self.html, "sellerNick"),
            "shop_id": js_string_field(self.html, "shopId"),
            "seller_id": js_string_field(self.html, "sellerId"),
        }
        return Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id=item_id,
            title=title,
            price=low.amount if low else None,
            currency=low.currency if low else None,
            price_text=promo or price_text,
            seller_name=js_string_field(self.html, "shopName")
            or clean(shop.xpath("string()").get()),
            seller_url=abs_url(shop.attrib.get("href"), url) if shop else None,
            images=unique(abs_url(u, url) for u in images),
            units_sold=count(clean(sel.css("#J_SellCounter::text").get())),
            review_count=count(clean(sel.css("#J_RateCounter::text").get())),
            extra={k: v for k, v in extra.items() if v},
        )


def _auction_images(html: str) -> list[str]:
    match = re.search(r"auctionImages\s*:\s*(\[[^\]]*\])", html)
    if not match:
        return []
    try:
        images = json.loads(match.group(1))
    except json.JSONDecodeError:
        return []
    return [str(u) for u in images if isinstance(u, str)]


SEARCH_PAGE = TaobaoSearchPage
LISTING_PAGE = TaobaoListingPage
