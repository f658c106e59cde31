"""Layer 2: structured data a product page publishes in some form.

JSON-LD `Product` / `ProductGroup` (top level, in lists, in `@graph`, as a `WebPage`'s
`mainEntity`) with its `Offer`, `AggregateOffer` or list of offers; microdata
(`itemtype=.../Product` with `itemprop` name, price, priceCurrency, image, brand, seller,
availability, sku); OpenGraph and `product:` meta tags (`og:title`, `og:image`,
`product:price:amount`, `og:price:currency`, `product:availability`, `product:retailer_item_id`).
All reads are bounded (`spiders.extract.bounds`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from parsel import Selector

from spiders.extract.bounds import MAX_ELEMENTS, MAX_JSON_SCRIPTS, MAX_TEXT, load_json, walk
from spiders.extract.found import JSONLD, META, MICRODATA, Found
from spiders.pages._util import abs_url, clean, to_decimal, unique

__all__ = ["jsonld_items", "jsonld_products", "structured"]

_PRODUCT_TYPES = frozenset({"Product", "ProductGroup", "IndividualProduct", "ProductModel"})
_GONE = ("OutOfStock", "SoldOut", "Discontinued")
_IN = ("InStock", "InStoreOnly", "OnlineOnly", "LimitedAvailability", "PreOrder", "BackOrder")


def _types(item: dict[str, Any]) -> set[str]:
    kind = item.get("@type")
    kinds: Iterable[Any] = kind if isinstance(kind, list) else [kind]
    return {str(k).rsplit("/", 1)[-1] for k in kinds}


def jsonld_items(selector: Selector) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object on the page, bounded in size, count and depth."""
    scripts = selector.xpath("//script[@type='application/ld+json']/text()").getall()
    for raw in scripts[:MAX_JSON_SCRIPTS]:
        data = load_json(raw)
        if data is not None:
            yield from walk(data)


def jsonld_products(selector: Selector) -> list[dict[str, Any]]:
    """The page's JSON-LD products, in page order."""
    return [item for item in jsonld_items(selector) if _types(item) & _PRODUCT_TYPES]


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = clean(html.unescape(str(value)))  # some sites entity-encode JSON-LD text
        return text if text and len(text) <= MAX_TEXT else None
    return None


def _images(value: Any, base: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    urls: list[str | None] = []
    for item in items[:50]:
        if isinstance(item, dict):
            item = item.get("contentUrl") or item.get("url")
        if isinstance(item, str):
            urls.append(abs_url(item, base))
    return unique(urls)


def _availability(value: Any) -> bool | None:
    text = str(value or "")
    if text.endswith(_GONE):
        return False
    if text.endswith(_IN):
        return True
    return None


def _offer(product: dict[str, Any]) -> dict[str, Any]:
    offers = product.get("offers")
    if isinstance(offers, list):
        offers = next((o for o in offers if isinstance(o, dict)), None)
    if isinstance(offers, dict) and isinstance(offers.get("offers"), list | dict) and \
            offers.get("price") is None and offers.get("lowPrice") is None:
        inner = offers["offers"]
        inner = inner[0] if isinstance(inner, list) and inner else inner
        if isinstance(inner, dict):
            return inner
    return offers if isinstance(offers, dict) else {}


def _inner(offer: dict[str, Any], key: str) -> Any:
    """`key` of an `AggregateOffer`'s first offer that has it."""
    inner = offer.get("offers")
    for item in (inner if isinstance(inner, list) else [inner])[:50]:
        if isinstance(item, dict) and item.get(key):
            return item[key]
    return None


def _variant(variants: list[Any], base: str) -> dict[str, Any]:
    """The variant of a `ProductGroup` whose URL is the page's, else the first with an offer."""
    with_offer = [v for v in variants[:200] if isinstance(v, dict) and _offer(v)]
    for variant in with_offer:
        if str(variant.get("url") or _offer(variant).get("url") or "").split("?")[0] == \
                base.split("?")[0]:
            return variant
    return with_offer[0] if with_offer else {}


def _positive(value: Any) -> Decimal | None:
    """An offer price above zero. Lazada writes `"price": 0` beside the $17.00 its page shows
    (tests/pages/lazada/item-1): a zero is a placeholder, not a price."""
    amount = to_decimal(value)
    return amount if amount is not None and amount > 0 else None


def from_jsonld(selector: Selector, base: str) -> Found:
    """Fields of the page's first JSON-LD product (name, offer, seller, images, brand, sku)."""
    found = Found(JSONLD)
    for product in jsonld_products(selector)[:1]:
        offer = _offer(product)
        variants = product.get("hasVariant")
        if not offer and isinstance(variants, list):  # a ProductGroup: the offer's on a variant
            variant = _variant(variants, base)
            offer = _offer(variant)
            product = {**variant, **{k: v for k, v in product.items() if v}}
        found.put("title", _text(product.get("name")))
        amount = _positive(offer.get("price"))
        if amount is None:
            amount = _positive(offer.get("lowPrice"))
        currency = clean(str(offer.get("priceCurrency") or "")) or None
        if amount is None and isinstance(offer.get("priceSpecification"), dict):
            spec = offer["priceSpecification"]
            amount = _positive(spec.get("price"))
            currency = currency or clean(str(spec.get("priceCurrency") or "")) or None
        if amount is not None:
            found.put("price", amount)
            found.put("currency", currency.upper() if currency and len(currency) == 3 else None)
            found.put("price_text", f"{offer.get('price') or offer.get('lowPrice') or amount}"
                      + (f" {currency}" if currency else ""))
        seller = offer.get("seller") or _inner(offer, "seller") or product.get("seller")
        found.put("seller_name", _text(seller))
        if isinstance(seller, dict) and isinstance(seller.get("url"), str):
            found.put("seller_url", abs_url(seller["url"], base))
        found.put("images", _images(product.get("image"), base))
        found.put("brand", _text(product.get("brand")))
        sku = product.get("sku") or product.get("productID") or offer.get("sku")
        found.put("listing_id", _text(sku))
        found.put("available", _availability(
            offer.get("availability") or _inner(offer, "availability")))
    return found


def _prop(scope: Selector, name: str, direct: bool = False) -> Selector | None:
    """The first element with `itemprop=name` in `scope`; with `direct`, only one whose
    nearest item scope is `scope` itself (a product's name, not its breadcrumb's)."""
    nodes = scope.xpath(
        ".//*[contains(concat(' ', normalize-space(@itemprop), ' '), $n)]", n=f" {name} ")
    for node in nodes[:MAX_ELEMENTS]:
        if direct:
            owner = node.xpath("ancestor::*[@itemscope][1]")
            if not owner or owner[0].root is not scope.root:
                continue
        return node
    return None


def _prop_value(node: Selector | None) -> str | None:
    if node is None:
        return None
    attrs = node.attrib
    for attr in ("content", "value"):
        if attr in attrs:
            return clean(attrs[attr])
    tag = node.xpath("name()").get("")
    if tag in ("img", "source"):
        return clean(attrs.get("src") or attrs.get("data-src"))
    if tag in ("a", "link"):
        return clean(attrs.get("href"))
    if tag == "meta":
        return None
    text = clean(node.xpath("string()").get())
    return text if text and len(text) <= MAX_TEXT else None


def from_microdata(selector: Selector, base: str) -> Found:
    """Fields of the page's first microdata `Product` item."""
    found = Found(MICRODATA)
    scopes = selector.xpath("//*[@itemscope][contains(@itemtype, 'schema.org/Product') or "
                            "contains(@itemtype, 'data-vocabulary.org/Product')]")  # older Google
    for scope in scopes[:1]:
        found.put("title", _prop_value(_prop(scope, "name", direct=True)))
        price = _prop(scope, "price")
        raw = _prop_value(price)
        amount = to_decimal(raw)
        currency = _prop_value(_prop(scope, "priceCurrency") or _prop(scope, "currency"))
        if amount is None and raw:
            from crawler.prices import parse_price

            money = parse_price(raw, currency)
            if money is not None:
                amount, currency = money.amount, money.currency
        if amount is not None:
            found.put("price", amount)
            found.put("currency", currency.upper() if currency and len(currency) == 3 else None)
            shown = clean(price.xpath("string()").get()) if price is not None else None
            found.put("price_text", shown or raw)
        seller = _prop(scope, "seller")
        if seller is not None:
            name = _prop(seller, "name")
            found.put("seller_name", _prop_value(name) if name is not None
                      else _prop_value(seller))
        images = [_prop_value(n) for n in scope.xpath(".//*[@itemprop='image']")[:20]]
        found.put("images", unique(abs_url(u, base) for u in images))
        brand = _prop(scope, "brand")
        if brand is not None:
            name = _prop(brand, "name")
            found.put("brand", _prop_value(name) if name is not None else _prop_value(brand))
        found.put("listing_id", _prop_value(_prop(scope, "sku"))
                  or _prop_value(_prop(scope, "productID")))
        found.put("available", _availability(_prop_value(_prop(scope, "availability"))))
    return found


def _metas(selector: Selector) -> dict[str, list[str]]:
    """Every `<meta>` tag's content by `property` and `name` (one pass over the page)."""
    out: dict[str, list[str]] = {}
    for node in selector.xpath("//meta[@content]")[:MAX_ELEMENTS * 5]:
        content = node.attrib.get("content", "")
        for key in {node.attrib.get("property"), node.attrib.get("name")}:
            if key:
                out.setdefault(key, []).append(content)
    return out


def _meta(metas: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        for value in metas.get(name, [])[:1]:
            text = clean(value)
            if text and len(text) <= 2000:
                return text
    return None


def from_meta(selector: Selector, base: str) -> Found:
    """Fields of OpenGraph and `product:` meta tags."""
    found = Found(META)
    metas = _metas(selector)
    from spiders.extract.heuristic import clean_title, site_token

    title = clean_title(_meta(metas, "og:title", "twitter:title"), site_token(base))
    found.put("title", title)
    amount = to_decimal(_meta(metas, "product:price:amount", "og:price:amount"))
    currency = _meta(metas, "product:price:currency", "og:price:currency")
    if amount is not None:
        found.put("price", amount)
        found.put("currency", currency.upper() if currency and len(currency) == 3 else None)
        found.put("price_text", f"{amount} {currency}" if currency else str(amount))
    images = [abs_url(u, base) for u in (metas.get("og:image", []) +
                                          metas.get("og:image:url", []))[:20]]
    found.put("images", unique(images))
    found.put("brand", _meta(metas, "product:brand", "og:brand"))
    found.put("listing_id", _meta(metas, "product:retailer_item_id"))
    found.put("available", _availability(
        (_meta(metas, "product:availability", "og:availability") or "")
        .replace(" ", "").replace("instock", "InStock").replace("oos", "OutOfStock")
        .replace("outofstock", "OutOfStock")))
    return found


def structured(selector: Selector, base: str) -> list[Found]:
    """Layer 2, strongest first: JSON-LD, microdata, meta tags."""
    return [from_jsonld(selector, base), from_microdata(selector, base),
            from_meta(selector, base)]
