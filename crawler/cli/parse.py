"""`markwatch parse`: what a marketplace's page objects read from a saved page."""

from __future__ import annotations

import dataclasses
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, cast

import click

from spiders.pages import ListingPage, Page, SearchPage, page_class


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def run_parse(marketplace: str, kind: str, url: str, path: Path,
              watchlist: Path | None = None) -> str:
    """The extracted JSON of a saved page (gzip-compressed files are read too).

    `marketplace` is a dedicated site, or a recipe of `watchlist`."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    page = _recipe_page(watchlist, marketplace, kind, url, data) if watchlist else None
    if page is None:
        try:
            cls = page_class(marketplace, cast(Literal["search", "listing"], kind))
        except LookupError as exc:
            hint = "" if watchlist else " (for a recipe, give its watchlist with --watchlist)"
            raise click.ClickException(f"{exc}{hint}") from exc
        page = cls(url, data)
    block = page.block()
    out: dict[str, Any] = {"marketplace": marketplace, "kind": kind, "url": url,
                           "blocked": _jsonable(block) if block else None}
    if block is None and isinstance(page, SearchPage):
        results = page.results()
        out["count"] = len([r for r in results if not r.placeholder])
        out["results"] = _jsonable(results)
        out["next_page"] = page.next_page_url()
    elif block is None and isinstance(page, ListingPage):
        out["listing"] = _jsonable(page.listing())
    return json.dumps(out, indent=2, ensure_ascii=False)


def _recipe_page(watchlist: Path, marketplace: str, kind: str, url: str,
                 data: bytes) -> Page | None:
    """The recipe page object for `marketplace` when the watchlist defines it as a recipe."""
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import project_settings
    from crawler.watchlist import load_watchlist
    from spiders.pages.recipe import RecipeListingPage, RecipeSearchPage

    loaded = load_watchlist(watchlist, known_marketplaces(project_settings()))
    recipe = loaded.recipes.get(marketplace)
    if recipe is None:
        return None
    if kind == "search":
        return RecipeSearchPage(recipe, url, data)
    return RecipeListingPage(recipe, url, data)
