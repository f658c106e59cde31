"""`markwatch evidence export`: write captures as a self-contained bundle for a third party."""

from __future__ import annotations

from pathlib import Path

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.text import safe
from crawler.export import DEFAULT_FORMAT, EXPORTERS, get_exporter


@click.command("export")
@click.argument("capture_ids", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The bundle to write (a new .zip; never overwritten).")
@click.option("--format", "fmt", type=click.Choice(sorted(EXPORTERS)), default=DEFAULT_FORMAT,
              show_default=True, help="Export format.")
@click.option("--no-pdf", is_flag=True, help="Skip the PDF reports (HTML only; no Chromium).")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def export(capture_ids: tuple[str, ...], output: Path, fmt: str, no_pdf: bool,
           store: str | None, catalog_uri: str | None) -> None:
    """Export captures with their seals, custody log, reports and an offline verifier."""
    from crawler.cli.seal import project_seal_config
    from crawler.cli.verify_seals import seal_checker
    from crawler.clock import SystemClock
    from storage.catalog import Catalog
    from storage.db import catalog_exists
    from storage.uri import open_store

    config = project_seal_config()
    store_uri = resolve_store(store)
    catalog = resolve_catalog(catalog_uri, store_uri)
    cat = Catalog(catalog) if catalog_exists(catalog) else None
    target = open_store(store_uri)
    try:
        seal_checker(target, config)  # unreadable trusted CA files: configuration error
        result = get_exporter(fmt)(target, cat, capture_ids, output, seal_config=config,
                                   clock=SystemClock(), pdf=not no_pdf)
    finally:
        if cat is not None:
            cat.close()
        target.close()
    for warning in getattr(result, "warnings", []):
        click.echo(f"warning: {safe(warning)}", err=True)
    click.echo(f"exported {len(capture_ids)} capture(s) to {output}")
    click.echo(f"verify it anywhere: unzip it, then `python verify.py` (see README.txt), "
               f"or `markwatch verify {output}`")
