"""The `markwatch` command: demo, crawl, evidence, verify, catalog, parse."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from crawler import __version__
from crawler.cli.lazy import LazyGroup
from crawler.cli.options import resolve_catalog, resolve_store
from crawler.exceptions import ConfigError, MarkwatchError

if TYPE_CHECKING:
    from crawler.runs.runner import CrawlReport

logger = logging.getLogger("markwatch")

SUBCOMMANDS = {
    "evidence": "crawler.cli.evidence:evidence",
    "runs": "crawler.cli.runs:runs",
    "schedule": "crawler.cli.schedule:schedule",
    "store": "crawler.cli.store:store_group",
    "sync": "crawler.cli.store:sync",
    "keys": "crawler.cli.seal:keys",
    "alerts": "crawler.alerts.cli:alerts",
    "seal": "crawler.cli.seal:seal",
    "serve": "crawler.cli.serve:serve",
    "users": "crawler.cli.users:users",
    "rates": "crawler.cli.triage:rates",
    "triage": "crawler.cli.triage:triage",
    "sellers": "crawler.cli.triage:sellers",
    "reparse": "crawler.cli.reparse:reparse_cmd",
    "capture": "crawler.cli.takedown:capture",
    "recheck": "crawler.cli.takedown:recheck",
    "takedown": "crawler.cli.takedown:takedown",
    "worker": "crawler.cli.frontier:worker",
}
"""Subcommands kept in their own modules, imported only when named (`crawler.cli.lazy`)."""


class MarkwatchGroup(LazyGroup):
    """Turns configuration errors into exit code 2 with a one-line message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            from crawler.runs.runner import EXIT_CONFIG

            click.echo(f"markwatch: configuration error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except MarkwatchError as exc:
            click.echo(f"markwatch: error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=MarkwatchGroup, lazy_subcommands=SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="markwatch")
def cli() -> None:
    """markwatch: watch marketplaces for brand terms and keep sealed, verifiable evidence."""


def _log_setup(level: str) -> dict[str, Any]:
    return {"LOG_LEVEL": level.upper()}


@cli.command()
@click.option("-w", "--watchlist", "watchlist_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Watchlist YAML file.")
@click.option("--store", help="Evidence store URI (file://PATH or s3://BUCKET/PREFIX).")
@click.option("--catalog", help="Catalog URI (sqlite:///PATH or postgresql://...).")
@click.option("--marketplace", "marketplaces", multiple=True, help="Only these marketplaces.")
@click.option("--brand", "brands", multiple=True, help="Only these brands.")
@click.option("--max-listings", type=click.IntRange(min=1),
              help="Listing captures per term and marketplace (overrides the watchlist).")
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the run report as JSON here.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("-s", "--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy or markwatch setting for this run (repeatable).")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Resume an unfinished (killed or stopped) run of the same watchlist and "
                   "selection under its run id.")
@click.option("--frontier", "frontier_uri", envvar="MARKWATCH_FRONTIER",
              help="Seed the run into this shared Redis frontier for `markwatch worker`s, wait "
                   "until it drains and finalize it (docs/scaling.md).")
def crawl(watchlist_path: Path, store: str | None, catalog: str | None,
          marketplaces: tuple[str, ...], brands: tuple[str, ...], max_listings: int | None,
          report_json: Path | None, log_level: str, overrides: tuple[str, ...],
          resume: bool, frontier_uri: str | None = None) -> None:
    """One crawl run over the watches selected (what a scheduler calls)."""
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import CrawlOptions, project_settings, run_crawl
    from crawler.watchlist import load_watchlist

    try:
        watchlist = load_watchlist(watchlist_path, known_marketplaces(project_settings()))
        from crawler.cli.seal import project_seal_config

        project_seal_config().check()  # an unusable key or CA file: exit 2, nothing crawled
        if watchlist.alerts is not None:
            watchlist.alerts.check_environment()  # a channel secret not set: exit 2
        store_uri = resolve_store(store, watchlist)
        catalog_uri = resolve_catalog(catalog, store_uri, watchlist)
        settings = {**_parse_overrides(overrides), **_log_setup(log_level)}
        if frontier_uri:
            from crawler.frontier.run import seed_and_finalize

            report = seed_and_finalize(CrawlOptions(watchlist_path, store_uri, catalog_uri,
                                                    marketplaces, brands, max_listings,
                                                    settings), frontier_uri)
        else:
            report = run_crawl(CrawlOptions(watchlist_path, store_uri, catalog_uri,
                                            marketplaces, brands, max_listings, settings,
                                            resume=resume))
    except ConfigError as exc:
        if report_json is not None:  # a scheduler reads why nothing was crawled
            _write_refusal(report_json, exc, store, catalog)
        raise
    if watchlist.alerts is not None:
        from crawler.alerts.cli import report_alerts

        report_alerts(watchlist.alerts, report, settings)
    _finish(report, report_json)


def _write_refusal(path: Path, exc: ConfigError, store: str | None,
                   catalog: str | None, command: str = "crawl") -> None:
    """The report of a crawl refused before it began (exit 2): no run, one error saying why,
    in the report's usual shape, so that a scheduler records the reason, not only the code."""
    import json

    from crawler.clock import SystemClock
    from crawler.runs.runner import CrawlReport

    now = SystemClock().now()
    report = CrawlReport(run_id="", store=store or "", catalog=catalog or "", started_at=now,
                         finished_at=now, runs=[],
                         errors=[f"{command}: configuration error: {exc}"])
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")


def _parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--set")
        out[name.strip()] = value
    return out


def _finish(report: CrawlReport, report_json: Path | None) -> None:
    import json

    if report_json:
        report_json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    _print_summary(report)
    sys.exit(report.exit_code)


def _print_summary(report: CrawlReport) -> None:
    from crawler.cli.text import safe
    from crawler.fields.coverage import describe as describe_coverage
    from storage.db import redact

    totals = report.totals()
    click.echo(
        f"run {report.run_id}: {totals.get('captures', 0)} captures "
        f"({totals.get('listings', 0)} listings, {totals.get('searches', 0)} search pages, "
        f"{totals.get('blocked', 0)} blocked, {totals.get('gone', 0)} gone), "
        f"{totals.get('failures', 0)} failures"
    )
    click.echo(f"  store:   {report.store}")
    click.echo(f"  catalog: {redact(report.catalog)}")
    for record in report.runs:
        for failure in record["failures"][:20]:
            click.echo(f"  failed: {safe(failure['url'])}: {safe(failure['reason'])}")
    for error in report.errors:
        click.echo(f"  error: {safe(error)}")
    for warning in report.to_json()["coverage_warnings"]:
        click.echo(f"  warning: {safe(describe_coverage(warning))}")
    _print_seals(report)


def _print_seals(report: CrawlReport) -> None:
    from crawler.cli.text import safe
    from crawler.seal.runs import SealOutcome

    for data in report.seals:
        outcome = SealOutcome(**data)
        if outcome.status != "empty":
            click.echo(f"  seal: {safe(outcome.describe())}")
        for problem in outcome.problems:
            click.echo(f"  error: {safe(problem)}")


@cli.command()
@click.option("--store", help="Evidence store URI (default file://./markwatch-data).")
@click.option("--catalog", help="Catalog URI.")
@click.option("--max-listings", type=click.IntRange(min=1), help="Listings per term.")
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def demo(store: str | None, catalog: str | None, max_listings: int | None,
         report_json: Path | None, log_level: str) -> None:
    """Crawl the bundled demo marketplace (on 127.0.0.1) and verify what was stored."""
    from crawler.cli.demo import run_demo

    sys.exit(run_demo(store, catalog, max_listings, report_json, log_level))


@cli.command()
@click.argument("capture_ids", nargs=-1)
@click.option("--all", "verify_all", is_flag=True, help="Every capture in the store.")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", help="Catalog URI.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--trust-key", "trust_keys", multiple=True, metavar="sha256:HEX",
              help="A sealing key fingerprint you trust (adds to SEAL_TRUSTED_KEYS).")
@click.option("--trust-tsa-ca", "trust_cas", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="A TSA CA certificate (PEM) you trust (adds to SEAL_TRUSTED_CAS).")
@click.option("--integrity-only", is_flag=True,
              help="Bundles: check only the files against their seals (said so).")
def verify(capture_ids: tuple[str, ...], verify_all: bool, store: str | None,
           catalog: str | None, fmt: str, trust_keys: tuple[str, ...],
           trust_cas: tuple[Path, ...], integrity_only: bool) -> None:
    """Re-hash and re-check captures, their seals and the custody log, or export bundles
    (BUNDLE.zip or folder): integrity, origin and time against YOUR anchors, never the
    bundle's; exit 0 only if everything verifies."""
    from crawler.cli.verify import run_verify

    if not capture_ids and not verify_all:
        raise click.UsageError("give capture ids or --all")
    sys.exit(run_verify(capture_ids, verify_all, store, catalog, fmt,
                        anchors=(trust_keys, trust_cas, integrity_only)))


@cli.group()
def catalog() -> None:
    """The catalog: an index of the store, rebuildable from it."""


@catalog.command("rebuild")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def catalog_rebuild(store: str | None, catalog_uri: str | None) -> None:
    """Re-index every manifest and run record in the store."""
    from storage.catalog import Catalog
    from storage.uri import open_store

    store_uri = resolve_store(store)
    cat_uri = resolve_catalog(catalog_uri, store_uri)
    with Catalog(cat_uri) as cat:
        captures, runs = cat.rebuild(open_store(store_uri))
    click.echo(f"catalog rebuilt from {store_uri}: {captures} captures, {runs} run records")


from crawler.cli.catalog_migrate import catalog_migrate  # noqa: E402 - beside its group

catalog.add_command(catalog_migrate)


@cli.command()
@click.option("--marketplace", required=True, help="Marketplace whose page objects to use.")
@click.option("--kind", type=click.Choice(["search", "listing"]), required=True)
@click.option("--url", default="https://example.invalid/", help="The page's URL.")
@click.option("-w", "--watchlist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Watchlist holding the recipe when --marketplace names one.")
@click.option("--explain", is_flag=True, help="Also show what each extraction layer found.")
@click.option("--without-state", is_flag=True,
              help="Parse the page with its inline scripts (but JSON-LD) removed.")
@click.argument("html_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def parse(marketplace: str, kind: str, url: str, watchlist: Path | None, explain: bool,
          without_state: bool, html_file: Path) -> None:
    """Print what a marketplace's parser extracts from a saved page, as JSON, with the
    strategy that gave each field."""
    from crawler.cli.parse import run_parse

    click.echo(run_parse(marketplace, kind, url, html_file, watchlist, explain, without_state))


def main() -> None:
    """Console-script entry point."""
    cli()
