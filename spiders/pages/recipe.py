"""Page objects built from a marketplace recipe (spec section 3) instead of Python code.

`RecipeSearchPage` and `RecipeListingPage` answer the same questions as a dedicated site's page
objects, reading the page with the recipe's selectors (`crawler.selectors`). They are created
with the recipe first: `RecipeSearchPage(recipe, url, html, status, headers)`.

- A result's URL is its `link`, resolved against the page; its title is the text of the
  element the link was read from (for `a.x::attr(href)`, the `a.x`), else None.
- A result is sponsored when it, or an element inside it, matches `sponsored`.
- Listing fields: each slot's first fallback that yields a value; `images` takes every match.
  The price is parsed from localised text (`1 234,56 €`), the currency from `currency` when
  given (an ISO code, or a symbol read as one), else from the price text.
- A listing is gone (`available=False`) when a `gone_if` rule matches the page or its status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from parsel import Selector

from crawler.items import Listing, SearchResult
from crawler.prices import detect_currency, parse_price
from crawler.recipe import Recipe, Selectors
from crawler.selectors import SelectorSpec, extract_all, extract_first, matches, select
from spiders.pages._util import abs_url, clean, count, unique
from spiders.pages.base import ListingPage, SearchPage

__all__ = ["RecipeListingPage", "RecipeSearchPage"]

_PLAIN_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_ISO = re.compile(r"^[A-Z]{3}$")
_FIRST_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


class RecipeSearchPage(SearchPage):
    """A search results page read with a recipe's `search:` selectors."""

    def __init__(self, recipe: Recipe, url: str, html: str | bytes, status: int = 200,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(url, html, status, headers)
        self.recipe = recipe
        self.marketplace = recipe.name  # type: ignore[misc]

    def results(self) -> list[SearchResult]:
        search = self.recipe.search
        out: list[SearchResult] = []
        for position, node in enumerate(select(self.selector, search.result), start=1):
            url = abs_url(extract_first(node, search.link), self.url)
            if not url:
                continue
            out.append(SearchResult(
                url=url,
                listing_id=self.recipe.listing.listing_id(url),
                title=_link_text(node, search.link),
                sponsored=bool(search.sponsored) and matches(node, search.sponsored),
                position=position,
            ))
        return out

    def next_page_url(self) -> str | None:
        if not self.recipe.search.next_page:
            return None
        return abs_url(extract_first(self.selector, self.recipe.search.next_page), self.url)


class RecipeListingPage(ListingPage):
    """A listing page read with a recipe's `listing:` selectors."""

    def __init__(self, recipe: Recipe, url: str, html: str | bytes, status: int = 200,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(url, html, status, headers)
        self.recipe = recipe
        self.marketplace = recipe.name  # type: ignore[misc]

    def _first(self, specs: Selectors) -> str | None:
        return clean(extract_first(self.selector, specs)) if specs else None

    def listing(self) -> Listing:
        fields = self.recipe.listing.fields
        listing = Listing(
            marketplace=self.recipe.name,
            url=self.url,
            listing_id=self.recipe.listing.listing_id(self.url),
            title=self._first(fields.title),
            seller_name=self._first(fields.seller_name),
            seller_url=abs_url(self._first(fields.seller_url), self.url),
            brand=self._first(fields.brand),
            ship_from=self._first(fields.ship_from),
            condition=self._first(fields.condition),
            review_count=count(self._first(fields.review_count)),
            units_sold=count(self._first(fields.units_sold)),
        )
        if fields.images:
            listing.images = unique(abs_url(u, self.url)
                                    for u in extract_all(self.selector, fields.images))
        rating = _FIRST_NUMBER.search(self._first(fields.rating) or "")
        listing.rating = Decimal(rating.group(0).replace(",", ".")) if rating else None
        self._price(listing)
        listing.available = not self.recipe.listing.is_gone(self.selector, self.status)
        return listing

    def _price(self, listing: Listing) -> None:
        text = self._first(self.recipe.listing.fields.price)
        if not text:
            return
        given = self._first(self.recipe.listing.fields.currency)
        currency = given.upper() if given and _ISO.match(given.upper()) else (
            detect_currency(given) if given else None)
        listing.price_text = text
        if _PLAIN_NUMBER.match(text) and currency:
            listing.price, listing.currency = Decimal(text), currency
            return
        money = parse_price(text, currency)
        if money is not None:
            listing.price, listing.currency = money.amount, money.currency


def _link_text(node: Selector, specs: Selectors) -> str | None:
    """The visible text of the element a CSS `link` selector reads its URL from."""
    for spec in specs:
        element = _element_part(spec)
        if element is None:
            continue
        found = node.css(element)
        if found:
            return clean(" ".join(found[0].xpath(".//text()").getall()))
    return None


def _element_part(spec: SelectorSpec) -> str | None:
    """`a.x` of `a.x::attr(href)` (single-group CSS only)."""
    if spec.kind != "css" or "," in spec.expr:
        return None
    element = spec.expr.split("::", 1)[0].strip()
    return element or None
