"""Temu goods (item) pages: the server-rendered `window.rawData` state.

A Temu goods page (`/<slug>-g-<goods_id>.html`) ships its data as `window.rawData =
{"store": {...}}`: `store.goods` (goodsId, goodsName, `minOnSalePriceStr` as shown, e.g.
`8,359원`, gallery, soldQuantity), the currency in `store.localInfo.currency` (or the price
module's `priceFormat.currencyCode`), the seller in `store.moduleMap.mallModule.data.mallData`
(mallName, mallId, seoUrl) and the goods' own review score and count in
`store.review.reviewData` (the mall's are under `mallReview`, not read). Tested on the 2026
Korean page `tests/pages/temu/item-1`. Every value is type-checked; a missing or malformed
state gives an empty dict and the generic layers read the page. Without the state, the seller
is still named by the rendered page's accessible seller link (`a[href*="mall.html"][alt]`,
`aria-label="판매자 <name>"`), which `dom_seller` reads.
"""

from __future__ import annotations

from typing import Any

from parsel import Selector

from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count, dig, embedded_json, to_decimal, unique

__all__ = ["dom_seller", "goods_fields"]

_STATE = r"window\.rawData\s*=\s*"
_MAX_IMAGES = 50


def _text(value: Any) -> str | None:
    return clean(value) if isinstance(value, str) else None


def goods_fields(html: str, base: str) -> dict[str, Any]:
    """`Listing` field values from the page's `rawData` state (only those it has)."""
    state = embedded_json(html, _STATE)
    store = dig(state, "store") if isinstance(state, dict) else None
    goods = dig(store, "goods") if isinstance(store, dict) else None
    if not isinstance(goods, dict):
        return {}
    out: dict[str, Any] = {}
    goods_id = goods.get("goodsId")
    if isinstance(goods_id, int | str) and str(goods_id).isdigit():
        out["listing_id"] = str(goods_id)
    if title := _text(goods.get("goodsName")):
        out["title"] = title
    currency = _text(dig(store, "localInfo", "currency")) or _text(dig(
        store, "moduleMap", "priceModule", "data", "priceFormat", "currencyCode"))
    shown = _text(goods.get("minOnSalePriceStr"))
    money = parse_price(shown or "", currency.upper() if currency else None)
    if money is not None:
        out["price"], out["currency"], out["price_text"] = money.amount, money.currency, shown
    mall = dig(store, "moduleMap", "mallModule", "data", "mallData")
    if isinstance(mall, dict) and (name := _text(mall.get("mallName"))):
        out["seller_name"] = name
        link = _text(mall.get("seoUrl")) or _text(mall.get("mallJumpUrl"))
        if link:
            out["seller_url"] = abs_url(link, base)
        mall_id = mall.get("mallId")
        if isinstance(mall_id, int | str) and str(mall_id).isdigit():
            out["extra"] = {"mall_id": str(mall_id)}
    gallery = goods.get("gallery")
    if isinstance(gallery, list):
        urls = [abs_url(g.get("url"), base) for g in gallery[:_MAX_IMAGES]
                if isinstance(g, dict) and isinstance(g.get("url"), str)]
        if images := unique(urls):
            out["images"] = images
    if (sold := count(goods.get("soldQuantity"))) is not None:
        out["units_sold"] = sold
    review = dig(store, "review", "reviewData")
    if isinstance(review, dict):
        reviews = count(review.get("reviewNum"))
        if reviews:
            out["review_count"] = reviews
            score = to_decimal(review.get("goodsScoreText") or review.get("goodsScore"))
            if score is not None and 0 <= score <= 5:
                out["rating"] = score
    return out


def dom_seller(selector: Selector) -> str | None:
    """The seller named by the rendered seller link (`alt`, else `aria-label`), or None."""
    for link in selector.css('a[href*="mall.html"]')[:20]:
        name = _text(link.attrib.get("alt"))
        if name:
            return name
    return None
