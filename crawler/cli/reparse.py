"""`markwatch reparse`: re-run the current page objects over stored listing and search
captures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.text import safe
from crawler.clock import SystemClock, isoformat, parse_utc
from crawler.fields.reparse import KINDS, PageFactory, dedicated_page, reparse
from crawler.fields.search_reparse import SearchPageFactory, dedicated_search_page
from crawler.fields.warc_source import SOURCES
from spiders.pages import ListingPage, SearchPage


def _recipes(watchlist: Path) -> dict[str, Any]:
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import project_settings
    from crawler.watchlist import load_watchlist

    return dict(load_watchlist(watchlist, known_marketplaces(project_settings())).recipes)


def _recipe_search_pages(recipes: dict[str, Any]) -> SearchPageFactory:
    """A search page factory that knows the watchlist's recipes, then the dedicated
    marketplaces."""
    from spiders.pages.recipe import RecipeSearchPage

    def page_for(marketplace: str, url: str, html: str | bytes, status: int
                 ) -> SearchPage | None:
        recipe = recipes.get(marketplace)
        if recipe is not None:
            return RecipeSearchPage(recipe, url, html, status)
        return dedicated_search_page(marketplace, url, html, status)

    return page_for


def _recipe_pages(recipes: dict[str, Any]) -> PageFactory:
    """A page factory that knows the watchlist's recipes, then the dedicated marketplaces."""
    from spiders.pages.recipe import RecipeListingPage

    def page_for(marketplace: str, url: str, html: str | bytes, status: int
                 ) -> ListingPage | None:
        recipe = recipes.get(marketplace)
        if recipe is not None:
            return RecipeListingPage(recipe, url, html, status)
        return dedicated_page(marketplace, url, html, status)

    return page_for


@click.command("reparse")
@click.option("--marketplace", help="Only captures of this marketplace.")
@click.option("--since", help="Only captures started at or after this UTC ISO 8601 time.")
@click.option("--run", "run_id", help="Only captures of this run.")
@click.option("--kind", type=click.Choice(KINDS),
              help="Only listing or only search captures (default: both).")
@click.option("-w", "--watchlist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Watchlist whose recipes read recipe marketplaces' captures.")
@click.option("--source", type=click.Choice(SOURCES), default="auto", show_default=True,
              help="What to parse: auto (a rendered capture's DOM, an unrendered one's WARC "
                   "response), dom, or warc (the response the server sent).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def reparse_cmd(marketplace: str | None, since: str | None, run_id: str | None,
                kind: str | None, watchlist: Path | None, source: str, fmt: str,
                store: str | None, catalog_uri: str | None) -> None:
    """Re-parse stored listing and search captures with the current page objects and
    extraction layers.

    New fields (a search page's results) are written as write-once re-parse records next to
    the capture (the capture and its seal are untouched); the catalog shows the newest and
    keeps every version."""
    from storage.catalog import Catalog
    from storage.uri import open_store

    if since:
        try:
            since = isoformat(parse_utc(since))
        except ValueError as exc:
            raise click.BadParameter(f"{since!r} is not an ISO 8601 date or time") from exc
    store_uri = resolve_store(store)
    recipes = _recipes(watchlist) if watchlist else {}
    page_for = _recipe_pages(recipes) if recipes else dedicated_page
    search_page_for = _recipe_search_pages(recipes) if recipes else dedicated_search_page
    the_store = open_store(store_uri)
    try:
        with Catalog(resolve_catalog(catalog_uri, store_uri)) as cat:
            report = reparse(the_store, cat, SystemClock(), marketplace=marketplace,
                             since=since, run_id=run_id, page_for=page_for, source=source,
                             kinds=(kind,) if kind else KINDS, search_page_for=search_page_for)
    finally:
        the_store.close()
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.by_kind.items()))
    click.echo(f"re-parsed {report.examined} captures ({kinds or 'none'}): "
               f"{len(report.written)} new records, "
               f"{report.unchanged} unchanged, {len(report.skipped)} skipped")
    for capture_id, why in report.skipped.items():
        click.echo(f"  skipped {safe(capture_id)}: {safe(why)}")
