"""1688.com (Alibaba China B2B) page objects: search results and offer pages.

The 2026 search page renders its offers client-side; in the rendered DOM each offer is an
`a.search-offer-wrapper` whose `data-renderkey` is `<page>_<pos>_<normal|p4p>_<member>_<offerId>`
and whose `data-aplus-report` carries `_p_isad@1` for ads (`bid` cards, class
`cardui-adOffer`, are paid top placements). Cards use readable class names
(`title-text`, `price-item`, `offer-shop-row`, `main-img`). Prices are `¥` on a Chinese page,
hence CNY (from the page's language, see `yen_hint`).

The 2024 keyword landing page (`p4psearch.1688.com`, React) has `div.smart_ui_offer.offer_item`
cards inside an element whose `data-aplus-report` is `object_id@<offerId>^_p_isad@<0|1>^...
^itemType@<p4p|nature>`; title `.subject[title]`, price `.price_num`, seller the URL-encoded
`data-nick` of the Wangwang chat badge (the member's login name).

Offer pages (`detail.1688.com/offer/<id>.html`, `od-version` 2024 layout, 2026 captures):
`window.context=(function(b,d){...})(window.contextPath,{...})` holds `result.data`
components (`productTitle.fields`: title, shopInfo.companyName, rateInfo; `gallery.fields`:
offerImgList; `mainPrice.fields`) and `result.global.globalData.model` (`sellerModel`:
companyName, winportUrl; `tradeModel`: priceDisplay, minPrice, saleCount; `offerDetail`:
featureAttributes with the brand `品牌`). The object literal has bare numeric keys
(`skuWeight: {5931007583129: 0.6}`), so it is read as JSON after quoting them. The rendered
DOM shows the title in `.title-content h1`, the price in `.price-comp` ("¥3.80起") and the
company in `a.shop-company-name`. Units sold are read as shown ("10万+"), not the exact
`saleCount`; `rateInfo.goodsGrade` is not taken as the rating (the page shows "暂无评分").
The earlier offer layout (`tdmod-od-pc` modules, 2025 captures) has `window.__INIT_DATA`
instead: `globalData.tempModel` (offerId, offerTitle, companyName, saledCount),
`offerBaseInfo.sellerWinportUrl`, `images[].fullPathImageURI` and
`orderParamModel.orderParam.skuParam.skuRangePrices`; its DOM shows the title in
`.od-pc-offer-title-contain .title-text` and the price in `.price-box`.
A brand of "其他" / "其它" ("other") is no brand.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

from parsel import Selector

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price, parse_price_range
from spiders.pages._generic import GenericListingPage
from spiders.pages._util import (
    abs_url,
    clean,
    count,
    dig,
    embedded_json,
    find_braces,
    unique,
    yen_hint,
)
from spiders.pages.base import SearchPage

MARKETPLACE = "1688"
_AD_KINDS = {"p4p", "bid", "ad"}
"""`data-renderkey` kinds of paid placements (P4P and bid ranking)."""
_OFFER_ID = re.compile(r"(?:offerId=|/offer/)(\d{6,})")
_CONTEXT = re.compile(r"window\.context\s*=\s*\(function\b.{0,400}?\}\)\(window\.contextPath\s*,",
                      re.DOTALL)
_NUMERIC_KEY = re.compile(r"([{,]\s*)(\d+)(\s*:)")
_REPORT_ID = re.compile(r"object_id@(\d{6,})")


def offer_url(offer_id: str) -> str:
    """The canonical desktop URL of an offer."""
    return f"https://detail.1688.com/offer/{offer_id}.html"


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` (UTF-8 keywords; `site` is ignored)."""
    return (f"https://s.1688.com/selloffer/offer_search.htm?keywords={quote(term)}"
            f"&charset=utf8&beginPage={max(page, 1)}")


def offer_context(html: str) -> dict[str, Any]:
    """`result` of the offer page's `window.context` object literal, or {} when absent."""
    match = _CONTEXT.search(html)
    if not match:
        return {}
    start = match.end()
    while start < len(html) and html[start] in " \t\r\n":
        start += 1
    end = find_braces(html, start) if start < len(html) and html[start] == "{" else -1
    if end < 0:
        return {}
    literal = html[start:end]
    for text in (literal, _NUMERIC_KEY.sub(r'\1"\2"\3', literal)):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            continue
        result = value.get("result") if isinstance(value, dict) else None
        return result if isinstance(result, dict) else {}
    return {}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_NO_BRAND = frozenset({"其他", "其它", "无", "无品牌", "other", "none"})


class M1688ListingPage(GenericListingPage):
    """`detail.1688.com/offer/<id>.html`: the `window.context` state, then the rendered DOM,
    then what any product page carries (JSON-LD, `og:` meta, `<h1>`); `¥` as CNY."""

    marketplace = MARKETPLACE
    id_pattern = _OFFER_ID
    currency_hint = "CNY"

    def listing(self) -> Listing:
        listing = super().listing()
        self._from_dom(listing)
        context = offer_context(self.html)
        if context:
            self._from_context(listing, context)
            return listing
        init = embedded_json(self.html, r"window\.__INIT_DATA\s*=\s*")
        if isinstance(init, dict) and isinstance(init.get("globalData"), dict):
            self._from_init_data(listing, init["globalData"])
        return listing

    def _from_dom(self, listing: Listing) -> None:
        """What the rendered offer page shows, in either layout."""
        sel = self.selector
        title = clean(sel.css(".title-content h1").xpath("string()").get()) or clean(
            "".join(sel.css(".od-pc-offer-title-contain .title-text").xpath("string()")
                    .getall()))
        if title:
            listing.title = title
        self._price(listing, clean(sel.css(".price-comp").xpath("string()").get()) or clean(
            sel.css(".od-pc-offer-price-contain .price-box").xpath("string()").get()), True)
        shop = sel.css("a.shop-company-name")
        company = clean(shop.xpath("string()").get()) if shop else clean(sel.xpath(
            "//*[@data-modulename='wp_pc_common_header']/following-sibling::*[1]"
            "//span[@title][1]/@title").get())
        if company:
            listing.seller_name = company
            listing.seller_url = abs_url(shop.attrib.get("href"), listing.url) if shop \
                else None

    @staticmethod
    def _price(listing: Listing, text: str | None, shown: bool = False) -> None:
        """Price, currency and text from `text` (CNY); state only fills a missing price."""
        span = parse_price_range(text or "", "CNY")
        if span and (shown or listing.price is None):
            listing.price, listing.currency, listing.price_text = (
                span[0].amount, span[0].currency, text)

    def _from_context(self, listing: Listing, context: dict[str, Any]) -> None:
        """The 2024 layout's `window.context` (fills what the DOM did not show)."""
        data = context.get("data") if isinstance(context.get("data"), dict) else {}
        model = dig(context, "global", "globalData", "model") or {}
        title_fields = dig(data, "productTitle", "fields") or {}
        seller = model.get("sellerModel") if isinstance(model, dict) else None
        seller = seller if isinstance(seller, dict) else {}
        trade = model.get("tradeModel") if isinstance(model, dict) else None
        trade = trade if isinstance(trade, dict) else {}
        listing.title = listing.title or clean(title_fields.get("title")) or clean(
            dig(data, "gallery", "fields", "subject"))
        self._price(listing, clean(trade.get("priceDisplay")))
        listing.seller_name = listing.seller_name or clean(seller.get("companyName")) or clean(
            dig(title_fields, "shopInfo", "companyName"))
        listing.seller_url = abs_url(seller.get("winportUrl"), listing.url) \
            or listing.seller_url
        images = dig(data, "gallery", "fields", "offerImgList") or []
        if isinstance(images, list) and images:
            listing.images = unique(abs_url(u, listing.url) for u in images
                                    if isinstance(u, str))
        for attr in dig(model, "offerDetail", "featureAttributes") or []:
            if isinstance(attr, dict) and attr.get("name") == "品牌":
                brand = clean(attr.get("value"))
                listing.brand = brand if brand and brand.lower() not in _NO_BRAND \
                    else listing.brand
        rate = title_fields.get("rateInfo") if isinstance(title_fields, dict) else None
        if isinstance(rate, dict):
            tags = rate.get("commonTagNodeList") or []
            every = [t for t in tags if isinstance(t, dict) and t.get("name") == "全部"]
            listing.review_count = count(every[0].get("count")) if every else None
        listing.units_sold = count(title_fields.get("saleNum")) or count(trade.get("saleCount"))
        location = dig(data, "shippingServices", "fields", "location")
        listing.ship_from = clean(location) if isinstance(location, str) else None
        extra = {
            "seller_login_id": clean(seller.get("loginId")),
            "seller_member_id": clean(seller.get("memberId")),
            "min_order": trade.get("beginAmount"),
        }
        listing.extra.update({k: v for k, v in extra.items() if v not in (None, "")})

    def _from_init_data(self, listing: Listing, data: dict[str, Any]) -> None:
        """The earlier layout's `window.__INIT_DATA.globalData` (fills what the DOM did not
        show)."""
        temp: dict[str, Any] = _mapping(data.get("tempModel"))
        base: dict[str, Any] = _mapping(data.get("offerBaseInfo"))
        offer_id = str(temp.get("offerId") or base.get("offerId") or "")
        if offer_id.isdigit():
            listing.listing_id = offer_id
            if not _OFFER_ID.search(listing.url):
                listing.url = offer_url(offer_id)
        listing.title = listing.title or clean(temp.get("offerTitle"))
        ranges = dig(data, "orderParamModel", "orderParam", "skuParam", "skuRangePrices") or []
        first = ranges[0] if isinstance(ranges, list) and ranges else None
        if isinstance(first, dict):
            self._price(listing, clean(str(first.get("price") or "")))
        listing.seller_name = listing.seller_name or clean(temp.get("companyName"))
        listing.seller_url = abs_url(base.get("sellerWinportUrl"), listing.url) \
            or listing.seller_url
        images = [i.get("fullPathImageURI") for i in data.get("images") or []
                  if isinstance(i, dict)]
        if images:
            listing.images = unique(abs_url(u, listing.url) for u in images
                                    if isinstance(u, str))
        listing.units_sold = count(temp.get("saledCount"))
        extra = {"seller_login_id": clean(temp.get("sellerLoginId")),
                 "seller_member_id": clean(temp.get("sellerMemberId"))}
        listing.extra.update({k: v for k, v in extra.items() if v})


class M1688SearchPage(SearchPage):
    """`s.1688.com/selloffer/offer_search.htm?keywords=` result pages."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = yen_hint(self.selector)
        cards = self.selector.css(".search-offer-wrapper[data-renderkey]") or self.selector.css(
            "a.search-offer-wrapper, [data-renderkey]"
        )
        if not cards:
            landing = self.selector.xpath(
                "//*[contains(@data-aplus-report, 'object_id@')]"
                "[.//*[contains(concat(' ', normalize-space(@class), ' '), ' offer_item ')]]")
            return [self._landing_result(card, i, hint or "CNY")
                    for i, card in enumerate(landing, start=1)]
        return [self._result(card, i, hint) for i, card in enumerate(cards, start=1)]

    def _landing_result(self, card: Selector, position: int, hint: str) -> SearchResult:
        """A card of the 2024 keyword landing page (`p4psearch.1688.com`)."""
        report = card.attrib.get("data-aplus-report", "")
        found = _REPORT_ID.search(report)
        offer_id = found.group(1) if found else None
        price_text = clean("".join(card.css(".price_num").xpath("string()").getall()))
        money = parse_price(price_text or "", hint)
        nick = card.css("[data-nick]::attr(data-nick)").get()
        title = card.css(".subject::attr(title)").get() or card.css(".subject").xpath(
            "string()").get()
        return SearchResult(
            url=offer_url(offer_id) if offer_id else abs_url(
                card.css("a::attr(href)").get(), self.url) or self.url,
            listing_id=offer_id,
            title=clean(title),
            price=money.amount if money else None,
            currency=money.currency if money else None,
            seller_name=clean(unquote(nick)) if nick else None,
            image_url=abs_url(card.css(".mainPic img::attr(src)").get(), self.url),
            sponsored="_p_isad@1" in report or "itemType@p4p" in report,
            placeholder=offer_id is None,
            position=position,
        )

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
