"""The selector language of marketplace recipes: parsing up front, evaluation on a page.

Forms (spec section 3):

- CSS, with Scrapy's `::text` and `::attr(name)` (comma-separated groups allowed);
- `xpath:EXPR`;
- `jsonld:dotted.path`, into the page's JSON-LD Product (`@graph`, nesting and lists handled;
  a list on the way, such as `offers`, means its first item unless the segment is an index);
- `meta:NAME`, the `content` of a `<meta>` tag whose `name` or `property` is NAME;
- `text:WORDS`, whether the page's visible text contains WORDS (case-insensitive, whitespace
  normalised). It is a test, not a value: `matches()` answers it, and as a value it yields
  WORDS itself when present.

`compile_selector()` validates once, when the watchlist is loaded; `extract_first()`,
`extract_all()`, `select()` and `matches()` evaluate a selector, or a list of fallbacks where
the first that yields something wins, on a `parsel.Selector` (a page or an element of it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cssselect
from lxml import etree
from parsel import Selector
from parsel.csstranslator import css2xpath

Kind = Literal["css", "xpath", "jsonld", "meta", "text"]

_PREFIXES: tuple[Kind, ...] = ("xpath", "jsonld", "meta", "text")
_PRODUCT_TYPES = frozenset({"Product", "ProductGroup", "IndividualProduct", "ProductModel"})
_INVISIBLE = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"
_TEXT_NODES = f".//text()[not({_INVISIBLE})]"
_PROBE = Selector(text="<html><body><p>probe</p></body></html>")


@dataclass(frozen=True)
class SelectorSpec:
    """One compiled selector."""

    kind: Kind
    """Which form: `css`, `xpath`, `jsonld`, `meta` or `text`."""
    expr: str
    """The expression without its prefix (CSS as written, the XPath, the JSON path...)."""
    source: str
    """The selector exactly as written in the watchlist."""
    pseudo: bool = False
    """For CSS: True when a group uses `::text` or `::attr()`, so it yields strings."""

    @property
    def selects_elements(self) -> bool:
        """True when the selector can pick elements (CSS without pseudo-elements, or XPath)."""
        return (self.kind == "css" and not self.pseudo) or self.kind == "xpath"

    def __str__(self) -> str:
        return self.source


Specs = SelectorSpec | Sequence[SelectorSpec]
MAX_SELECTOR = 2000
"""Longest selector text compiled (a recipe is written by a person)."""
MAX_JSONLD_BYTES = 2 * 1024 * 1024
"""Largest JSON-LD script parsed; a page's product data is a few kilobytes."""
MAX_JSONLD_SCRIPTS = 50
"""JSON-LD scripts of one page read, in document order."""
MAX_JSONLD_DEPTH = 32
"""Deepest nesting searched for a Product in a JSON-LD document."""


def compile_selector(text: str) -> SelectorSpec:
    """Parse and check one selector; `ValueError` with a readable reason if it is wrong."""
    source = text
    stripped = text.strip()
    if not stripped:
        raise ValueError("a selector cannot be empty")
    if len(stripped) > MAX_SELECTOR:
        raise ValueError(f"a selector is at most {MAX_SELECTOR} characters, this one "
                         f"{len(stripped)}")
    for prefix in _PREFIXES:
        if stripped.startswith(prefix + ":"):
            expr = stripped[len(prefix) + 1 :].strip()
            if not expr:
                raise ValueError(f"nothing follows '{prefix}:'")
            return _CHECKS[prefix](expr, source)
    return _compile_css(stripped, source)


def _compile_css(expr: str, source: str) -> SelectorSpec:
    try:
        css2xpath(expr)
        groups = cssselect.parse(expr)
    except cssselect.SelectorError as exc:
        raise ValueError(f"not a valid CSS selector ({exc})") from exc
    pseudo = any(group.pseudo_element is not None for group in groups)
    return SelectorSpec("css", expr, source, pseudo)


def _compile_xpath(expr: str, source: str) -> SelectorSpec:
    try:
        etree.XPath(expr)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"not a valid XPath expression ({exc})") from exc
    try:
        _PROBE.xpath(expr)
    except ValueError as exc:
        reason = str(exc).removeprefix("XPath error: ").split(" in ")[0]
        raise ValueError(f"not a usable XPath expression ({reason})") from exc
    return SelectorSpec("xpath", expr, source)


def _compile_jsonld(expr: str, source: str) -> SelectorSpec:
    segments = expr.split(".")
    if any(not s or s != s.strip() or " " in s for s in segments):
        raise ValueError(
            f"'{expr}' is not a dotted path; expected names joined by dots, "
            "such as 'offers.price' or 'brand.name'"
        )
    return SelectorSpec("jsonld", expr, source)


def _compile_meta(expr: str, source: str) -> SelectorSpec:
    if any(c.isspace() for c in expr):
        raise ValueError(f"a meta name has no spaces, got '{expr}'")
    return SelectorSpec("meta", expr, source)


def _compile_text(expr: str, source: str) -> SelectorSpec:
    return SelectorSpec("text", _normalise(expr), source)


_CHECKS = {
    "xpath": _compile_xpath,
    "jsonld": _compile_jsonld,
    "meta": _compile_meta,
    "text": _compile_text,
}


def evaluate(sel: Selector, spec: SelectorSpec) -> list[str]:
    """Every value one selector yields on `sel`, whitespace-normalised, empty ones dropped."""
    if spec.kind == "text":
        return [spec.expr] if spec.expr.casefold() in visible_text(sel).casefold() else []
    if spec.kind == "jsonld":
        raw = _jsonld_values(sel, spec.expr.split("."))
    elif spec.kind == "meta":
        query = "//meta[@name=$n or @property=$n]/@content"
        raw = sel.xpath(query, n=spec.expr).getall()
    else:
        raw = [_node_text(node) for node in _nodes(sel, spec)]
    return [value for value in map(_normalise, raw) if value]


def extract_first(sel: Selector, specs: Specs) -> str | None:
    """The first non-empty value of the first fallback that yields one, or None."""
    for spec in _as_list(specs):
        values = evaluate(sel, spec)
        if values:
            return values[0]
    return None


def extract_all(sel: Selector, specs: Specs) -> list[str]:
    """Every value of the first fallback that yields any (fallbacks are not merged)."""
    for spec in _as_list(specs):
        values = evaluate(sel, spec)
        if values:
            return values
    return []


def select(sel: Selector, specs: Specs) -> list[Selector]:
    """The elements picked by the first CSS/XPath fallback that picks any (e.g. results)."""
    for spec in _as_list(specs):
        if spec.kind not in ("css", "xpath"):
            raise ValueError(f"'{spec.source}' does not select elements")
        nodes = _nodes(sel, spec)
        if nodes:
            return nodes
    return []


def matches(sel: Selector, specs: Specs) -> bool:
    """True when any fallback finds something on `sel` (an element, a value or the text)."""
    for spec in _as_list(specs):
        if spec.selects_elements:
            if _nodes(sel, spec):
                return True
        elif evaluate(sel, spec):
            return True
    return False


def visible_text(sel: Selector) -> str:
    """The text a reader sees in `sel`: scripts, styles and templates left out, normalised."""
    if isinstance(sel.root, str):
        return _normalise(sel.root)
    return _normalise(" ".join(sel.xpath(_TEXT_NODES).getall()))


def playwright_selector(spec: SelectorSpec) -> str:
    """The same element selector in Playwright's syntax (for wait_for and consent_click)."""
    if spec.kind == "xpath":
        return f"xpath={spec.expr}"
    if spec.kind == "css" and not spec.pseudo:
        return spec.expr
    raise ValueError(f"'{spec.source}' does not select elements")


def _as_list(specs: Specs) -> Sequence[SelectorSpec]:
    return (specs,) if isinstance(specs, SelectorSpec) else specs


def _nodes(sel: Selector, spec: SelectorSpec) -> list[Selector]:
    if spec.kind == "css":
        return list(sel.css(spec.expr))
    return list(sel.xpath(spec.expr))


def _node_text(node: Selector) -> str:
    """A string result as is; an element's visible text."""
    root = node.root
    if isinstance(root, str | bytes | int | float | bool):
        return str(root)
    return visible_text(node)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _jsonld_values(sel: Selector, path: list[str]) -> list[str]:
    for product in _products(sel):
        values = list(_walk(product, path))
        if values:
            return values
    return []


def _products(sel: Selector) -> Iterator[dict[str, Any]]:
    """Every JSON-LD Product on the page, in document order, however deeply nested."""
    scripts = sel.xpath('//script[@type="application/ld+json"]/text()').getall()
    for script in scripts[:MAX_JSONLD_SCRIPTS]:
        if len(script) > MAX_JSONLD_BYTES:
            continue  # not product data anyone reads
        try:
            data = json.loads(script, parse_float=str, parse_int=str)
        except (json.JSONDecodeError, RecursionError):  # nested past Python's stack: hostile
            continue
        yield from _find_products(data)


def _find_products(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > MAX_JSONLD_DEPTH:
        return
    if isinstance(data, list):
        for item in data:
            yield from _find_products(item, depth + 1)
    elif isinstance(data, dict):
        types = data.get("@type")
        names = types if isinstance(types, list) else [types]
        if any(name in _PRODUCT_TYPES for name in names if isinstance(name, str)):
            yield data
        for key, value in data.items():
            if key != "@type":
                yield from _find_products(value, depth + 1)


def _walk(value: Any, path: list[str]) -> Iterator[str]:
    """Follow `path` into `value`; lists on the way mean their first item."""
    for segment in path:
        if isinstance(value, list):
            if segment.isdigit():
                index = int(segment)
                value = value[index] if index < len(value) else None
                continue
            value = value[0] if value else None
        value = value.get(segment) if isinstance(value, dict) else None
        if value is None:
            return
    items = value if isinstance(value, list) else [value]
    for item in items:
        scalar = _scalar(item)
        if scalar is not None:
            yield scalar


def _scalar(item: Any) -> str | None:
    """A JSON value as text: objects by their name (a Brand, an Organization) or @id."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("name", "@value", "url", "@id"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


__all__ = [
    "SelectorSpec",
    "Specs",
    "compile_selector",
    "evaluate",
    "extract_all",
    "extract_first",
    "matches",
    "playwright_selector",
    "select",
    "visible_text",
]
