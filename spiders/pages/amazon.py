"""Amazon page objects, every country site: search results (`s-search-result` cards) and
product pages (desktop `#productTitle`/`#corePrice*` and mobile `*_mobile` layouts).

Item id is the ASIN; listing URLs are normalised to `https://<host>/dp/<ASIN>`. Sponsored
cards (`AdHolder`, `.puis-sponsored-label-text`, `/sspa/click` links) are kept and flagged.
A bare `$`/`¥` is resolved with the page's own currency signals: `#currencyOfPreference`,
a `"currencyCode"` in page JSON, else the `<html lang>` region (en-us → USD, ja-jp → JPY).
"""

from __future__ import annotations

import contextlib
import json
import re
from decimal import Decimal
from urllib.parse import quote_plus, urlsplit

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "AmazonListingPage", "AmazonSearchPage", "search_url"]

MARKETPLACE = "amazon"
_ASIN = re.compile(r"/(?:dp|gp/product|gp/aw/d)/([A-Z0-9]{10})")
_CURRENCY_CODE = re.compile(r'"currencyCode"\s*:\s*"([A-Z]{3})"')
_REGION_CURRENCY = {
    "us": "USD", "ca": "CAD", "mx": "MXN", "br": "BRL", "au": "AUD", "jp": "JPY", "sg": "SGD",
    "gb": "GBP", "in": "INR", "cn": "CNY",
}
_PRICE_BLOCKS = (
    "#corePriceDisplay_desktop_feature_div", "#corePrice_feature_div", "#corePrice_desktop",
    "#corePriceDisplay_mobile_feature_div", "#corePrice_mobile_feature_div", "#apex_desktop",
)


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` on an Amazon site (`site="co.uk"` → amazon.co.uk)."""
    tld = (site or "com").strip().lower().removeprefix("www.").removeprefix("amazon.")
    return f"https://www.amazon.{tld.lstrip('.')}/s?k={quote_plus(term)}&page={max(page, 1)}"


def currency_hint(page: SearchPage | ListingPage) -> str | None:
    """The page's own currency evidence, for ambiguous symbols only."""
    sel = page.selector
    value = clean(sel.css("#currencyOfPreference::attr(value)").get())
    if value:
        return value
    match = _CURRENCY_CODE.search(page.html)
    if match:
        return match.group(1)
    lang = (sel.xpath("/html/@lang").get() or "").lower().replace("_", "-")
    return _REGION_CURRENCY.get(lang.rpartition("-")[2]) if "-" in lang else None


def parse_rating(text: str | None) -> Decimal | None:
    """'4.1 out of 5 stars', '5つ星のうち4.1', '4,1 von 5 Sternen' → 4.1."""
    numbers = re.findall(r"\d+(?:[.,]\d+)?", text or "")
    if len(numbers) > 1 and "5" in numbers:
        numbers.remove("5")
    return Decimal(numbers[0].replace(",", ".")) if numbers else None


class AmazonSearchPage(SearchPage):
    """An Amazon search results page (`/s?k=`)."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = currency_hint(self)
        host = urlsplit(self.url).netloc or "www.amazon.com"
        out = []
        cards = self.selector.css("div[data-component-type=s-search-result][data-asin]")
        for position, card in enumerate(cards, start=1):
            asin = card.attrib.get("data-asin")
            if not asin:
                continue
            href = card.css("h2 a::attr(href), a.a-link-normal::attr(href)").get() or ""
            money = parse_price(clean(card.css(".a-price .a-offscreen::text").get()) or "", hint)
            classes = card.attrib.get("class", "").split()
            sponsored = (
                "AdHolder" in classes
                or bool(card.css(".puis-sponsored-label-text"))
                or "/sspa/click" in href
            )
            out.append(SearchResult(
                url=f"https://{host}/dp/{asin}",
                listing_id=asin,
                title=clean(card.css("h2").xpath("string()").get()),
                price=money.amount if money else None,
                currency=money.currency if money else None,
                image_url=abs_url(card.css("img.s-image::attr(src)").get(), self.url),
                sponsored=sponsored,
                position=position,
            ))
        return out

    def next_page_url(self) -> str | None:
        return abs_url(self.selector.css("a.s-pagination-next::attr(href)").get(), self.url)


class AmazonListingPage(ListingPage):
    """An Amazon product page (`/dp/<ASIN>`), desktop or mobile."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        canonical = abs_url(sel.css("link[rel=canonical]::attr(href)").get(), self.url) or ""
        asin = (
            clean(sel.css("input#ASIN::attr(value)").get())
            or clean(sel.css("input[name='items[0.base][asin]']::attr(value)").get())
            or _match(_ASIN, canonical)
            or _match(_ASIN, self.url)
        )
        host = urlsplit(canonical or self.url).netloc or "www.amazon.com"
        listing = Listing(
            marketplace=MARKETPLACE,
            url=f"https://{host}/dp/{asin}" if asin else (canonical or self.url),
            listing_id=asin,
            title=clean(sel.css("#productTitle::text, #title").xpath("string()").get()),
            images=self._images(),
            brand=self._brand(),
        )
        self._price(listing)
        self._seller(listing, host)
        rating = sel.css("#acrPopover::attr(title)").get() or sel.css(
            "#averageCustomerReviews .a-icon-alt::text, "
            "#averageCustomerReviews_feature_div .a-icon-alt::text"
        ).get()
        listing.rating = parse_rating(rating)
        reviews = sel.css("#acrCustomerReviewText::text").get() or sel.css(
            "#averageCustomerReviews_feature_div"
        ).re_first(r"\(([\d.,]+)\)")
        listing.review_count = count(reviews)
        bought = clean(sel.css("#social-proofing-faceout-title-tk_bought").xpath("string()").get())
        if bought:
            listing.extra["bought_recently"] = bought
        return listing

    def _price(self, listing: Listing) -> None:
        hint = currency_hint(self)
        for block in _PRICE_BLOCKS:
            node = self.selector.css(block)
            if not node:
                continue
            text = clean(node.css(".a-price .a-offscreen::text").get())
            if not text:
                pay = node.css(".priceToPay, .a-price")[:1]
                text = clean("".join(pay.css(
                    ".a-price-symbol::text, .a-price-whole::text, .a-price-decimal::text, "
                    ".a-price-fraction::text").getall()))
            money = parse_price(text or "", hint)
            if money:
                listing.price, listing.currency, listing.price_text = (
                    money.amount, money.currency, text)
                return

    def _seller(self, listing: Listing, host: str) -> None:
        link = self.selector.css("#sellerProfileTriggerId")
        if link:
            listing.seller_name = clean(link.xpath("string()").get())
            seller_id = _match(re.compile(r"[?&]seller=([A-Z0-9]+)"), link.attrib.get("href", ""))
            if seller_id:
                listing.seller_url = f"https://{host}/sp?seller={seller_id}"
                listing.extra["seller_id"] = seller_id

    def _brand(self) -> str | None:
        byline = self.selector.css("#bylineInfo")
        href = byline.attrib.get("href", "") if byline else ""
        store = _match(re.compile(r"/stores/([^/]+)/"), href)
        text = clean(byline.xpath("string()").get()) if byline else None
        if text:
            for pattern in (r"Visit the (.+?) Store", r"Brand:\s*(.+)", r"(.+?)のストアを表示",
                            r"Besuche den (.+?)-Store", r"Visitez la boutique (.+)"):
                match = re.fullmatch(pattern, text)
                if match:
                    return match.group(1).strip()
        return store or text

    def _images(self) -> list[str]:
        sel = self.selector
        out: list[str] = []
        hires = sel.css("#landingImage::attr(data-old-hires), #main-image::attr(data-a-hires)")
        out.extend(hires.getall())
        dynamic = sel.css("#landingImage::attr(data-a-dynamic-image)").get()
        if dynamic:
            with contextlib.suppress(json.JSONDecodeError):
                out.extend(json.loads(dynamic))
        for match in re.finditer(r'"hiRes"\s*:\s*"(https://[^"]+)"', self.html):
            out.append(match.group(1))
        seen: set[str] = set()
        unique = []
        for url in out:
            key = re.sub(r"\._[^/]*_\.", ".", url)
            if url and key not in seen:
                seen.add(key)
                unique.append(url)
        return unique


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text or "")
    return match.group(1) if match else None


SEARCH_PAGE = AmazonSearchPage
LISTING_PAGE = AmazonListingPage
