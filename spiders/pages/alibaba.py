"""Alibaba.com page objects: search results and product-detail pages.

Search: the page state `window.__page__data__config.props.offerResultData.offerList` holds
every offer (id, title, supplier, images, `information.p4p` for ads, `tradePrice` in USD).
The server also renders the first cards (`[data-content=productItem][data-pid]`) with the
price in the visitor's display currency (CN¥ in the 2022 capture): that shown price wins
for those cards. Without the state, every `/product-detail/<slug>_<id>.html` link is a result.

Supplier storefront (`<shop>.en.alibaba.com/productlist.html`, `productgrouplist-<id>/...`,
the 2025 `icbu-shop` React page): each product is a `div.icbu-product-card[data-id]` with
`a.title-link` (URL, `title`), `.price .num` (a range such as `$285-890`; a bare `$` is
USD, the site's default display currency) and `.moq`;
the featured slider and the group's grid both use it. Every card is the storefront
supplier's own product: its name is the company card's `.company-name`.

Item: fields sit under `[data-module-name=module_*]` blocks (title, price tiers, company,
attributes, reviews); the id comes from the URL or the company link's `productId=`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

from parsel import Selector

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price, parse_price_range
from spiders.pages._util import (
    abs_url,
    clean,
    dig,
    embedded_json,
    full_image,
    to_decimal,
    unique,
)
from spiders.pages.base import ListingPage, SearchPage

MARKETPLACE = "alibaba"
_PRODUCT_ID = re.compile(r"/product-detail/[^?#]*?_(\d{6,})\.html")
_TAG = re.compile(r"<[^>]+>")


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` (Alibaba.com has one site; `site` is ignored)."""
    return (f"https://www.alibaba.com/trade/search?fsb=y&IndexArea=product_en"
            f"&SearchText={quote_plus(term)}&page={max(page, 1)}")


def _strip_tags(text: Any) -> str | None:
    return clean(_TAG.sub("", str(text))) if text else None


def _seller_name(link: Any) -> str | None:
    if not link:
        return None
    return clean(link.attrib.get("title") or link.xpath("string()").get())


def _seller_url(href: str | None, base: str) -> str | None:
    """The supplier's site without tracking parameters."""
    url = abs_url(href, base)
    return url.split("?")[0] if url else None


class AlibabaSearchPage(SearchPage):
    """`/trade/search?SearchText=` and category listing pages."""

    marketplace = MARKETPLACE

    def _offers(self) -> list[dict[str, Any]]:
        state = embedded_json(self.html, r"window\.__page__data__config\s*=\s*")
        offers = dig(state, "props", "offerResultData", "offerList")
        return [o for o in offers if isinstance(o, dict)] if isinstance(offers, list) else []

    def _shown_prices(self) -> dict[str, str]:
        shown: dict[str, str] = {}
        for card in self.selector.css("[data-content=productItem][data-pid]"):
            text = card.css("[data-e2e-name^=price]").xpath("string()").get()
            if text and clean(text):
                shown[card.attrib["data-pid"]] = clean(text) or ""
        return shown

    def results(self) -> list[SearchResult]:
        offers = self._offers()
        if not offers:
            return self._storefront() or self._from_links()
        shown = self._shown_prices()
        return [self._result(o, i, shown) for i, o in enumerate(offers, start=1)]

    def _result(self, offer: dict[str, Any], position: int, shown: dict[str, str]) -> SearchResult:
        info = offer.get("information") or {}
        offer_id = str(offer.get("id") or info.get("id") or "") or None
        text = shown.get(offer_id or "") or dig(offer, "tradePrice", "price") or ""
        span = parse_price_range(str(text))
        url = abs_url(info.get("productUrl"), self.url) or self.url
        return SearchResult(
            url=url.split("?")[0],
            listing_id=offer_id,
            title=clean(info.get("puretitle")) or _strip_tags(info.get("title")),
            price=span[0].amount if span else None,
            currency=span[0].currency if span else None,
            seller_name=clean(dig(offer, "supplier", "supplierName")),
            image_url=abs_url(dig(offer, "image", "mainImage"), self.url),
            sponsored=bool(info.get("p4p") or info.get("adP4p") or info.get("ad")),
            placeholder=offer_id is None,
            position=position,
        )

    def _storefront(self) -> list[SearchResult]:
        """A supplier storefront's product cards (none on a search page)."""
        company = self.selector.css(".company-card .company-name, .company-name")
        seller = clean(company[0].xpath("string()").get()) if company else None
        out: list[SearchResult] = []
        seen: set[str] = set()
        for card in self.selector.css("div.icbu-product-card[data-id]"):
            card_id = card.attrib.get("data-id", "")
            if not card_id.isdigit() or card_id in seen:
                continue
            seen.add(card_id)
            link = card.css("a.title-link")
            href = abs_url(link.attrib.get("href") if link else None, self.url)
            text = clean(card.css(".price .num").xpath("string()").get()) or clean(
                card.css(".price").attrib.get("title") if card.css(".price") else None)
            span = parse_price_range(text or "", "USD")  # a bare `$` on Alibaba.com is USD
            out.append(
                SearchResult(
                    url=href.split("?")[0] if href else
                    f"https://www.alibaba.com/product-detail/_{card_id}.html",
                    listing_id=card_id,
                    title=clean(link.attrib.get("title") if link else None)
                    or clean(card.css(".title").xpath("string()").get()),
                    price=span[0].amount if span else None,
                    currency=span[0].currency if span else None,
                    seller_name=seller,
                    image_url=abs_url(card.css(".product-image img::attr(src)").get(), self.url),
                    position=len(out) + 1,
                )
            )
        return out

    def _from_links(self) -> list[SearchResult]:
        out: list[SearchResult] = []
        seen: set[str] = set()
        for link in self.selector.css("a[href*='/product-detail/']"):
            match = _PRODUCT_ID.search(link.attrib.get("href", ""))
            if not match or match.group(1) in seen:
                continue
            seen.add(match.group(1))
            url = abs_url(link.attrib["href"], self.url) or self.url
            title = link.attrib.get("title") or link.xpath("string()").get()
            out.append(
                SearchResult(
                    url=url.split("?")[0],
                    listing_id=match.group(1),
                    title=clean(title),
                    position=len(out) + 1,
                )
            )
        return out

    def next_page_url(self) -> str | None:
        href = self.selector.css("a.next::attr(href), a[rel=next]::attr(href)").get()
        return abs_url(href, self.url)


class AlibabaListingPage(ListingPage):
    """`/product-detail/<slug>_<id>.html`."""

    marketplace = MARKETPLACE

    def _module(self, name: str) -> Selector | None:
        found = self.selector.css(f"[data-module-name={name}]")
        return found[0] if found else None

    def _texts(self, name: str) -> list[str]:
        module = self._module(name)
        if module is None:
            return []
        return [t for t in (clean(x) for x in module.xpath(".//text()").getall()) if t]

    def listing(self) -> Listing:
        url = self._canonical()
        company = self._module("module_company")
        seller_link = company.css(".company-name a, a[href*='.alibaba.com']") if company else None
        tiers, sample = self._tiers()
        low = min(tiers, key=lambda t: t[1].amount) if tiers else None
        review = self._reviews()
        return Listing(
            marketplace=MARKETPLACE,
            url=url,
            listing_id=self._listing_id(url),
            title=clean(self._module_text("module_title", "h1"))
            or clean(self.selector.css("h1").xpath("string()").get()),
            price=low[1].amount if low else None,
            currency=low[1].currency if low else None,
            price_text=low[2] if low else None,
            seller_name=_seller_name(seller_link),
            seller_url=_seller_url(seller_link.attrib.get("href"), url) if seller_link else None,
            images=self._images(),
            brand=self._attribute("Brand Name"),
            review_count=review.get("product_reviews"),
            ship_from=None,
            extra=self._extra(tiers, sample, review),
        )

    def _canonical(self) -> str:
        href = self.selector.css("link[rel=canonical]::attr(href)").get()
        return (abs_url(href, self.url) or self.url).split("?")[0]

    def _listing_id(self, url: str) -> str | None:
        match = _PRODUCT_ID.search(url)
        if match:
            return match.group(1)
        hrefs = self.selector.css("[data-module-name=module_company] a::attr(href)").getall()
        for href in hrefs:
            found = re.search(r"[?&]productId=(\d+)", href)
            if found:
                return found.group(1)
        return None

    def _module_text(self, name: str, css: str) -> str | None:
        module = self._module(name)
        if module is None:
            return None
        return module.css(css).xpath("string()").get()

    def _tiers(self) -> tuple[list[tuple[str, Any, str]], str | None]:
        """(quantity label, Money, printed price) per tier, and the sample price text."""
        tiers: list[tuple[str, Any, str]] = []
        sample: str | None = None
        texts = self._texts("module_price")
        for i, text in enumerate(texts):
            money = parse_price(text)
            if money is None or not re.search(r"\D\s*\d", " " + text):
                continue
            label = texts[i - 1] if i else ""
            if re.search(r"sample", label, re.IGNORECASE):
                sample = text
            elif not parse_price(label):
                tiers.append((label, money, text))
        return tiers, sample

    def _images(self) -> list[str]:
        module = self._module("module_productImage")
        if module is None:
            return []
        thumbs = module.css("[data-submodule=ProductImageThumbsList]") or [module]
        styles = thumbs[0].xpath(".//@style").getall()
        urls = [m.group(1) for s in styles for m in re.finditer(r"url\([\"']?([^\"')]+)", s)]
        if not urls:
            urls = module.css("img::attr(src)").getall()
        urls = [u for u in urls if "/kf/" in u]
        return unique(full_image(abs_url(u, self.url) or "") for u in urls)

    def _attribute(self, name: str) -> str | None:
        texts = self._texts("module_attribute")
        for i, text in enumerate(texts[:-1]):
            if text.lower() == name.lower():
                return texts[i + 1]
        return None

    def _reviews(self) -> dict[str, Any]:
        text = " ".join(self._texts("module_review"))
        out: dict[str, Any] = {}
        product = re.search(r"Product reviews \((\d[\d,]*)\)", text)
        store = re.search(r"Store reviews \((\d[\d,]*)\)\s*([\d.]+)", text)
        if product:
            out["product_reviews"] = int(product.group(1).replace(",", ""))
        if store:
            out["store_reviews"] = int(store.group(1).replace(",", ""))
            out["store_rating"] = str(to_decimal(store.group(2)))
        return out

    def _extra(
        self, tiers: list[tuple[str, Any, str]], sample: str | None, review: dict[str, Any]
    ) -> dict[str, Any]:
        company = self._module("module_company")
        extra: dict[str, Any] = {
            "price_tiers": [{"quantity": q, "price": p} for q, _, p in tiers],
            "sample_price": sample,
            "supplier_years": clean(company.css(".company-life").xpath("string()").get())
            if company
            else None,
            "supplier_country": clean(company.css(".register-country").xpath("string()").get())
            if company
            else None,
            "moq": self._attribute("MOQ"),
            "store_rating": review.get("store_rating"),
            "store_review_count": review.get("store_reviews"),
        }
        return {k: v for k, v in extra.items() if v not in (None, [], "")}


SEARCH_PAGE = AlibabaSearchPage
LISTING_PAGE = AlibabaListingPage
