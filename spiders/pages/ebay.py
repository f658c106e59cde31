"""eBay page objects, every country site: search results (2025 `s-card` and legacy `s-item`
layouts) and item pages (2024+ `x-` layout with JSON-LD, legacy 'ViewItem' with microdata).

- Placeholder cards ("Shop on eBay", `/itm/123456`) are kept and flagged `placeholder`.
- Sponsored cards are obfuscated: a footer element is `aria-labelledby` hidden `<div id=s-...>`
  elements; a card is sponsored when a referenced element has text ("Sponsored", "Anzeige")
  and the page's own CSS does not hide that id (`span.s-xxx { display: none }`).
- A bare `$` is resolved with the eBay site id the page declares (`siteId` 0 = USD,
  2 = CAD, 15 = AUD ...); codes and unambiguous symbols (`EUR`, `£`, `US $`) win.
- `/p/<epid>` catalogue pages list several sellers' offers: they are read as a `Listing`
  with `listing_id=None`, the lowest offer as price, and `extra["page_type"] = "catalogue"`,
  `extra["epid"]`, `extra["offers"]` (listing id, price, currency, url of each offer) so the
  crawl can follow the real listings.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from parsel import Selector

from crawler.items import Listing, SearchResult
from crawler.prices import parse_price
from spiders.pages._util import abs_url, clean, count, dig, iter_jsonld, meta, to_decimal
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["LISTING_PAGE", "SEARCH_PAGE", "EbayListingPage", "EbaySearchPage", "search_url"]

MARKETPLACE = "ebay"
PLACEHOLDER_IDS = frozenset({"123456"})
_ITEM_ID = re.compile(r"/itm/(?:[^/?#]+/)?(\d{6,15})(?:[/?#]|$)")
_EPID = re.compile(r"/p/(\d+)")
_SITE_ID = re.compile(r"""(?:data-siteid=["']?|"siteId":)(\d+)""", re.IGNORECASE)
_SITE_CURRENCY = {0: "USD", 2: "CAD", 15: "AUD", 100: "USD", 216: "SGD", 201: "HKD"}
_HIDDEN_CSS = re.compile(r"span\.(s-[a-z0-9]+)\s*\{\s*display:\s*none", re.IGNORECASE)
_HIDDEN_VAR = re.compile(r"--sd-(s-[a-z0-9]+):\s*none", re.IGNORECASE)
_BRAND_LABELS = frozenset(
    {"brand", "marke", "marque", "marca", "merk", "marka", "品牌", "ブランド", "hersteller"}
)
_SOLD = re.compile(r"(\d[\d.,]*\+?)\s*(?:sold|verkauft|vendus?|vendidos?|venduti)", re.I)
_CARD_XPATH = (
    "//li[contains(concat(' ', normalize-space(@class), ' '), ' s-card ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' s-item ')]"
)
_TEXT_NO_CLIPPED = (
    ".//text()[not(ancestor::*[contains(concat(' ', normalize-space(@class), ' '), ' clipped ')])]"
    "[not(ancestor::*[contains(@class, 'LIGHT_HIGHLIGHT')])]"
)


def search_url(term: str, page: int = 1, site: str | None = None) -> str:
    """The search URL for `term` on an eBay site (`site="de"` → ebay.de, `"co.uk"`...)."""
    return f"https://{_host(site)}/sch/i.html?_nkw={quote_plus(term)}&_pgn={max(page, 1)}"


def _host(site: str | None) -> str:
    tld = (site or "com").strip().lower().removeprefix("www.").removeprefix("ebay.")
    return f"www.ebay.{tld.lstrip('.')}"


def item_id(url: str | None) -> str | None:
    """The item number in an eBay `/itm/` URL (legacy `/itm/<slug>/<id>` too)."""
    match = _ITEM_ID.search(url or "")
    return match.group(1) if match else None


def site_currency(html: str) -> str | None:
    """The currency of the eBay site the page declares (only used for a bare `$`)."""
    match = _SITE_ID.search(html)
    return _SITE_CURRENCY.get(int(match.group(1))) if match else None


def _text(sel: Selector | None) -> str | None:
    if sel is None:
        return None
    return clean(" ".join(sel.xpath(_TEXT_NO_CLIPPED).getall()))


class EbaySearchPage(SearchPage):
    """An eBay search results page (`/sch/i.html`), new and legacy card layouts."""

    marketplace = MARKETPLACE

    def results(self) -> list[SearchResult]:
        hint = site_currency(self.html)
        hidden = set(_HIDDEN_CSS.findall(self.html)) | set(_HIDDEN_VAR.findall(self.html))
        labels = self._labels()
        out = []
        for position, card in enumerate(self.selector.xpath(_CARD_XPATH), start=1):
            result = self._result(card, hint, labels, hidden, position)
            if result is not None:
                out.append(result)
        return out

    def _labels(self) -> dict[str, str]:
        """Text of the hidden elements that sponsored markers point at, by id."""
        out = {}
        for node in self.selector.xpath("//div[starts-with(@id, 's-')][not(*)]"):
            out[node.attrib["id"]] = clean(node.xpath("string()").get()) or ""
        return out

    def _result(
        self,
        card: Selector,
        hint: str | None,
        labels: dict[str, str],
        hidden: set[str],
        position: int,
    ) -> SearchResult | None:
        link = card.css("a[href*='/itm/']::attr(href)").get()
        url = abs_url(link, self.url)
        if not url:
            return None
        listing_id = item_id(url) or card.attrib.get("data-listingid")
        node = card.css(".s-card__title, .s-item__title")
        title = _text(node[0]) if node else None
        price_text = clean(
            card.css(".s-card__price, .s-item__price").xpath("string()").get()
        )
        money = parse_price(price_text or "", hint)
        placeholder = listing_id in PLACEHOLDER_IDS
        return SearchResult(
            url=url.split("?")[0] if not placeholder else url,
            listing_id=listing_id,
            title=title,
            price=money.amount if money else None,
            currency=money.currency if money else None,
            seller_name=self._seller(card),
            image_url=self._image(card),
            sponsored=self._sponsored(card, labels, hidden),
            placeholder=placeholder,
            position=position,
        )

    @staticmethod
    def _seller(card: Selector) -> str | None:
        row = card.css(".su-card-container__attributes__secondary .s-card__attribute-row")
        name = clean(row.css("span::text").get()) if row else None
        if not name:
            info = clean(card.css(".s-item__seller-info-text::text").get())
            name = info.split(" (")[0] if info else None
        return name

    def _image(self, card: Selector) -> str | None:
        img = card.css("img.s-card__image, img.s-item__image-img, img")[:1]
        if not img:
            return None
        src = img.attrib.get("data-src") or img.attrib.get("src")
        return abs_url(src, self.url)

    @staticmethod
    def _sponsored(card: Selector, labels: dict[str, str], hidden: set[str]) -> bool:
        for ids in card.xpath(".//*[@aria-labelledby]/@aria-labelledby").getall():
            for ref in ids.split():
                if labels.get(ref) and ref not in hidden:
                    return True
        return False

    def next_page_url(self) -> str | None:
        href = self.selector.css(
            "a.pagination__next::attr(href), a[rel=next]::attr(href)"
        ).get()
        return abs_url(href, self.url)


class EbayListingPage(ListingPage):
    """An eBay item page (`/itm/<id>`), or a catalogue page (`/p/<epid>`, see module doc)."""

    marketplace = MARKETPLACE

    def listing(self) -> Listing:
        sel = self.selector
        canonical = abs_url(
            sel.css("link[rel=canonical]::attr(href)").get() or meta(sel, "og:url"), self.url
        ) or self.url
        epid = _EPID.search(urlsplit(canonical).path)
        if epid and not item_id(canonical):
            return self._catalogue(canonical, epid.group(1))
        product = next((d for d in iter_jsonld(sel) if d.get("@type") == "Product"), {})
        listing_id = item_id(canonical) or item_id(self.url) or clean(
            sel.css("#descItemNumber::text").get()
        )
        host = urlsplit(canonical).netloc or "www.ebay.com"
        listing = Listing(
            marketplace=MARKETPLACE,
            url=f"https://{host}/itm/{listing_id}" if listing_id else canonical,
            listing_id=listing_id,
            title=self._title(product),
            images=self._images(product),
            brand=self._brand(product),
            condition=self._condition(product),
            ship_from=self._ship_from(),
            units_sold=self._units_sold(),
        )
        self._price(listing, product)
        self._seller(listing, host)
        self._rating(listing, product)
        availability = str(dig(product, "offers", "availability") or "")
        if availability.endswith(("OutOfStock", "SoldOut", "Discontinued")):
            listing.available = False
        return listing

    def _title(self, product: dict[str, Any]) -> str | None:
        sel = self.selector
        title = clean(sel.css("h1.x-item-title__mainTitle span::text").get())
        if not title:
            title = clean(" ".join(sel.css("#itemTitle::text").getall()))
        if not title:
            title = clean(product.get("name"))
        if not title:
            og = meta(sel, "og:title") or ""
            title = clean(og.rsplit("| eBay", 1)[0])
        return title

    def _price(self, listing: Listing, product: dict[str, Any]) -> None:
        sel = self.selector
        hint = site_currency(self.html)
        text = clean(sel.css(".x-price-primary").xpath("string()").get())
        money = parse_price(text or "", hint)
        if money is None:
            text = clean(sel.css("#prcIsum, #mm-saleDscPrc, #prcIsum_bidPrice").xpath(
                "string()").get())
            amount = to_decimal(sel.css("[itemprop=price]::attr(content)").get())
            currency = clean(sel.css("[itemprop=priceCurrency]::attr(content)").get())
            if amount is not None and currency:
                listing.price, listing.currency = amount, currency
            else:
                money = parse_price(text or "", hint)
        if money is not None:
            listing.price, listing.currency = money.amount, money.currency
        offers: dict[str, Any] = (
            product["offers"] if isinstance(product.get("offers"), dict) else {})
        ld_amount = to_decimal(offers.get("price"))
        ld_currency = clean(offers.get("priceCurrency"))
        if listing.price is None and ld_amount is not None and ld_currency:
            listing.price, listing.currency = ld_amount, ld_currency
            text = text or f"{ld_currency} {offers.get('price')}"
        elif ld_amount is not None and ld_currency and ld_currency != listing.currency:
            listing.extra["price_converted"] = {"amount": str(ld_amount), "currency": ld_currency}
        listing.price_text = text

    def _seller(self, listing: Listing, host: str) -> None:
        sel = self.selector
        card = sel.css(".x-sellercard-atf__info__about-seller")
        name = clean(card.css("a").xpath("string()").get()) if card else None
        feedback = clean(card.css(".x-sellercard-atf__about-seller").xpath("string()").get())
        if not name:
            name = clean(sel.css(".mbg-nw::text").get())
            feedback = clean(sel.css(".mbg-l a::text").get())
        if name:
            listing.seller_name = name
            listing.seller_url = f"https://{host}/usr/{quote(name)}"
        if feedback and count(feedback) is not None:
            listing.extra["seller_feedback"] = count(feedback)

    def _images(self, product: dict[str, Any]) -> list[str]:
        sel = self.selector
        raw: list[str | None] = []
        image = product.get("image")
        raw.extend(image if isinstance(image, list) else [image])
        for img in sel.css(".ux-image-carousel-item img, #icImg"):
            raw.append(img.attrib.get("data-zoom-src") or img.attrib.get("data-src")
                       or img.attrib.get("src"))
        raw.append(meta(sel, "og:image"))
        return _unique_images(abs_url(u, self.url) for u in raw if isinstance(u, str))

    def _brand(self, product: dict[str, Any]) -> str | None:
        brand = product.get("brand")
        if isinstance(brand, dict):
            brand = brand.get("name")
        if isinstance(brand, str) and clean(brand):
            return clean(brand)
        for row in self.selector.css(".ux-labels-values"):
            label = clean(row.css(".ux-labels-values__labels").xpath("string()").get()) or ""
            if label.rstrip(":").strip().lower() in _BRAND_LABELS:
                return clean(row.css(".ux-labels-values__values").xpath("string()").get())
        return clean(self.selector.css("[itemprop=brand] [itemprop=name]::text").get())

    def _condition(self, product: dict[str, Any]) -> str | None:
        sel = self.selector
        text = clean(sel.css(".x-item-condition-text .ux-textspans::text").get())
        text = text or clean(sel.css("#vi-itm-cond::text").get())
        if not text:
            schema = str(dig(product, "offers", "itemCondition") or "")
            text = schema.rsplit("/", 1)[-1].removesuffix("Condition") or None
        return text

    def _ship_from(self) -> str | None:
        sel = self.selector
        place = clean(sel.css("[itemprop=availableAtOrFrom]::text").get())
        if place:
            return place
        spans = sel.css(".ux-labels-values__values-content .ux-textspans--SECONDARY::text")
        for text in spans.getall():
            label, sep, value = (clean(text) or "").partition(": ")
            if sep and value and len(label) <= 30 and not re.search(r"\d", label):
                return value
        return None

    def _units_sold(self) -> int | None:
        areas = self.selector.css(
            ".x-quantity__availability, #why2buy, .vi-qtyS-hot-red, #qtySubTxt, .qtyTxt"
        )
        match = _SOLD.search(" ".join(areas.xpath(".//text()").getall()))
        return count(match.group(1)) if match else None

    def _rating(self, listing: Listing, product: dict[str, Any]) -> None:
        listing.rating = to_decimal(dig(product, "aggregateRating", "ratingValue"))
        reviews = dig(product, "aggregateRating", "ratingCount") or dig(
            product, "aggregateRating", "reviewCount"
        )
        listing.review_count = count(reviews)

    def _catalogue(self, canonical: str, epid: str) -> Listing:
        sel = self.selector
        page = next((d for d in iter_jsonld(sel) if d.get("@type") == "WebPage"), {})
        offered = dig(page, "mainEntity", "offers", "itemOffered")
        product = offered[0] if isinstance(offered, list) and offered else {}
        offers = []
        raw_offers = product.get("offers")
        for offer in raw_offers if isinstance(raw_offers, list) else []:
            if not isinstance(offer, dict):
                continue
            offer_id = re.search(r"[?&]iid=(\d+)", str(offer.get("url") or ""))
            host = urlsplit(canonical).netloc
            offers.append({
                "listing_id": offer_id.group(1) if offer_id else None,
                "price": clean(str(offer.get("price"))),
                "currency": offer.get("priceCurrency"),
                "url": f"https://{host}/itm/{offer_id.group(1)}" if offer_id else None,
            })
        priced = [o for o in offers if to_decimal(o["price"]) is not None and o["currency"]]
        low = min(priced, key=lambda o: to_decimal(o["price"]) or Decimal(0), default=None)
        title = clean(sel.css("h1").xpath("string()").get()) or clean(product.get("name"))
        images: list[Any] = (
            product["image"] if isinstance(product.get("image"), list) else [])
        brand = product.get("brand")
        return Listing(
            marketplace=MARKETPLACE,
            url=canonical,
            listing_id=None,
            title=title,
            price=to_decimal(low["price"]) if low else None,
            currency=low["currency"] if low else None,
            price_text=f"{low['currency']} {low['price']}" if low else None,
            images=_unique_images(abs_url(u, self.url) for u in images if isinstance(u, str)),
            brand=clean(brand) if isinstance(brand, str) else None,
            extra={"page_type": "catalogue", "epid": epid, "offers": offers},
        )


def _unique_images(urls: Any) -> list[str]:
    """Image URLs in order, one per eBay picture id (`/g/<id>/`, sizes collapsed)."""
    seen: set[str] = set()
    out = []
    for url in urls:
        if not url:
            continue
        match = re.search(r"/(?:g|i)/([^/]+)/", url)
        key = match.group(1) if match else url
        if key not in seen:
            seen.add(key)
            out.append(url)
    return out


SEARCH_PAGE = EbaySearchPage
LISTING_PAGE = EbayListingPage
