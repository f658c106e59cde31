"""Marketplace recipes (spec section 3): a typed `Recipe`, and its parsing from YAML nodes.

A recipe lets an investigator describe a marketplace with no dedicated spider: where to search,
which elements are results, where the listing fields are. `parse_recipe()` turns the YAML node
of one `marketplaces.<name>` entry into a `Recipe`, compiling every selector up front so a
mistake is reported with its file, line and field before anything is crawled.

`NodeReader` (the typed, line-aware reading of YAML nodes) lives here too because both this
module and `crawler.watchlist` use it.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from urllib.parse import quote_plus, urljoin, urlsplit

import yaml
from parsel import Selector

from crawler.exceptions import WatchlistError
from crawler.selectors import SelectorSpec, compile_selector, matches

Selectors = tuple[SelectorSpec, ...]
"""One selector or its fallbacks, in order; empty when the slot is not set."""
Entries = dict[str, tuple[yaml.Node, yaml.Node]]
"""A mapping's entries: name -> (key node, value node)."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_TEXTUAL = frozenset({_STR, _INT, _FLOAT, _TIMESTAMP})
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
MERGE_BUDGET = 10_000
"""Mapping entries that merge keys may copy in one file, in all (nested merges included)."""
MERGE_DEPTH = 16
"""Deepest nesting of merge keys (a merge whose source merges, and so on)."""


# --- YAML node reading ------------------------------------------------------------------


class NodeReader:
    """Reads YAML nodes of one file into typed values; every error names file, line and field."""

    def __init__(self, path: str, merge_budget: int = MERGE_BUDGET) -> None:
        self.path = path
        self.merge_budget = merge_budget
        """Entries merge keys may still copy: nested `<<: [*a, *a]` doubles the work at each
        level (a 1 KB file could take hours), so past the budget the file is refused."""
        self._merging = 0

    def error(self, node: yaml.Node | None, field: str, message: str) -> WatchlistError:
        """A `WatchlistError` at the node's line (1-based)."""
        line = node.start_mark.line + 1 if node is not None else None
        return WatchlistError(self.path, line, field, message)

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        allowed: Collection[str],
        required: Collection[str] = (),
        what: str = "",
    ) -> Entries:
        """The entries of a mapping as name -> (key node, value node), keys checked."""
        entries = self.entries(node, field, what)
        for name, (key, _value) in entries.items():
            if name not in allowed:
                raise self.error(key, _join(field, name), _unknown_key(name, allowed))
        for name in required:
            if name not in entries or is_null(entries[name][1]):
                where = entries[name][1] if name in entries else node
                raise self.error(where, _join(field, name), f"{what or 'this'} needs '{name}'")
        return entries

    def entries(self, node: yaml.Node, field: str, what: str = "") -> Entries:
        """A mapping's entries, with merge keys (`<<: *anchor`) applied and duplicates refused."""
        if not isinstance(node, yaml.MappingNode):
            expected = f"{what} written as 'key: value' lines" if what else "a set of 'key: value'"
            raise self.error(node, field or "(top level)", f"expected {expected}, {_got(node)}")
        explicit: Entries = {}
        merged: Entries = {}
        for key, value in node.value:
            if key.tag == _MERGE:
                for source in self._merge_sources(value, field):
                    for name, pair in self._merged(key, source, field, what).items():
                        merged.setdefault(name, pair)
                continue
            name = self.key_name(key, field)
            if name in explicit:
                first = explicit[name][0].start_mark.line + 1
                raise self.error(
                    key, _join(field, name), f"'{name}' is given twice (first on line {first})"
                )
            explicit[name] = (key, value)
        return {**merged, **explicit}

    def _merged(self, key: yaml.Node, source: yaml.Node, field: str, what: str) -> Entries:
        """The entries a merge key copies from `source`, within the budget and depth."""
        if self._merging >= MERGE_DEPTH:
            raise self.error(key, field or "(top level)",
                             f"merge keys (<<) nested more than {MERGE_DEPTH} deep (or an "
                             f"anchor merged into itself): refused")
        self._merging += 1
        try:
            entries = self.entries(source, field, what)
        finally:
            self._merging -= 1
        self.merge_budget -= max(len(entries), 1)
        if self.merge_budget < 0:
            raise self.error(key, field or "(top level)",
                             f"merge keys (<<) expand to more than {MERGE_BUDGET} entries: "
                             f"refused (a YAML alias bomb?)")
        return entries

    def _merge_sources(self, value: yaml.Node, field: str) -> Iterator[yaml.Node]:
        if isinstance(value, yaml.SequenceNode):
            yield from value.value
        else:
            yield value

    def key_name(self, key: yaml.Node, field: str) -> str:
        """A mapping key as text (keys must be plain words, not lists or mappings)."""
        if not isinstance(key, yaml.ScalarNode) or key.tag not in _TEXTUAL:
            raise self.error(key, field or "(top level)", "a key must be a plain word")
        return str(key.value)

    def text(self, node: yaml.Node, field: str) -> str:
        """A non-blank piece of text (numbers and dates are taken as written)."""
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _BOOL:
                raise self.error(
                    node,
                    field,
                    f"'{node.value}' was read as yes/no; put it in quotes if it is text",
                )
            if node.tag == _NULL:
                raise self.error(node, field, "is empty; expected some text")
            if node.tag in _TEXTUAL:
                value = str(node.value)
                if not value.strip():
                    raise self.error(node, field, "is blank; expected some text")
                return value
        raise self.error(node, field, f"expected text, {_got(node)}")

    def optional_text(self, node: yaml.Node | None, field: str) -> str | None:
        """Text, or None when the field is absent or empty (`~`, `null` or nothing)."""
        return None if node is None or is_null(node) else self.text(node, field)

    def integer(self, node: yaml.Node, field: str, low: int, high: int) -> int:
        """A whole number in [low, high]."""
        if not (isinstance(node, yaml.ScalarNode) and node.tag == _INT):
            hint = " (without quotes)" if _is_quoted_int(node) else ""
            raise self.error(node, field, f"expected a whole number{hint}, {_got(node)}")
        value = int(_CONSTRUCTOR.construct_object(node))
        if not low <= value <= high:
            raise self.error(node, field, f"must be between {low} and {high}, got {value}")
        return value

    def boolean(self, node: yaml.Node, field: str) -> bool:
        """true or false."""
        if not (isinstance(node, yaml.ScalarNode) and node.tag == _BOOL):
            raise self.error(node, field, f"expected true or false, {_got(node)}")
        return bool(_CONSTRUCTOR.construct_object(node))

    def sequence(self, node: yaml.Node, field: str, what: str = "items") -> list[yaml.Node]:
        """The items of a list."""
        if not isinstance(node, yaml.SequenceNode):
            example = f'["{node.value}"]' if isinstance(node, yaml.ScalarNode) else "[a, b]"
            raise self.error(
                node, field, f"expected a list of {what} such as {example}, {_got(node)}"
            )
        return list(node.value)

    def text_list(
        self, node: yaml.Node, field: str, what: str, *, allow_empty: bool = False
    ) -> tuple[str, ...]:
        """A list of distinct, non-blank texts, whitespace-normalised."""
        items = self.sequence(node, field, what)
        if not items and not allow_empty:
            raise self.error(node, field, f"the list is empty; give at least one of the {what}")
        seen: dict[str, int] = {}
        out: list[str] = []
        for index, item in enumerate(items):
            item_field = f"{field}[{index}]"
            value = " ".join(self.text(item, item_field).split())
            folded = value.casefold()
            if folded in seen:
                raise self.error(
                    item, item_field, f"'{value}' is listed twice (also at {field}[{seen[folded]}])"
                )
            seen[folded] = index
            out.append(value)
        return tuple(out)

    def selectors(self, node: yaml.Node, field: str) -> Selectors:
        """One selector or a list of fallbacks, each compiled."""
        if not isinstance(node, yaml.SequenceNode):
            return (self.selector(node, field),)
        items = node.value
        if not items:
            raise self.error(node, field, "the list of selectors is empty")
        return tuple(self.selector(item, f"{field}[{n}]") for n, item in enumerate(items))

    def selector(self, node: yaml.Node, field: str) -> SelectorSpec:
        text = self.text(node, field)
        try:
            return compile_selector(text)
        except ValueError as exc:
            raise self.error(node, field, f"bad selector '{text}': {exc}") from exc


def is_null(node: yaml.Node) -> bool:
    """True for `~`, `null` or an empty value."""
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def close_matches(word: str, choices: Collection[str]) -> str:
    """' Did you mean ...?' for a likely typo of one of `choices`, or ''."""
    found = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in choices}
        found = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" Did you mean {' or '.join(repr(f) for f in found)}?" if found else ""


def _unknown_key(name: str, allowed: Collection[str]) -> str:
    expected = ", ".join(allowed)
    return f"unknown key '{name}'.{close_matches(name, allowed)} Expected one of: {expected}"


def _join(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def _is_quoted_int(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _STR and node.value.isdigit()


def _got(node: yaml.Node) -> str:
    """What was found instead, in words."""
    if isinstance(node, yaml.MappingNode):
        return "got a set of 'key: value' lines"
    if isinstance(node, yaml.SequenceNode):
        return "got a list"
    if node.tag == _NULL:
        return "got nothing"
    if node.tag == _STR:
        return f'got the text "{node.value}"'
    if node.tag == _BOOL:
        return f"got {node.value} (read as yes/no)"
    return f"got {node.value}"


# --- The recipe -------------------------------------------------------------------------


@dataclass(frozen=True)
class Render:
    """Whether each kind of page is rendered in a browser (Playwright) or fetched plainly."""

    search: bool = True
    listing: bool = True


@dataclass(frozen=True)
class SearchRecipe:
    """How to read a search results page."""

    result: Selectors
    """Elements, one per search result."""
    link: Selectors
    """The listing URL, inside one result (relative URLs are resolved against the page)."""
    wait_for: Selectors = ()
    """Elements to wait for before reading a rendered page."""
    sponsored: Selectors = ()
    """A result matching this (itself or inside it) is marked sponsored."""
    next_page: Selectors = ()
    """The next page's URL; when unset, `{page}` is incremented."""
    infinite_scroll: bool = False
    """Scroll until no new results appear (then still follow `next_page` when present)."""


@dataclass(frozen=True)
class GoneRule:
    """One way a listing page says the listing is gone: an HTTP status or a selector match."""

    status: int | None = None
    selector: SelectorSpec | None = None

    def applies(self, page: Selector, status: int) -> bool:
        """True when this page with this HTTP status shows the listing is gone."""
        if self.status is not None:
            return status == self.status
        return self.selector is not None and matches(page, self.selector)


@dataclass(frozen=True)
class ListingFields:
    """Where each field of a listing is; every slot is a selector with its fallbacks."""

    title: Selectors
    price: Selectors
    currency: Selectors = ()
    seller_name: Selectors = ()
    seller_url: Selectors = ()
    images: Selectors = ()
    """Every match, as a list."""
    rating: Selectors = ()
    review_count: Selectors = ()
    units_sold: Selectors = ()
    ship_from: Selectors = ()
    condition: Selectors = ()
    brand: Selectors = ()


@dataclass(frozen=True)
class ListingRecipe:
    """How to read a listing page."""

    fields: ListingFields
    id_from_url: re.Pattern[str] | None = None
    """A regular expression with a named group `id`, searched in the listing URL."""
    wait_for: Selectors = ()
    gone_if: tuple[GoneRule, ...] = ()

    def listing_id(self, url: str) -> str | None:
        """The marketplace's listing id taken from its URL, or None."""
        found = self.id_from_url.search(url) if self.id_from_url else None
        return found.group("id") if found else None

    def is_gone(self, page: Selector, status: int) -> bool:
        """True when any `gone_if` rule applies."""
        return any(rule.applies(page, status) for rule in self.gone_if)


@dataclass(frozen=True)
class Recipe:
    """A marketplace described in the watchlist, crawled by the generic spider."""

    name: str
    """The key under `marketplaces:`; the marketplace name in every capture."""
    base_url: str
    search_url: str
    """Template with `{term}` (URL-encoded) and optionally `{page}` and `{base_url}`."""
    search: SearchRecipe
    listing: ListingRecipe
    first_page: int = 1
    render: Render = Render()
    consent_click: Selectors = ()
    """Clicked, if present, before anything else."""
    line: int | None = None
    """Line of the recipe in the watchlist."""

    def search_page_url(self, term: str, page: int | None = None) -> str:
        """The absolute URL of results page `page` (default `first_page`) for `term`."""
        return _fill(
            self.search_url, self.base_url, term, self.first_page if page is None else page
        )


# --- Parsing ----------------------------------------------------------------------------

_RECIPE_KEYS = (
    "base_url",
    "search_url",
    "first_page",
    "render",
    "consent_click",
    "search",
    "listing",
)
_SEARCH_KEYS = ("wait_for", "result", "link", "sponsored", "next_page", "infinite_scroll")
_LISTING_KEYS = ("id_from_url", "wait_for", "gone_if", "fields")
_FIELD_KEYS = tuple(f for f in ListingFields.__dataclass_fields__)
_PLACEHOLDERS = frozenset({"term", "page", "base_url"})
_ELEMENT_SLOTS = "an element selector (CSS without ::text/::attr, or xpath:)"


def parse_recipe(node: yaml.Node, path: str, field_prefix: str, name: str = "") -> Recipe:
    """Read one `marketplaces.<name>` node into a `Recipe`; `WatchlistError` if it is wrong."""
    r = NodeReader(path)
    name = name or field_prefix.rsplit(".", 1)[-1]
    e = r.mapping(
        node,
        field_prefix,
        _RECIPE_KEYS,
        ("base_url", "search_url", "search", "listing"),
        what="a marketplace recipe",
    )
    base_url = _base_url(r, e["base_url"][1], f"{field_prefix}.base_url")
    first_page = 1
    if "first_page" in e:
        first_page = r.integer(e["first_page"][1], f"{field_prefix}.first_page", 0, 1000)
    search_url = _search_url(r, e["search_url"][1], f"{field_prefix}.search_url", base_url)
    return Recipe(
        name=name,
        base_url=base_url,
        search_url=search_url,
        search=_search(r, e["search"][1], f"{field_prefix}.search"),
        listing=_listing(r, e["listing"][1], f"{field_prefix}.listing"),
        first_page=first_page,
        render=_render(r, e, f"{field_prefix}.render"),
        consent_click=_element_slot(r, e, "consent_click", field_prefix),
        line=node.start_mark.line + 1,
    )


def _base_url(r: NodeReader, node: yaml.Node, field: str) -> str:
    url = r.text(node, field).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise r.error(
            node, field, f"expected a web address starting with https:// or http://, got '{url}'"
        )
    return url


def _search_url(r: NodeReader, node: yaml.Node, field: str, base_url: str) -> str:
    template = r.text(node, field).strip()
    try:
        names = [
            (n, spec, conv)
            for _, n, spec, conv in string.Formatter().parse(template)
            if n is not None
        ]
    except ValueError as exc:
        raise r.error(
            node, field, f"has unbalanced {{ or }} ({exc}); write {{{{ or }}}} for a literal brace"
        ) from exc
    for placeholder, spec, conv in names:
        if placeholder not in _PLACEHOLDERS or spec or conv:
            known = ", ".join("{" + p + "}" for p in sorted(_PLACEHOLDERS))
            raise r.error(node, field, f"unknown placeholder {{{placeholder}}}; expected {known}")
    if "term" not in {n for n, _, _ in names}:
        raise r.error(node, field, "must contain {term}, where the search words go")
    url = _fill(template, base_url, "x", 1)
    if urlsplit(url).scheme not in ("http", "https"):
        raise r.error(node, field, f"does not give a web address (got '{url}')")
    return template


def _fill(template: str, base_url: str, term: str, page: int) -> str:
    filled = template.format(term=quote_plus(term), page=page, base_url=base_url.rstrip("/"))
    return urljoin(base_url, filled)


def _render(r: NodeReader, e: Entries, field: str) -> Render:
    if "render" not in e or is_null(e["render"][1]):
        return Render()
    node = e["render"][1]
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
        both = r.boolean(node, field)
        return Render(both, both)
    m = r.mapping(node, field, ("search", "listing"), what="render")
    flags = {k: r.boolean(v, f"{field}.{k}") for k, (_, v) in m.items()}
    return Render(**flags)


def _search(r: NodeReader, node: yaml.Node, field: str) -> SearchRecipe:
    e = r.mapping(node, field, _SEARCH_KEYS, ("result", "link"), what="search")
    scroll = e.get("infinite_scroll", (None, None))[1]
    return SearchRecipe(
        result=_element_slot(r, e, "result", field),
        link=_value_slot(r, e, "link", field),
        wait_for=_element_slot(r, e, "wait_for", field),
        sponsored=_slot(r, e, "sponsored", field),
        next_page=_value_slot(r, e, "next_page", field),
        infinite_scroll=False
        if scroll is None or is_null(scroll)
        else r.boolean(scroll, f"{field}.infinite_scroll"),
    )


def _listing(r: NodeReader, node: yaml.Node, field: str) -> ListingRecipe:
    e = r.mapping(node, field, _LISTING_KEYS, ("fields",), what="listing")
    fields_node = e["fields"][1]
    f = r.mapping(fields_node, f"{field}.fields", _FIELD_KEYS, ("title", "price"), what="fields")
    values = {k: _value_slot(r, f, k, f"{field}.fields") for k in f}
    return ListingRecipe(
        fields=ListingFields(**values),
        id_from_url=_id_pattern(r, e, f"{field}.id_from_url"),
        wait_for=_element_slot(r, e, "wait_for", field),
        gone_if=_gone_if(r, e, f"{field}.gone_if"),
    )


def _id_pattern(r: NodeReader, e: Entries, field: str) -> re.Pattern[str] | None:
    if "id_from_url" not in e or is_null(e["id_from_url"][1]):
        return None
    node = e["id_from_url"][1]
    text = r.text(node, field)
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise r.error(node, field, f"not a valid regular expression ({exc})") from exc
    if "id" not in pattern.groupindex:
        raise r.error(node, field, "needs a named group (?P<id>...) around the listing id")
    return pattern


def _gone_if(r: NodeReader, e: Entries, field: str) -> tuple[GoneRule, ...]:
    if "gone_if" not in e or is_null(e["gone_if"][1]):
        return ()
    node = e["gone_if"][1]
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    rules = []
    for index, item in enumerate(items):
        item_field = f"{field}[{index}]" if isinstance(node, yaml.SequenceNode) else field
        text = r.text(item, item_field).strip()
        if text.startswith("status:"):
            code = text.removeprefix("status:").strip()
            if not (code.isdigit() and 100 <= int(code) <= 599):
                raise r.error(
                    item, item_field, f"expected an HTTP status such as status:410, got '{text}'"
                )
            rules.append(GoneRule(status=int(code)))
        else:
            rules.append(GoneRule(selector=r.selector(item, item_field)))
    return tuple(rules)


def _slot(r: NodeReader, e: Entries, key: str, field: str) -> Selectors:
    if key not in e or is_null(e[key][1]):
        return ()
    return r.selectors(e[key][1], f"{field}.{key}")


def _value_slot(r: NodeReader, e: Entries, key: str, field: str) -> Selectors:
    specs = _slot(r, e, key, field)
    for index, spec in enumerate(specs):
        if spec.kind == "text":
            node = _item_node(e[key][1], index)
            raise r.error(
                node,
                _item_field(e[key][1], f"{field}.{key}", index),
                f"'{spec.source}' only tells whether the page contains some text, "
                "so it cannot give a value here; use CSS, xpath:, jsonld: or meta:",
            )
    return specs


def _element_slot(r: NodeReader, e: Entries, key: str, field: str) -> Selectors:
    specs = _slot(r, e, key, field)
    for index, spec in enumerate(specs):
        if not spec.selects_elements:
            node = _item_node(e[key][1], index)
            raise r.error(
                node,
                _item_field(e[key][1], f"{field}.{key}", index),
                f"'{spec.source}' does not pick elements; expected {_ELEMENT_SLOTS}",
            )
    return specs


def _item_node(node: yaml.Node, index: int) -> yaml.Node:
    return node.value[index] if isinstance(node, yaml.SequenceNode) else node


def _item_field(node: yaml.Node, field: str, index: int) -> str:
    return f"{field}[{index}]" if isinstance(node, yaml.SequenceNode) else field


__all__ = [
    "Entries",
    "GoneRule",
    "ListingFields",
    "ListingRecipe",
    "NodeReader",
    "Recipe",
    "Render",
    "SearchRecipe",
    "Selectors",
    "close_matches",
    "is_null",
    "parse_recipe",
]
