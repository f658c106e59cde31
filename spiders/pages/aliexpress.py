"""AliExpress page objects: search results and item pages.

Search: `window.runParams = {"mods": {"itemList": {"content": [...]}}}` (2023) or the same
`mods` under `window._dida_config_._init_data_` (newer pages). Ads are `productType: "ad"` or
carry a `p4p` block.

Item: the 2020 server-rendered page has `window.runParams = { data: {...modules} }`; the
2024+ page is a client-side shell (`og:` meta and `window._d_c_.DCData.imagePathList` only;
price and seller arrive later by XHR), and a page rendered in a browser has the data in the
DOM under stable `data-pl` attributes.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price, parse_price_range
from spiders.pages._util import (
    abs_url,
    clean,
    count,
    dig,
    embedded_json,
    meta,
    to_decimal,
    unique,
)
from spiders.pages.base import ListingPage, SearchPage

MARKETPLACE = "aliexpress"
_ITEM_ID = re.compile(r"/item/(?:[^/]+/)?(\d{6,})\.html")
_BRAND_ATTR = 2
"""`attrNameId` of the brand in `specsModule.props` (the same in every language)."""
_CONDITION_ATTR = 200000649
_SHIPS_FROM_PROP = 200007763
"""`skuPropertyId` of the "Ships From" SKU dimension."""


def _item_url(page_url: str, product_id: str) -> str:
    parts = urlsplit(page_url)
    host = parts.netloc or "www.aliexpress.com"
    return f"https://{host}/item/{product_id}.html"


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term`: `site` is a language subdomain (`es`, `fr`...), a host
    (`aliexpress.us`), or None for www.aliexpress.com."""
    site = (site or "www").strip().lower()
    host = site if "." in site else f"{site}.aliexpress.com"
    slug = quote(re.sub(r"\s+", "-", term.strip()))
    return f"https://{host}/w/wholesale-{slug}.html?page={max(page, 1)}"


class AliexpressSearchPage(SearchPage):
    """`/w/wholesale-<term>.html` and `/wholesale?SearchText=` result pages."""

    marketplace = MARKETPLACE

    def _state(self) -> dict[str, Any]:
        state = embedded_json(self.html, r"window\.runParams\s*=\s*")
        if isinstance(state, dict) and dig(state, "mods", "itemList"):
            return state
        dida = embedded_json(self.html, r"window\._dida_config_\._init_data_\s*=\s*")
        data = dig(dida, "data", "data") or dig(dida, "data") or dida
        return data if isinstance(data, dict) else {}

    def results(self) -> list[SearchResult]:
        items = dig(self._state(), "mods", "itemList", "content") or []
        out: list[SearchResult] = []
        for position, item in enumerate(items, start=1):
            if isinstance(item, dict):
                out.append(self._result(item, position))
        return out

    def _result(self, item: dict[str, Any], position: int) -> SearchResult:
        product_id = str(item.get("productId") or "") or None
        sale = dig(item, "prices", "salePrice") or {}
        money = parse_price(str(sale.get("formattedPrice") or ""), sale.get("currencyCode"))
        price = money.amount if money else to_decimal(sale.get("minPrice"))
        currency = money.currency if money else sale.get("currencyCode")
        return SearchResult(
            url=_item_url(self.url, product_id) if product_id else self.url,
            listing_id=product_id,
            title=clean(dig(item, "title", "displayTitle") or dig(item, "title", "seoTitle")),
            price=price,
            currency=currency if price is not None else None,
            seller_name=clean(dig(item, "store", "storeName")),
            image_url=abs_url(dig(item, "image", "imgUrl"), self.url),
            sponsored=item.get("productType") == "ad" or "p4p" in item,
            placeholder=product_id is None,
            position=position,
        )

    def next_page_url(self) -> str | None:
        info = self._state().get("pageInfo") or {}
        if info.get("finished") or not info.get("page"):
            return None
        parts = urlsplit(self.url)
        query = dict(parse_qsl(parts.query))
        query["page"] = str(int(info["page"]) + 1)
        return urlunsplit(parts._replace(query=urlencode(query)))


class AliexpressListingPage(ListingPage):
    """`/item/<id>.html`."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        data = embedded_json(self.html, r"window\.runParams\s*=\s*\{\s*data\s*:\s*")
        if isinstance(data, dict) and data.get("titleModule"):
            return self._from_modules(data)
        return self._from_shell()

    def _canonical(self) -> str:
        href = self.selector.css("link[rel=canonical]::attr(href)").get()
        href = href or meta(self.selector, "og:url")
        url = abs_url(href, self.url) or self.url
        return url.split("?")[0]

    def _listing_id(self, url: str) -> str | None:
        match = _ITEM_ID.search(url) or _ITEM_ID.search(self.url)
        return match.group(1) if match else None

    def _from_modules(self, data: dict[str, Any]) -> Listing:
        url = self._canonical()
        price = data.get("priceModule") or {}
        store = data.get("storeModule") or {}
        title = data.get("titleModule") or {}
        rating = dig(title, "feedbackRating") or {}
        specs = dig(data, "specsModule", "props") or []
        price_text = clean(price.get("formatedActivityPrice") or price.get("formatedPrice"))
        low = dig(price, "minActivityAmount") or dig(price, "minAmount") or {}
        currency = low.get("currency") or dig(data, "commonModule", "currencyCode")
        money = parse_price(price_text or "", currency)
        amount = money.amount if money else to_decimal(low.get("value"))
        product_id = dig(data, "actionModule", "productId") or dig(
            data, "commonModule", "productId"
        )
        review_count = rating.get("totalValidNum")
        avail = dig(data, "quantityModule", "totalAvailQuantity")
        return Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id=str(product_id) if product_id else self._listing_id(url),
            title=clean(title.get("subject")),
            price=amount,
            currency=(money.currency if money else currency) if amount is not None else None,
            price_text=price_text,
            seller_name=clean(store.get("storeName")),
            seller_url=abs_url(store.get("storeURL"), url),
            images=unique(
                abs_url(u, url) for u in dig(data, "imageModule", "imagePathList") or []
            ),
            brand=_spec(specs, _BRAND_ATTR),
            rating=to_decimal(rating.get("averageStar")) if review_count else None,
            review_count=review_count if isinstance(review_count, int) else None,
            units_sold=count(title.get("tradeCount")),
            ship_from=_ships_from(data),
            condition=_spec(specs, _CONDITION_ATTR),
            available=avail is None or int(avail) > 0,
            extra=_extra(data),
        )

    def _from_shell(self) -> Listing:
        url = self._canonical()
        title = clean(self.selector.css(
            "h1[data-pl=product-title], h1.product-title-text").xpath("string()").get())
        if not title:
            og = meta(self.selector, "og:title") or ""
            title = clean(re.sub(r"\s*-\s*AliExpress(?:\s+\d+)?\s*$", "", og))
        dc = embedded_json(self.html, r"window\._d_c_\.DCData\s*=\s*") or {}
        images = dc.get("imagePathList") if isinstance(dc, dict) else None
        images = images or [meta(self.selector, "og:image")]
        price_text = clean(self.selector.css("[data-pl=product-price]").xpath("string()").get())
        span = parse_price_range(price_text or "")
        return Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id=self._listing_id(url),
            title=title,
            price=span[0].amount if span else None,
            currency=span[0].currency if span else None,
            price_text=price_text,
            images=unique(abs_url(u, url) for u in images),
        )


def _spec(props: list[Any], attr_id: int) -> str | None:
    for prop in props:
        if isinstance(prop, dict) and prop.get("attrNameId") == attr_id:
            return clean(str(prop.get("attrValue") or "")) or None
    return None


def _ships_from(data: dict[str, Any]) -> str | None:
    for prop in dig(data, "skuModule", "productSKUPropertyList") or []:
        if prop.get("skuPropertyId") == _SHIPS_FROM_PROP:
            values = [
                clean(v.get("propertyValueDisplayName") or v.get("propertyValueName"))
                for v in prop.get("skuPropertyValues") or []
            ]
            names = [v for v in values if v]
            return ", ".join(names) if names else None
    return None


def _extra(data: dict[str, Any]) -> dict[str, Any]:
    store = data.get("storeModule") or {}
    price = data.get("priceModule") or {}
    extra: dict[str, Any] = {
        "original_price_text": clean(price.get("formatedPrice")),
        "store_id": store.get("storeNum"),
        "seller_admin_seq": store.get("sellerAdminSeq"),
        "store_country": clean(store.get("countryCompleteName")),
        "store_positive_rate": clean(store.get("positiveRate")),
        "category_id": dig(data, "actionModule", "categoryId"),
        "stock": dig(data, "quantityModule", "totalAvailQuantity"),
    }
    return {k: v for k, v in extra.items() if v is not None}


SEARCH_PAGE = AliexpressSearchPage
LISTING_PAGE = AliexpressListingPage
