"""`markwatch catalog migrate`: move a catalog's schema along the Alembic history
(`storage/migrations`), on SQLite or PostgreSQL."""

from __future__ import annotations

import click

from crawler.cli.options import resolve_catalog, resolve_store


@click.command("migrate")
@click.option("--store", help="Evidence store URI (for the default catalog beside it).")
@click.option("--catalog", "catalog_uri", help="Catalog URI (sqlite:///PATH, postgresql://...).")
@click.option("--to", "to", default="head", show_default=True,
              help="Revision to upgrade to.")
@click.option("--down", "down", metavar="REV",
              help="Downgrade to this revision instead (`base` drops every catalog table; "
                   "`catalog rebuild` makes them again from the store).")
@click.option("--status", is_flag=True, help="Only show the catalog's revision and the newest.")
def catalog_migrate(store: str | None, catalog_uri: str | None, to: str, down: str | None,
                    status: bool) -> None:
    """Upgrade (or downgrade) the catalog's schema. A PostgreSQL catalog is never migrated
    on its own: run this once when a release changes the schema, before its workers start."""
    from storage import migrate
    from storage.db import engine_for, redact

    uri = resolve_catalog(catalog_uri, resolve_store(store))
    engine = engine_for(uri)
    try:
        if status:
            now = migrate.status(engine)
            click.echo(f"catalog {redact(uri)}: revision {_shown(now['current'])}; "
                       f"this release's newest is {now['head']}")
            return
        known = (*migrate.revisions(), "head", "base")
        target = down if down is not None else to
        if target not in known:
            raise click.BadParameter(f"unknown revision {target!r}; one of {', '.join(known)}",
                                     param_hint="--down" if down else "--to")
        if down is not None:
            before, after = migrate.downgrade(engine, down)
        else:
            before, after = migrate.upgrade(engine, to)
    finally:
        engine.dispose()
    click.echo(f"catalog {redact(uri)}: revision {_shown(before)} -> {_shown(after)}")


def _shown(revision: str | None) -> str:
    if revision is None:
        return "none (empty)"
    if revision.endswith("?"):
        return f"{revision[:-1]} (made by 0.1.0, unversioned)"
    return revision
