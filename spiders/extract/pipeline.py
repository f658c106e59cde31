"""The layered listing extraction: page object first, then structured data, then heuristics.

`extract_listing(page)` runs every layer over one listing page and merges them field by field:
each field is taken from the first strategy that found it (`spiders.extract.found` names the
strategies), and `Listing.field_sources` records which one, so an investigator knows how much
to trust it. Price, currency and the printed price travel together (a currency is never paired
with another strategy's amount), as do the seller's name and URL.

A page object that raises does not lose the capture: its error is kept in the explanation and
the other layers still read the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from crawler.items import Listing
from spiders.extract.found import FIELDS, PAGE, Found
from spiders.extract.heuristic import heuristics, site_token
from spiders.extract.structured import structured
from spiders.pages._util import abs_url, meta, yen_hint
from spiders.pages.base import ListingPage

__all__ = ["PARSER_VERSION", "Extraction", "extract_listing"]

logger = logging.getLogger(__name__)

PARSER_VERSION = "layers-1"
"""Version of the layered extraction, stamped on re-parsed records; bump it when a layer's
rules change what it reads."""


@dataclass
class Extraction:
    """The merged listing and what each strategy found."""

    listing: Listing
    found: list[Found] = field(default_factory=list)

    def explain(self) -> dict[str, Any]:
        """What each strategy found, JSON-ready (decimals as strings)."""
        out: dict[str, Any] = {}
        for item in self.found:
            entry: dict[str, Any] = {k: _jsonable(v) for k, v in item.fields.items()}
            if item.error:
                entry["error"] = item.error
            out[item.source] = entry
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    return str(value)


def _page_layer(page: ListingPage) -> tuple[Listing | None, Found]:
    found = Found(PAGE)
    try:
        listing = page.listing()
    except Exception as exc:  # a broken page object must not lose the capture
        logger.warning("page object %s failed on %s: %r", type(page).__name__, page.url, exc)
        found.error = f"{type(exc).__name__}: {exc}"
        return None, found
    for name in FIELDS:
        if name == "available":
            if listing.available is False:
                found.put(name, False)
            continue
        value = getattr(listing, name)
        found.put(name, value)
    return listing, found


def _first(found: list[Found], name: str, where: Any = None) -> Found | None:
    for item in found:
        if name in item.fields and (where is None or where(item)):
            return item
    return None


def merge(base: Listing, found: list[Found]) -> Listing:
    """`base` with every missing field filled from the strategies, sources recorded."""
    sources: dict[str, str] = {}
    values: dict[str, Any] = {}
    site = site_token(base.url)
    priced = _first(found, "price", lambda f: "currency" in f.fields) or _first(found, "price")
    if priced is not None:
        for name in ("price", "currency", "price_text"):
            if name in priced.fields:
                values[name], sources[name] = priced.fields[name], priced.source
    seller = _first(found, "seller_name")
    if seller is not None:
        values["seller_name"], sources["seller_name"] = seller.fields["seller_name"], seller.source
        if "seller_url" in seller.fields:
            values["seller_url"], sources["seller_url"] = (seller.fields["seller_url"],
                                                           seller.source)
    grouped = {"price", "currency", "price_text", "seller_name"}
    for name in FIELDS:
        if name in grouped or (name == "seller_url" and seller is not None):
            continue
        item = _first(found, name)
        if name == "brand":  # structured data naming the marketplace itself is no brand
            item = _first(found, name, lambda f: f.source == PAGE or str(
                f.fields["brand"]).strip().lower() not in (site, base.marketplace.lower()))
        if item is not None:
            values[name], sources[name] = item.fields[name], item.source
    if base.extra.get("page_type") == "catalogue":
        for name in ("listing_id", "seller_name", "seller_url"):  # no single listing
            if sources.get(name) != PAGE:
                values.pop(name, None)
                sources.pop(name, None)
    for name, value in values.items():
        setattr(base, name, value)
    base.field_sources = {name: sources[name] for name in FIELDS if name in sources}
    return base


def extract_listing(page: ListingPage, explain: bool = False) -> Extraction:
    """Every layer over `page`, merged (see the module doc). DOM heuristics run only for the
    fields the other layers left empty, unless `explain` asks for what every layer finds."""
    listing, own = _page_layer(page)
    selector = page.selector
    if listing is None:
        canonical = abs_url(selector.css("link[rel=canonical]::attr(href)").get()
                            or meta(selector, "og:url"), page.url) or page.url
        listing = Listing(marketplace=page.marketplace, url=canonical)
    found = [own, *structured(selector, listing.url or page.url)]
    hint = next((f.fields["currency"] for f in found if f.fields.get("currency")), None)
    have = {name for f in found for name in f.fields}
    if not any("price" in f.fields and "currency" in f.fields for f in found):
        have -= {"price", "currency"}
    wanted = None if explain else set(FIELDS) - have
    found += heuristics(selector, len(page.html), listing.url or page.url,
                        hint or yen_hint(selector), wanted)
    return Extraction(merge(listing, found), found)
