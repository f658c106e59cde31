"""Layer 3: generic heuristics on the rendered DOM, for pages that carry neither the
marketplace's state nor structured data (a browser-saved DOM with hashed class names, a
fragment copied from DevTools, tomorrow's redesign).

- title: the first `<h1>` with text (the product heading), else the `<title>` without its
  site suffix;
- price: the first short text in an element whose class, id or data attribute says "price"
  (not a struck-through, old or list price) that holds a currency sign or code and an
  amount; else the first short text node shaped like a price;
- seller: the first link to a store, shop, seller or supplier page whose text is a name, not
  a button label;
- images: `<img>` inside a gallery / carousel / swiper / thumbnail container;
- listing id: `id=` / `itemId=` in the URL, else the last run of 6+ digits in its path.

Each heuristic looks at a bounded number of elements (`spiders.extract.bounds`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from parsel import Selector

from crawler.prices import detect_currency, parse_price
from spiders.extract.bounds import MAX_ELEMENTS, MAX_HTML_CHARS, MAX_TEXT
from spiders.extract.found import HEURISTIC, URL, Found
from spiders.pages._util import abs_url, clean, unique

__all__ = ["heuristics", "listing_id_from_url"]

def _has(attr: str, word: str) -> str:
    """XPath: `attr` contains `word` or `Word` (as written and capitalised: cheaper than
    lower-casing every attribute of a large page with `translate()`)."""
    return f"contains({attr}, '{word}') or contains({attr}, '{word.capitalize()}')"

_PRICE_NODES = (
    f"//body//*[{_has('@class', 'price')} or {_has('@id', 'price')}"
    f" or @data-pl='product-price' or {_has('@data-testid', 'price')}]"
    "[not(self::script or self::style or self::meta or self::input or self::option)]"
)
_NOT_CURRENT = re.compile(
    r"original|old|was|strike|through|list-?price|del|before|origin|crossed|msrp|compare|"
    r"discount|save|shipping|delivery|per-?unit|unit-?price", re.IGNORECASE)
_SELLER_HREF = re.compile(
    r"/(?:store|shop|stores|seller|sellers|usr|supplier|suppliers|company|vendor|brand-?store)"
    r"(?:[/.?=_-]|$)|//(?:shop|store)\d*\.|\.(?:en\.alibaba|1688)\.com|/s\?.*\bme=|"
    r"[?&](?:seller|shop|store)_?id=",
    re.IGNORECASE)
_BUTTONS = re.compile(
    r"^(?:visit|go to|view|contact|follow|message|chat|see|more|all|open|enter|shop|store|"
    r"seller|supplier|sellers|stores|shops|sell|start|become|my|top|best|official|"
    r"进店|进入店铺|店铺|联系|关注|ver |visitar|besuchen|tienda|loja|boutique|products?|"
    r"registration|home|feedback|about|reviews?|categor|new arrivals|sale items|"
    r"top selling|non-chinese|help|policy|report|收藏|我的|七天|退换|客服)",
    re.IGNORECASE)
_GALLERY = (
    "//*[" + " or ".join(_has("@class", w) for w in (
        "gallery", "carousel", "swiper", "slider", "thumb", "image-view", "magnifier",
        "preview")) + f" or {_has('@id', 'gallery')}]//img"
)
_TITLE_SPLIT = re.compile(r"\s+[|\-\u2013\u2014:]\s+(?=[^|\-\u2013\u2014]*$)")
_ID_PARAMS = ("id", "itemid", "item_id", "productid", "product_id", "offerid", "goods_id",
              "sku", "asin")
_ID_DIGITS = re.compile(r"(\d{6,20})")
_PRICEISH = re.compile(r"\d")


def _short(text: str | None, limit: int = MAX_TEXT) -> str | None:
    text = clean(text)
    return text if text and len(text) <= limit else None


_TITLEISH = re.compile(r"title|name|heading", re.IGNORECASE)
_TITLE_SEP = re.compile(r"\s*\|\s*|\s+[-\u2013\u2014]\s+|\s*_\s+|-(?=tmall\.com)")
_LOCAL_NAMES = {"1688": ("阿里巴巴",), "alibaba": ("阿里巴巴",), "taobao": ("淘宝网", "淘宝搜索"),
                "tmall": ("tmall.com", "天猫")}
"""Other names a marketplace gives itself in page titles (`... - 阿里巴巴` on 1688)."""


def clean_title(title: str | None, site: str) -> str | None:
    """A page or `og:` title without the site's name and a price in front or behind:
    `€97.39 40% OFF|Lumara Bag|Bags| - AliExpress` gives `Lumara Bag`. Only when a segment
    names the site or is a price is the title cut (then its longest segment is kept)."""
    title = _short(title)
    if not title:
        return None
    parts = [p.strip(" -|") for p in _TITLE_SEP.split(title)]
    parts = [p for p in parts if p]
    names = (site.lower(), *_LOCAL_NAMES.get(site.lower(), ())) if site else ()
    noise = [p for p in parts if any(n in p.lower().replace(" ", "") for n in names)
             or _price_text(p, None) is not None]
    if not noise or len(parts) < 2:
        return title
    kept = [p for p in parts if p not in noise]
    return max(kept, key=len) if kept else title


def title_node(selector: Selector) -> Selector | None:
    """The product heading: an `<h1>` outside header, navigation and footer, one named like a
    title first, then the longest."""
    best: tuple[int, int, Selector] | None = None
    for node in selector.xpath("//h1")[:10]:
        text = _short(node.xpath("string()").get()) or ""
        if len(text) < 3 or node.xpath(_CHROME).get() == "1":
            continue
        marks = " ".join(node.xpath("ancestor-or-self::*[position() <= 2]/@class"
                                    " | ancestor-or-self::*[position() <= 2]/@id"
                                    " | @itemprop").getall())
        key = (1 if _TITLEISH.search(marks) else 0, len(text))
        if best is None or key > best[:2]:
            best = (*key, node)
    return best[2] if best else None


def _title(selector: Selector, site: str) -> str | None:
    node = title_node(selector)
    if node is not None:
        return _short(node.xpath("string()").get())
    return clean_title(selector.xpath("string(//title[1])").get(), site)


def _closeness(node: Selector, anchor: set[Any], depth: dict[Any, int]) -> int:
    """Depth of the deepest ancestor `node` shares with the title heading (higher: nearer)."""
    element = node.root
    for _ in range(64):
        if element is None:
            return 0
        if element in anchor:
            return depth[element]
        element = element.getparent()
    return 0


def _anchor(selector: Selector) -> tuple[set[Any], dict[Any, int]]:
    """The title heading's ancestors, for `_closeness` (empty without a heading).

    The lxml elements themselves are kept (not their `id()`): lxml returns the same proxy
    for a node only while one is alive, so ids of freed proxies would be reused by others
    and the closeness would change from run to run."""
    node = title_node(selector)
    if node is None:
        return set(), {}
    chain: list[Any] = []
    element = node.root
    while element is not None and len(chain) < 256:
        chain.append(element)
        element = element.getparent()
    chain.reverse()
    return set(chain), {e: n for n, e in enumerate(chain)}


def _price_text(text: str | None, hint: str | None) -> tuple[str, object] | None:
    text = _short(text, 80)
    if not text or not _PRICEISH.search(text):
        return None
    has_marker = detect_currency(text) is not None or any(c in text for c in "$¥￥")
    if not has_marker:
        return None
    money = parse_price(text, hint)
    return (text, money) if money is not None else None


def _inner_same(element: Any, got: tuple[str, object], outer: Any,
                best: tuple[int, str, object]) -> bool:
    """`element` lies inside `outer` and its text is part of the outer's: a price container
    whose text runs on into the next figure (`¥0.55` + `10粒起批` read as 0.5510) gives way."""
    return (len(got[0]) < len(best[1]) and got[0] in best[1]
            and any(parent is outer for parent in element.iterancestors()))


def _price(selector: Selector, found: Found, hint: str | None) -> None:
    anchor, depth = _anchor(selector)
    best: tuple[int, str, object] | None = None
    best_node: Any = None
    for node in selector.xpath(_PRICE_NODES)[:MAX_ELEMENTS]:
        marks = " ".join(node.xpath("ancestor-or-self::*/@class").getall()[-3:])
        if _NOT_CURRENT.search(marks) or node.xpath("ancestor-or-self::del or "
                                                    "ancestor-or-self::s").get() == "1":
            continue
        got = _price_text(node.xpath("string()").get(), hint)
        if got is None:
            continue
        near = _closeness(node, anchor, depth)
        if best is None or near > best[0] or (near == best[0] and _inner_same(
                node.root, got, best_node, best)):
            best, best_node = (near, *got), node.root
    if best is None:
        for raw in selector.xpath("//body//text()[not(ancestor::script or ancestor::style"
                                  " or ancestor::del or ancestor::s)]")[:MAX_ELEMENTS * 10]:
            got = _price_text(raw.get(), hint)
            if got is not None:
                best = (0, *got)
                break
    if best is not None:
        _, text, money = best
        found.put("price", money.amount)  # type: ignore[attr-defined]
        found.put("currency", money.currency)  # type: ignore[attr-defined]
        found.put("price_text", text)


_SUFFIX_LABELS = frozenset({"co", "com", "net", "org", "ne", "or", "ac", "gov", "edu"})


def site_token(url: str) -> str:
    """The marketplace's own name in a URL's host: `pt.aliexpress.com` and `www.ebay.co.uk`
    give `aliexpress` and `ebay` ('' for a relative URL)."""
    labels = (urlsplit(url).hostname or "").split(".")[:-1]
    while len(labels) > 1 and labels[-1] in _SUFFIX_LABELS:
        labels.pop()
    return labels[-1] if labels else ""


_CHROME = ("ancestor::footer or ancestor::nav or ancestor::header or ancestor::*["
           + " or ".join(_has(a, w) for a in ("@class", "@id") for w in ("footer", "header"))
           + "]")


_NAMED = re.compile(r"(?:store|seller|shop|supplier|company|vendor)[-_]?(?:name|title|link)",
                    re.IGNORECASE)
_SELLERISH = re.compile(r"store|seller|shop|supplier|company|vendor", re.IGNORECASE)


def _seller_score(link: Selector, text: str) -> int:
    """How much a link looks like the listing's seller: named classes and a matching title."""
    own = " ".join([link.attrib.get("class", ""), link.attrib.get("data-role", "")])
    near = " ".join(link.xpath("ancestor::*[position() <= 3]/@class"
                               " | ancestor::*[position() <= 3]/@data-role").getall())
    score = 0
    if _NAMED.search(own) or _NAMED.search(near):
        score += 3
    elif _SELLERISH.search(own) or _SELLERISH.search(near):
        score += 2
    if clean(link.attrib.get("title")) == text:
        score += 1
    return score


def _seller(selector: Selector, found: Found, base: str) -> None:
    own = site_token(base)
    anchor, depth = _anchor(selector)
    best: tuple[int, int, str, str] | None = None
    for link in selector.xpath("//body//a[@href]")[:MAX_ELEMENTS * 5]:
        href = link.attrib.get("href", "")
        if not _SELLER_HREF.search(href):
            continue
        target = site_token(abs_url(href, base) or "")
        if own and target and target != own:
            continue  # a store on another site (an app store, the company's own site)
        if link.xpath(_CHROME).get() == "1":
            continue
        text = _short(link.xpath("string()").get(), 80) or _short(link.attrib.get("title"), 80)
        if not text or _BUTTONS.match(text) or len(text) < 2 or text.isdigit():
            continue
        key = (_seller_score(link, text), _closeness(link, anchor, depth))
        if best is None or key > best[:2]:
            best = (*key, text, href)
    if best is not None:
        found.put("seller_name", best[2])
        found.put("seller_url", abs_url(best[3], base))


def _images(selector: Selector, base: str) -> list[str]:
    urls = []
    for img in selector.xpath(_GALLERY)[:MAX_ELEMENTS]:
        src = img.attrib.get("data-src") or img.attrib.get("src") or ""
        if src.startswith("data:") or not src:
            continue
        urls.append(abs_url(src, base))
    return unique(urls)[:30]


def listing_id_from_url(url: str) -> str | None:
    """`id=` (and similar) in the query, else the last run of 6 to 20 digits in the path."""
    parts = urlsplit(url)
    for key, value in parse_qsl(parts.query):
        if key.lower() in _ID_PARAMS and re.fullmatch(r"[\w-]{4,40}", value):
            return value
    digits = _ID_DIGITS.findall(parts.path)
    return digits[-1] if digits else None


def heuristics(selector: Selector, html_length: int, url: str, hint: str | None,
               wanted: set[str] | None = None) -> list[Found]:
    """Layer 3: the DOM heuristics, then the URL. `hint`: a currency the page's structured
    data or language gives, for a bare `$` or `¥`. `wanted`: the fields still missing (the
    heuristics for the others are skipped); None runs them all."""
    found = Found(HEURISTIC)

    def want(*names: str) -> bool:
        return wanted is None or bool(wanted.intersection(names))

    if html_length <= MAX_HTML_CHARS:
        if want("title"):
            found.put("title", _title(selector, site_token(url)))
        if want("price", "currency"):
            _price(selector, found, hint)
        if want("seller_name"):
            _seller(selector, found, url)
        if want("images"):
            found.put("images", _images(selector, url))
    else:
        found.error = f"page over {MAX_HTML_CHARS} characters: no DOM heuristics"
    from_url = Found(URL)
    from_url.put("listing_id", listing_id_from_url(url))
    return [found, from_url]
