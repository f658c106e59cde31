"""`markwatch evidence list|show`: finding captures and looking at one."""

from __future__ import annotations

import json
from typing import Any

import click

from crawler.cli.lazy import LazyGroup
from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.output import emit, format_option
from crawler.cli.text import clip, safe
from crawler.clock import isoformat, parse_utc
from crawler.fields.index import field_lines, sponsored_captures
from crawler.fields.index import history as fields_history
from crawler.fields.search_index import result_lines, result_versions
from crawler.portal.queries import ListingQuery, search
from storage.catalog import Catalog
from storage.uri import open_store

LIST_COLUMNS = ("capture_id", "started_at", "kind", "marketplace", "brand", "term", "listing_id",
                "price", "currency", "seller_name", "title", "url", "sponsored", "triage_score")


def _when(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return isoformat(parse_utc(value))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time") from exc


@click.group(cls=LazyGroup, lazy_subcommands={"url": "crawler.cli.store:evidence_url",
                                               "export": "crawler.cli.export:export"})
def evidence() -> None:
    """Find, show and export captured evidence."""


@evidence.command("list")
@click.option("--brand")
@click.option("--term")
@click.option("--marketplace")
@click.option("--seller")
@click.option("--listing-id")
@click.option("--kind", type=click.Choice(["listing", "search", "blocked", "gone"]))
@click.option("--run", "run_id", help="Only captures of this run.")
@click.option("--since", help="UTC ISO 8601 date or time (inclusive).")
@click.option("--until", help="UTC ISO 8601 date or time (exclusive).")
@click.option("--suspicious", is_flag=True,
              help="Only listings whose triage score reaches the threshold (docs/triage.md).")
@click.option("--min-score", type=click.IntRange(0, 100),
              help="Only captures scored at least this.")
@click.option("--sort", type=click.Choice(["time", "score"]), default="time", show_default=True)
@click.option("--limit", type=click.IntRange(min=1))
@format_option("one row per capture.")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def list_captures(brand: str | None, term: str | None, marketplace: str | None,
                  seller: str | None, listing_id: str | None, kind: str | None,
                  run_id: str | None, since: str | None, until: str | None, suspicious: bool,
                  min_score: int | None, sort: str, limit: int | None, fmt: str, store: str | None,
                  catalog_uri: str | None) -> None:
    """Search the catalog."""
    query = ListingQuery(brand=brand, term=term, marketplace=marketplace, seller=seller,
                         listing_id=listing_id, kind=kind, run_id=run_id, since=_when(since),
                         until=_when(until), suspicious=suspicious, limit=limit,
                         min_score=min_score, sort=sort, descending=sort == "score")
    with _catalog(store, catalog_uri) as cat:
        rows = search(cat, query).rows  # the same function as the portal's listings page
        sponsored = sponsored_captures(cat)
    rows = [{c: row.get(c) for c in LIST_COLUMNS} | {"sponsored": row["capture_id"] in sponsored}
            for row in rows]
    if not emit(rows, LIST_COLUMNS, fmt):
        _table(rows)


def _table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("no captures match")
        return
    header = f"{'CAPTURE':26}  {'UTC':19}  {'KIND':7}  {'MARKET':10}  {'LISTING':12}  " \
             f"{'PRICE':>12}  {'SELLER':18}  TITLE"
    click.echo(header)
    for row in rows:
        price = f"{row['price'] or ''} {row['currency'] or ''}".strip()
        click.echo(
            f"{row['capture_id']:26}  {str(row['started_at'])[:19]:19}  {row['kind']:7}  "
            f"{clip(safe(row['marketplace']), 10):10}  {clip(safe(row['listing_id']), 12):12}  "
            f"{clip(safe(price), 12):>12}  {clip(safe(row['seller_name']), 18):18}  "
            f"{clip(safe(row['title'] or row['url']), 60)}"
            + ("  [sponsored]" if row.get("sponsored") else "")
        )
    click.echo(f"{len(rows)} captures")


@evidence.command("show")
@click.argument("capture_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def show(capture_id: str, fmt: str, store: str | None, catalog_uri: str | None) -> None:
    """Everything about one capture: fields, artifacts with hashes, run, history."""
    store_uri = resolve_store(store)
    with _catalog(store, catalog_uri) as cat:
        row = cat.get(capture_id)
        if row is None:
            raise click.ClickException(f"no capture {capture_id} in the catalog")
        history = (cat.history(row["marketplace"], row["listing_id"])
                   if row["listing_id"] else [])
        reparsed = fields_history(cat, capture_id)
        sponsored = capture_id in sponsored_captures(cat) if row["kind"] != "search" else False
        manifest = json.loads(open_store(store_uri).read_document(row["manifest_key"]))
        versions = result_versions(cat, manifest) if row["kind"] == "search" else []
    results = [r for v in versions for r in v["rows"] if r["newest"]]
    if fmt == "json":
        shown: dict[str, Any] = {"manifest": manifest,
                                 "manifest_sha256": row["manifest_sha256"],
                                 "history": [h["capture_id"] for h in history]}
        if row["kind"] == "search":  # the newest results and every version (re-parses)
            shown["results"] = results
            shown["result_versions"] = versions
        else:
            shown["sponsored"] = sponsored
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    listing = manifest.get("listing") or {}
    watch = manifest["watch"]
    lines = [
        f"capture    {manifest['capture_id']} ({manifest['kind']})",
        f"run        {manifest['run_id']}",
        f"watch      brand {safe(watch['brand'])}, term {safe(watch['term'])!r}, "
        f"marketplace {safe(watch['marketplace'])}, case {safe(watch.get('case'))}",
        f"url        {safe(manifest['request_url'])}",
        f"final url  {safe(manifest['final_url'])} (HTTP {manifest['status']})",
        f"captured   {manifest['started_at']} .. {manifest['finished_at']} (UTC)",
        f"browser    {safe(manifest['browser'].get('name'))} "
        f"{safe(manifest['browser'].get('version'))}; "
        f"{safe(manifest['browser'].get('user_agent'))}",
        f"software   markwatch {manifest['software']['version']}",
        f"manifest   {row['manifest_key']} sha256:{row['manifest_sha256']}",
    ]
    if listing:
        lines += [
            f"title      {safe(listing.get('title'))}",
            f"price      {safe(listing.get('price'))} {safe(listing.get('currency'))} "
            f"({safe(listing.get('price_text'))})",
            f"seller     {safe(listing.get('seller_name'))} {safe(listing.get('seller_url'))}",
            f"listing id {safe(listing.get('listing_id'))}",
        ]
        lines += field_lines(listing, reparsed)
    if sponsored and not listing.get("sponsored"):
        lines.append("sponsored  a re-parse of this run's search page marks the result that "
                     "led here as sponsored")
    lines += result_lines(results, versions)
    if manifest.get("block"):
        lines.append(f"blocked    {safe(manifest['block']['kind'])}: "
                     f"{safe(manifest['block']['reason'])}")
    if manifest.get("limits_hit"):
        lines.append("limits     " + "; ".join(safe(x) for x in manifest["limits_hit"]))
    lines.append("artifacts")
    for a in manifest["artifacts"]:
        lines.append(f"  {a['name']:16} {a['media_type']:26} {a['size']:>9} B  "
                     f"sha256:{a['sha256']}")
    if manifest.get("previous_capture"):
        lines.append(f"previous   {manifest['previous_capture']}")
    lines += [f"seal       {safe(x)}" for x in _seal_lines(store_uri, manifest,
                                                            row["manifest_sha256"])]
    if len(history) > 1:
        lines.append("history of this listing")
        for h in history:
            mark = "*" if h["capture_id"] == capture_id else " "
            lines.append(f" {mark} {h['capture_id']}  {h['started_at']}  "
                         f"{safe(h['price'])} {safe(h['currency'])}")
    click.echo("\n".join(lines))


def _seal_lines(store_uri: str, manifest: dict[str, Any], digest: str) -> list[str]:
    from crawler.cli.seal import project_seal_config
    from crawler.exceptions import SealError
    from crawler.seal.check import describe_seal

    try:
        return describe_seal(open_store(store_uri), project_seal_config(), manifest, digest)
    except SealError as exc:
        return [f"cannot check: {exc}"]


class _catalog:
    """Open the catalog the flags (or environment, or defaults) name."""

    def __init__(self, store: str | None, catalog_uri: str | None) -> None:
        store_uri = resolve_store(store)
        self.catalog = Catalog(resolve_catalog(catalog_uri, store_uri))

    def __enter__(self) -> Catalog:
        return self.catalog

    def __exit__(self, *exc: object) -> None:
        self.catalog.close()
