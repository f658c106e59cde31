"""Helpers shared by page objects: embedded JSON, JSON-LD, text and URL normalisation.

Embedded state is read with `json.JSONDecoder.raw_decode` from the first `{` after an
assignment (`window.runParams = {...};`), which stops exactly at the matching brace whatever
follows; JavaScript object literals that are not JSON (unquoted keys, single quotes) go
through `js_object`, a real brace matcher that skips strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urljoin

from parsel import Selector

__all__ = [
    "abs_url",
    "clean",
    "count",
    "dig",
    "embedded_json",
    "find_braces",
    "full_image",
    "iter_jsonld",
    "js_object",
    "jsonld_product",
    "meta",
    "page_lang",
    "to_decimal",
    "unique",
    "yen_hint",
]

_DECODER = json.JSONDecoder()
_WS = re.compile(r"\s+")


def clean(text: str | None) -> str | None:
    """Whitespace collapsed (NBSP included) and stripped; None for empty text."""
    if text is None:
        return None
    out = _WS.sub(" ", text.replace("\u00a0", " ")).strip()
    return out or None


def abs_url(url: str | None, base: str) -> str | None:
    """An absolute URL: protocol-relative `//x` becomes `https://x`, relative joins `base`."""
    url = clean(url)
    if not url:
        return None
    if url.startswith("//"):
        return "https:" + url
    return urljoin(base, url)


def find_braces(text: str, start: int) -> int:
    """Index just past the bracket closing the `{` or `[` at `start` (strings skipped); -1."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _json_at(text: str, start: int) -> Any:
    """The JSON value starting at `start`, or None."""
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    return value


def embedded_json(html: str, pattern: str) -> Any:
    """The JSON object after each match of `pattern` (a regex ending before `{`), first good one.

    `embedded_json(html, r"window\\.runParams\\s*=\\s*")` reads `window.runParams = {...};`.
    Matches whose value is not JSON (or is an empty object) are skipped.
    """
    for match in re.finditer(pattern, html):
        start = match.end()
        while start < len(html) and html[start] in " \t\r\n":
            start += 1
        if start >= len(html) or html[start] not in "{[":
            continue
        value = _json_at(html, start)
        if value is None:
            value = js_object(html, start)
        if value:
            return value
    return None


_UNQUOTED_KEY = re.compile(r"([{,]\s*)([A-Za-z_$][\w$]*)(\s*:)")


def js_object(text: str, start: int) -> Any:
    """A JavaScript object literal at `start` read as JSON (bare keys quoted); None if not."""
    end = find_braces(text, start)
    if end < 0:
        return None
    literal = text[start:end]
    value = _json_at(literal, 0)
    if value is not None:
        return value
    value = _json_at(_UNQUOTED_KEY.sub(r'\1"\2"\3', literal), 0)
    return value


def dig(data: Any, *path: str | int) -> Any:
    """`data[p0][p1]...`, None as soon as a step is missing."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or not -len(data) <= key < len(data):
                return None
            data = data[key]
        elif isinstance(data, dict):
            data = data.get(key)
        else:
            return None
        if data is None:
            return None
    return data


def iter_jsonld(selector: Selector) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object on the page, `@graph` and top-level lists flattened."""
    for raw in selector.xpath("//script[@type='application/ld+json']/text()").getall():
        try:
            data = json.loads(raw, strict=False)
        except json.JSONDecodeError:
            continue
        stack: list[Any] = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                if "@graph" in item:
                    stack.extend(item["@graph"] if isinstance(item["@graph"], list) else [])
                yield item


def _types(item: dict[str, Any]) -> set[str]:
    kind = item.get("@type")
    kinds: Iterable[Any] = kind if isinstance(kind, list) else [kind]
    return {str(k) for k in kinds}


def jsonld_product(selector: Selector) -> dict[str, Any] | None:
    """The page's JSON-LD `Product` (or `ProductGroup`), or None."""
    for item in iter_jsonld(selector):
        if _types(item) & {"Product", "ProductGroup", "IndividualProduct"}:
            return item
    return None


def meta(selector: Selector, name: str) -> str | None:
    """A `<meta>` tag's content by `property` or `name`."""
    value = selector.xpath(
        "//meta[@property=$n or @name=$n][1]/@content", n=name
    ).get()
    return clean(value)


def page_lang(selector: Selector) -> str:
    """The `<html lang>` primary subtag, lower case ('' when absent)."""
    lang = selector.xpath("/html/@lang").get() or ""
    return lang.split("-")[0].split("_")[0].strip().lower()


_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def yen_hint(selector: Selector) -> str | None:
    """For a bare `¥`: the currency the page's own language implies (page evidence, not domain).

    `<html lang>` zh gives CNY and ja JPY; without it, a title in kana means JPY and one in
    Chinese characters only means CNY.
    """
    lang = page_lang(selector)
    if lang in ("zh", "ja"):
        return "CNY" if lang == "zh" else "JPY"
    title = selector.xpath("normalize-space(//title[1])").get("")
    if _KANA.search(title):
        return "JPY"
    if _HAN.search(title):
        return "CNY"
    return None


_ALI_SIZE = re.compile(
    r"(\.(?:jpe?g|png|gif|webp))(?:_\d+x\d+\w*\.(?:jpe?g|png|webp))?(?:_\.webp)?$",
    re.IGNORECASE,
)


def full_image(url: str) -> str:
    """An Alibaba-CDN image URL without its thumbnail suffix (`x.jpg_50x50.jpg` → `x.jpg`)."""
    return _ALI_SIZE.sub(r"\1", url)


def unique(items: Iterable[str | None]) -> list[str]:
    """Non-empty items, first occurrence kept, in order."""
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as Decimal (exact for strings); None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    text = clean(str(value))
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


_COUNT = re.compile(r"(\d+(?:[.,]\d+)?)\s*([kKmM千万萬]|mil)?")


def count(text: Any) -> int | None:
    """A count as shown: '1,234 sold' → 1234, '2k+' → 2000, '8300+件' → 8300, '1.5万' → 15000."""
    if text is None:
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    raw = str(text).replace("\u00a0", " ")
    raw = re.sub(r"(?<=\d)[,.\s](?=\d{3}(?!\d))", "", raw)
    match = _COUNT.search(raw)
    if not match:
        return None
    number = Decimal(match.group(1).replace(",", "."))
    factor = {"k": 1000, "m": 1_000_000, "千": 1000, "万": 10_000, "萬": 10_000, "mil": 1000}
    suffix = (match.group(2) or "").lower()
    return int(number * factor.get(suffix, 1))
