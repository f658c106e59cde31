"""Marketplace recipes (spec section 3): a typed `Recipe`, and its parsing from YAML nodes.

A recipe lets an investigator describe a marketplace with no dedicated spider: where to search,
which elements are results, where the listing fields are. `parse_recipe()` turns the YAML node
of one `marketplaces.<name>` entry into a `Recipe`, compiling every selector up front so a
mistake is reported with its file, line and field before anything is crawled. Reading the
nodes themselves (types, lines, error messages) is `crawler.yaml_nodes`, shared with the watchlist.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from urllib.parse import quote_plus, urljoin, urlsplit

import yaml
from parsel import Selector

from crawler.selectors import SelectorSpec, matches
from crawler.yaml_nodes import Entries, NodeReader, Selectors, is_bool, is_null

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
    if is_bool(node):
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
    "GoneRule",
    "ListingFields",
    "ListingRecipe",
    "Recipe",
    "Render",
    "SearchRecipe",
    "Selectors",
    "parse_recipe",
]
