"""Layered search results: the page object's, else structured data, else repeated DOM cards.

Layer 1 is the marketplace's search page object. When it finds nothing (its state is gone, a
redesign renamed its classes), layer 2 reads a JSON-LD `ItemList` (`ListItem`s with a URL or
an `item` Product with name, offers and image), and layer 3 looks for the page's repeated
cards: links to listing-shaped URLs of the same site, grouped by the shape of the element
around them (tag and class path), the largest group of at least `MIN_CARDS` taken as the
results, each card's title, price-shaped text and "Sponsored"-style marker read.

Every layer ends with the same clean-up: placeholders ("Shop on eBay" tiles, `/itm/123456`)
are flagged, and `organic_position` numbers only results that are neither sponsored nor
placeholders, so an advert never takes an organic rank.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector

from crawler.items import SearchResult
from crawler.prices import parse_price
from spiders.extract.bounds import MAX_ELEMENTS
from spiders.extract.found import HEURISTIC, JSONLD, PAGE
from spiders.extract.heuristic import _SELLER_HREF, _price_text, listing_id_from_url, site_token
from spiders.extract.structured import _images, _offer, _text, jsonld_items
from spiders.pages._util import abs_url, clean, to_decimal
from spiders.pages.base import SearchPage

__all__ = ["SearchExtraction", "extract_results", "number_organic"]

logger = logging.getLogger(__name__)

MIN_CARDS = 3
_LISTING_PATH = re.compile(
    r"/(?:item|itm|product|products|dp|listing|offer|p|ip|goods|detail|product-detail)"
    r"(?:/|\.|-|_|$)|\d{6,}", re.IGNORECASE)
_STRONG_PATH = re.compile(
    r"/(?:item|itm|product|products|dp|listing|offer|ip|goods|detail|product-detail)"
    r"(?:/|\.|-|_|$)", re.IGNORECASE)
_QUERY_ID = re.compile(r"[?&](?:id|itemId|item_id|offerId|goods_id|productId)=\w{5,}",
                       re.IGNORECASE)
_AD = re.compile(r"(?:^|\W)(?:sponsored|promoted|anzeige|patrocinado|sponsoris[ée]|"
                 r"広告|广告|推广|ad)(?:\W|$)", re.IGNORECASE)
_PLACEHOLDER_TITLE = re.compile(r"^shop on \w+", re.IGNORECASE)
_PLACEHOLDER_IDS = frozenset({"123456"})


@dataclass
class SearchExtraction:
    """The results and which strategy gave them."""

    results: list[SearchResult]
    source: str
    errors: dict[str, str] = field(default_factory=dict)


def number_organic(results: list[SearchResult]) -> list[SearchResult]:
    """Flag placeholders and give organic positions (1, 2...) to the rest that are not ads."""
    rank = 0
    for result in results:
        if (result.listing_id in _PLACEHOLDER_IDS
                or _PLACEHOLDER_TITLE.match(result.title or "")):
            result.placeholder = True
        if result.placeholder or result.sponsored:
            result.organic_position = None
            continue
        rank += 1
        result.organic_position = rank
    return results


def from_itemlist(selector: Selector, base: str) -> list[SearchResult]:
    """Results from a JSON-LD `ItemList`."""
    out: list[SearchResult] = []
    for item in jsonld_items(selector):
        kind = item.get("@type")
        if kind != "ItemList" and not (isinstance(kind, list) and "ItemList" in kind):
            continue
        elements = item.get("itemListElement")
        for element in (elements if isinstance(elements, list) else [])[:MAX_ELEMENTS]:
            if not isinstance(element, dict):
                continue
            inner = element.get("item")
            product: dict[str, Any] = inner if isinstance(inner, dict) else element
            url = abs_url(str(product.get("url") or element.get("url") or ""), base)
            if not url:
                continue
            offer = _offer(product)
            amount = to_decimal(offer.get("price")) or to_decimal(offer.get("lowPrice"))
            currency = clean(str(offer.get("priceCurrency") or "")) or None
            images = _images(product.get("image"), base)
            out.append(SearchResult(
                url=url, listing_id=listing_id_from_url(url), title=_text(product.get("name")),
                price=amount if currency else None, currency=currency if amount else None,
                image_url=images[0] if images else None, position=len(out) + 1))
        if out:
            break
    return out


def _shape(node: Selector) -> str:
    """Tag and class path of a node's three nearest ancestors (a card's 'shape')."""
    parts = []
    for anc in node.xpath("ancestor-or-self::*[position() <= 4]")[::-1]:
        tag = anc.xpath("name()").get("")
        cls = " ".join(sorted((anc.attrib.get("class") or "").split()))
        parts.append(f"{tag}.{cls}")
    return "/".join(parts)


def _listing_like(url: str, strong: bool = False) -> bool:
    path = url.split("?")[0]
    parts = urlsplit(url)
    if _SELLER_HREF.search(f"{parts.path}?{parts.query}"):
        return False
    return bool((_STRONG_PATH if strong else _LISTING_PATH).search(path)
                or _QUERY_ID.search(url))


def _key(url: str) -> str:
    """What makes two links the same listing: its id, else its path."""
    return listing_id_from_url(url) or url.split("?")[0]


def _card(link: Selector, url: str, base: str, strong: bool) -> Selector | None:
    """The largest ancestor of `link` (up to 8 levels) linking to no other listing."""
    card = None
    for anc in link.xpath("ancestor-or-self::*[position() <= 9]")[::-1]:
        if anc.xpath("name()").get("") in ("body", "html", "ul", "ol", "table"):
            break
        mine = _key(url)
        urls = {abs_url(h, base) for h in anc.xpath("descendant-or-self::a/@href").getall()[:60]}
        if any(u and _key(u) != mine and _listing_like(u, strong) for u in urls):
            break
        card = anc
    return card


def _card_title(card: Selector) -> str | None:
    candidates = [*card.xpath(".//*[self::h1 or self::h2 or self::h3 or self::h4]").xpath(
                      "string()").getall(),
                  *card.xpath(".//a/@title").getall(),
                  *card.xpath(".//a//text()").getall(), *card.xpath(".//img/@alt").getall()]
    for text in candidates[:100]:
        text = clean(text) or ""
        if len(text) >= 8 and re.search(r"[^\W\d_]", text) and not _price_text(text, None):
            return text[:400]
    return None


def from_cards(selector: Selector, base: str) -> list[SearchResult]:
    """Results from the page's largest group of same-shaped cards linking to listings."""
    own = site_token(base)
    groups: dict[str, list[tuple[Selector, str, bool]]] = defaultdict(list)
    seen: set[str] = set()
    for link in selector.xpath("//body//a[@href]")[:MAX_ELEMENTS * 10]:
        url = abs_url(link.attrib.get("href"), base)
        if not url or _key(url) in seen or not _listing_like(url):
            continue
        if own and site_token(url) not in ("", own):
            continue
        strong = _listing_like(url, strong=True)
        card = _card(link, url, base, strong)
        if card is None:
            continue
        seen.add(_key(url))
        groups[_shape(card)].append((card, url, strong))
    if not groups:
        return []
    cards = max(groups.values(), key=lambda g: sum(2 if strong else 1 for _, _, strong in g))
    if len(cards) < MIN_CARDS:
        return []
    out: list[SearchResult] = []
    for card, url, _ in cards[:MAX_ELEMENTS]:
        price = None
        for text in card.xpath(".//text()").getall()[:200]:
            got = _price_text(text, None)
            if got is not None:
                price = parse_price(got[0])
                break
        marks = " ".join(t.strip() for t in card.xpath(".//text()").getall()[:200]
                         if 0 < len(t.strip()) <= 20)
        out.append(SearchResult(
            url=url, listing_id=listing_id_from_url(url), title=_card_title(card),
            price=price.amount if price else None, currency=price.currency if price else None,
            image_url=abs_url(card.xpath(".//img/@src").get(), base),
            sponsored=bool(_AD.search(marks)), position=len(out) + 1))
    return out


def extract_results(page: SearchPage) -> SearchExtraction:
    """Every layer over a search page (see the module doc)."""
    errors: dict[str, str] = {}
    try:
        results = page.results()
    except Exception as exc:  # a broken page object must not lose the capture
        logger.warning("page object %s failed on %s: %r", type(page).__name__, page.url, exc)
        errors[PAGE] = f"{type(exc).__name__}: {exc}"
        results = []
    if results:
        return SearchExtraction(number_organic(results), PAGE, errors)
    results = from_itemlist(page.selector, page.url)
    if results:
        return SearchExtraction(number_organic(results), JSONLD, errors)
    return SearchExtraction(number_organic(from_cards(page.selector, page.url)), HEURISTIC,
                            errors)
