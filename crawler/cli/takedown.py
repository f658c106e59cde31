"""`markwatch capture`, `markwatch recheck` and `markwatch takedown ...` (crawler/takedown)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.output import format_option, print_csv
from crawler.cli.text import safe
from crawler.exceptions import ConfigError
from storage.catalog import Catalog
from storage.uri import open_store

_STORE = click.option("--store", help="Evidence store URI.")
_CATALOG = click.option("--catalog", "catalog_uri", help="Catalog URI.")
_WATCHLIST = click.option("-w", "--watchlist", "watchlist_path", required=True,
                          type=click.Path(dir_okay=False, path_type=Path),
                          help="Watchlist YAML file (store, catalog, case, settings).")
_LOG = click.option("--log-level", default="INFO", show_default=True,
                    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
_SET = click.option("-s", "--set", "overrides", multiple=True, metavar="NAME=VALUE",
                    help="A Scrapy or markwatch setting for this run (repeatable).")


class _Open:
    """The store and catalog the flags (or environment, or defaults) name."""

    def __init__(self, store: str | None, catalog_uri: str | None, watchlist: Any = None) -> None:
        self.store_uri = resolve_store(store, watchlist)
        self.catalog_uri = resolve_catalog(catalog_uri, self.store_uri, watchlist)
        self.store = open_store(self.store_uri)
        self.catalog = Catalog(self.catalog_uri)

    def __enter__(self) -> _Open:
        return self

    def __exit__(self, *exc: object) -> None:
        self.catalog.close()
        self.store.close()


def _load(path: Path) -> Any:
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import project_settings
    from crawler.watchlist import load_watchlist

    return load_watchlist(path, known_marketplaces(project_settings()))


def _finish_run(report: Any, report_json: Path | None = None) -> None:
    from crawler.cli.main import _finish

    _finish(report, report_json)


@click.command()
@click.argument("urls", nargs=-1, required=True)
@_WATCHLIST
@click.option("--case", help="Case reference (default: the watchlist's).")
@click.option("--brand", help="Brand the captures are filed under (default: the first).")
@_STORE
@_CATALOG
@_SET
@_LOG
def capture(urls: tuple[str, ...], watchlist_path: Path, case: str | None, brand: str | None,
            store: str | None, catalog_uri: str | None, overrides: tuple[str, ...],
            log_level: str) -> None:
    """Capture listing URLs found by hand: same evidence, seal and catalog entry as a crawl."""
    from crawler.cli.main import _parse_overrides
    from crawler.takedown.recheck import capture_targets, run_targets

    watchlist = _load(watchlist_path)
    settings = {**_parse_overrides(overrides), "LOG_LEVEL": log_level.upper()}
    brand = brand or (watchlist.brands[0].name if watchlist.brands else "capture")
    demo = settings.get("DEMO_BASE_URL") or os.environ.get("MARKWATCH_DEMO_URL")
    targets = capture_targets(urls, brand, case or watchlist.case, demo)
    with _Open(store, catalog_uri, watchlist) as o:
        pass
    _finish_run(run_targets(watchlist_path, o.store_uri, o.catalog_uri, targets, settings))


@click.command()
@_WATCHLIST
@click.option("--case", help="Only listings of this case.")
@click.option("--brand", "brands", multiple=True,
              help="Only listings of this brand (repeatable: of any of these brands).")
@click.option("--marketplace", help="Only listings on this marketplace.")
@click.option("--status", type=click.Choice(["reported", "live", "any"]), default="reported",
              show_default=True, help="reported: sent notices; live: not known removed.")
@click.option("--older-than", help="Only listings last captured longer ago (30m, 6h, 7d).")
@_STORE
@_CATALOG
@_SET
@_LOG
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the run report as JSON here.")
@click.option("--max-listings", type=int, hidden=True,
              help="Accepted for the scheduler's common arguments; a re-check takes every "
                   "listing selected.")
def recheck(watchlist_path: Path, case: str | None, brands: tuple[str, ...],
            marketplace: str | None, status: str, older_than: str | None, store: str | None,
            catalog_uri: str | None, overrides: tuple[str, ...], log_level: str,
            report_json: Path | None, max_listings: int | None) -> None:
    """Re-capture known listings directly (no search), with full evidence, in one run."""
    from crawler.cli.main import _parse_overrides
    from crawler.clock import SystemClock
    from crawler.takedown.recheck import (
        RecheckSelection,
        parse_duration,
        run_targets,
        select_targets,
    )

    try:
        watchlist = _load(watchlist_path)
        age = parse_duration(older_than) if older_than else None
        selection = RecheckSelection(case, brands, marketplace, status, age)
        with _Open(store, catalog_uri, watchlist) as o:
            targets = select_targets(o.catalog, selection, SystemClock().now())
    except ConfigError as exc:
        if report_json is not None:  # the scheduler records why nothing was re-checked
            from crawler.cli.main import _write_refusal

            _write_refusal(report_json, exc, store, catalog_uri, "recheck")
        raise
    if not targets:  # a scheduled re-check with nothing to do is not an error
        click.echo("nothing to re-check: no known listing matches the selection")
        if report_json:  # what the scheduler reads: a finished run that captured nothing
            report_json.write_text(json.dumps({"run_id": None, "exit_code": 0, "counts": {},
                                               "errors": [], "marketplaces": []}) + "\n",
                                   encoding="utf-8")
        sys.exit(0)
    click.echo(f"re-checking {len(targets)} listings")
    _finish_run(run_targets(watchlist_path, o.store_uri, o.catalog_uri, targets,
                            {**_parse_overrides(overrides), "LOG_LEVEL": log_level.upper()}),
                report_json)


@click.group()
def takedown() -> None:
    """Listing status, notices to marketplaces, and takedown figures."""


def _mark(listings: tuple[str, ...], status: str, reference: str | None, actor: str | None,
          store: str | None, catalog_uri: str | None) -> None:
    from crawler.cli.seal import project_seal_config
    from crawler.clock import SystemClock
    from crawler.takedown.queries import last_live_capture, resolve_listing
    from crawler.takedown.status import transition

    actor = actor or project_seal_config().actor
    with _Open(store, catalog_uri) as o:
        for text in listings:
            case, marketplace, listing_id = resolve_listing(o.catalog, text)
            live = last_live_capture(o.catalog, marketplace, listing_id)  # what was reported
            record = transition(o.store, o.catalog, SystemClock(), case=case or "",
                                marketplace=marketplace, listing_id=listing_id, status=status,
                                actor=actor, reference=reference,
                                capture_id=live["capture_id"] if live else None)
            click.echo(f"{safe(marketplace)}:{safe(listing_id)}: {record['previous']} -> "
                       f"{status} ({record['at']})")


@takedown.command("mark-sent")
@click.argument("listings", nargs=-1, required=True)
@click.option("--reference", help="The marketplace's ticket or complaint number.")
@click.option("--actor", help="Who sent it (default: the custody actor).")
@_STORE
@_CATALOG
def mark_sent(listings: tuple[str, ...], reference: str | None, actor: str | None,
              store: str | None, catalog_uri: str | None) -> None:
    """Mark listings (MARKETPLACE:LISTING_ID or a capture id) as reported."""
    _mark(listings, "reported", reference, actor, store, catalog_uri)


@takedown.command("mark-rejected")
@click.argument("listings", nargs=-1, required=True)
@click.option("--reference", help="The marketplace's ticket or complaint number.")
@click.option("--actor", help="Who recorded it (default: the custody actor).")
@_STORE
@_CATALOG
def mark_rejected(listings: tuple[str, ...], reference: str | None, actor: str | None,
                  store: str | None, catalog_uri: str | None) -> None:
    """Mark reported listings as rejected by the marketplace."""
    _mark(listings, "rejected", reference, actor, store, catalog_uri)


STATUS_COLUMNS = ("case_ref", "marketplace", "listing_id", "found_at", "last_seen", "brand",
                  "term", "url", "capture_id", "status")
CHANGE_COLUMNS = ("capture_id", "kind", "previous_capture_id", "case_ref", "marketplace",
                  "listing_id", "fields", "proof", "at", "key")
STATS_COLUMNS = ("case", "marketplace", "found", "reported", "removed", "reappeared",
                 "median_removal_s", "p90_removal_s", "reappearance_rate")


def _emit(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str,
          json_columns: tuple[str, ...] = ()) -> bool:
    """Print rows as JSON (as these commands always have) or CSV; False for the table."""
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return True
    if fmt == "csv":
        print_csv(rows, columns, json_columns)
        return True
    return False


@takedown.command("status")
@click.option("--case")
@click.option("--marketplace")
@format_option("one row per listing.", text=True)
@_STORE
@_CATALOG
def status_cmd(case: str | None, marketplace: str | None, fmt: str, store: str | None,
               catalog_uri: str | None) -> None:
    """Every known listing and its status."""
    from crawler.takedown.queries import listings

    with _Open(store, catalog_uri) as o:
        rows = listings(o.catalog, case, marketplace)
    if _emit(rows, STATUS_COLUMNS, fmt):
        return
    for r in rows:
        click.echo(f"{safe(r['case_ref'])}  {safe(r['marketplace'])}:{safe(r['listing_id'])}  "
                   f"{r['status']:<10}  found {r['found_at']}  {safe(r['url'])}")


@takedown.command("changes")
@click.option("--case")
@click.option("--marketplace")
@click.option("--kind", type=click.Choice(["changed", "removed", "reappeared", "relisted"]))
@format_option("one row per change; its fields (each field's before and after, or what a "
               "relisting relists) as JSON text.", text=True)
@_STORE
@_CATALOG
def changes_cmd(case: str | None, marketplace: str | None, kind: str | None, fmt: str,
                store: str | None, catalog_uri: str | None) -> None:
    """Changes, proven removals, reappearances and probable relistings."""
    from crawler.takedown.queries import changes

    with _Open(store, catalog_uri) as o:
        rows = changes(o.catalog, case, marketplace, kind=kind)
    if _emit(rows, CHANGE_COLUMNS, fmt, json_columns=("fields",)):
        return
    for r in rows:
        what = r["proof"] or (", ".join(f["field"] for f in r["fields"])
                              if isinstance(r["fields"], list) else
                              f"relists {r['fields']['of']['listing_id']}")
        click.echo(f"{r['at']}  {r['kind']:<10} {safe(r['marketplace'])}:"
                   f"{safe(r['listing_id'])}  {safe(what)}  (capture {r['capture_id']}, "
                   f"before {r['previous_capture_id']})")


@takedown.command("stats")
@click.option("--case")
@format_option("one row per case and marketplace; times in seconds, the reappearance rate as "
               "a fraction, as in the JSON.", text=True)
@_STORE
@_CATALOG
def stats_cmd(case: str | None, fmt: str, store: str | None, catalog_uri: str | None) -> None:
    """Per case and marketplace: found, reported, removed, time to removal, reappearance rate."""
    from crawler.takedown.stats import takedown_stats

    with _Open(store, catalog_uri) as o:
        rows = takedown_stats(o.catalog, case)
    if _emit(rows, STATS_COLUMNS, fmt):
        return
    click.echo("case  marketplace  found  reported  removed  median_h  p90_h  reappeared")
    for r in rows:
        click.echo(f"{safe(r['case'])}  {safe(r['marketplace'])}  {r['found']}  "
                   f"{r['reported']}  {r['removed']}  {_hours(r['median_removal_s'])}  "
                   f"{_hours(r['p90_removal_s'])}  {r['reappearance_rate']:.0%}")


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f}"


@takedown.command("prepare")
@click.option("--case", required=True)
@click.option("--marketplace", required=True, help="Marketplace whose listings to include.")
@click.option("--format", "fmt", help="Notice template (default: the marketplace's own).")
@click.option("--status", "statuses", multiple=True, default=("found", "reported",
              "reappeared"), show_default=True, help="Listings in these statuses.")
@click.option("--notifier-name", help="Notifier's name (overrides the watchlist).")
@click.option("--notifier-email", help="Notifier's email.")
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of user templates overriding the bundled ones.")
@click.option("--no-pdf", is_flag=True, help="Leave the PDF prints out of the evidence bundle.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder (new) or .zip file to write.")
@_STORE
@_CATALOG
def prepare(case: str, marketplace: str, fmt: str | None, statuses: tuple[str, ...],
            notifier_name: str | None, notifier_email: str | None,
            templates: Path | None, no_pdf: bool, output: Path, store: str | None,
            catalog_uri: str | None) -> None:
    """Build a notice package: the notice, one line per listing, and the evidence bundle."""
    from crawler.cli.seal import project_seal_config
    from crawler.clock import SystemClock
    from crawler.takedown.notices import Notifier, prepare_package

    notifier = Notifier.from_options(notifier_name, notifier_email)
    with _Open(store, catalog_uri) as o:
        result = prepare_package(o.store, o.catalog, case=case, marketplace=marketplace,
                                 fmt=fmt, statuses=statuses, notifier=notifier,
                                 output=output, template_dir=templates,
                                 seal_config=project_seal_config(), clock=SystemClock(),
                                 pdf=not no_pdf)
    click.echo(f"notice package ({result.fmt}) for {len(result.listings)} listings: "
               f"{result.output}")
    for warning in result.warnings:
        click.echo(f"  warning: {safe(warning)}", err=True)
    sys.exit(0)
