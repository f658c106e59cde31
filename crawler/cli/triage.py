"""`markwatch rates|triage|sellers`: exchange rates, the review queue, decisions, sellers."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.output import emit, format_option, print_csv, print_json
from crawler.cli.text import clip, safe
from crawler.clock import SystemClock
from storage.catalog import Catalog
from storage.uri import open_store

_STORE = click.option("--store", help="Evidence store URI.")
_CATALOG = click.option("--catalog", "catalog_uri", help="Catalog URI.")
_WATCHLIST = click.option("-w", "--watchlist", "watchlist_path",
                          type=click.Path(dir_okay=False, path_type=Path),
                          help="Watchlist giving the brands' MSRP and reference images.")


class _Open:
    """The store and catalog the flags (or environment, or defaults) name."""

    def __init__(self, store: str | None, catalog_uri: str | None) -> None:
        self.store_uri = resolve_store(store)
        self.store = open_store(self.store_uri)
        self.catalog = Catalog(resolve_catalog(catalog_uri, self.store_uri))

    def __enter__(self) -> _Open:
        return self

    def __exit__(self, *exc: object) -> None:
        self.catalog.close()
        self.store.close()


def _watchlist(path: Path | None) -> Any:
    if path is None:
        return None
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import project_settings
    from crawler.watchlist import load_watchlist

    return load_watchlist(path, known_marketplaces(project_settings()))


# -- rates -------------------------------------------------------------------------------------

@click.group()
def rates() -> None:
    """Reference exchange rates (ECB euro reference rates) used to compare prices."""


@rates.command("import")
@click.argument("source")
@_STORE
def rates_import(source: str, store: str | None) -> None:
    """Store the rates of an ECB eurofxref XML or CSV file (a path, or an https:// URL)."""
    from crawler.triage.fetch import fetch
    from crawler.triage.rates import MAX_RATES_BYTES, RatesError, check_import

    if "://" in source:
        data = fetch(source)
    else:
        path = Path(source)
        try:
            if path.stat().st_size > MAX_RATES_BYTES:
                raise RatesError(f"{source}: larger than {MAX_RATES_BYTES} bytes")
            data = path.read_bytes()
        except OSError as exc:
            raise RatesError(f"{source}: cannot be read ({exc.strerror})") from exc
    target = open_store(resolve_store(store))
    try:
        for line in check_import(target, data, source):
            click.echo(line)
    finally:
        target.close()


RATE_COLUMNS = ("date", "source", "base", "currency", "rate")


@rates.command("show")
@click.option("--date", help="The rates used on this day (default: the newest).")
@format_option("one row per currency: its rate (units per 1 EUR) with the day and source.")
@_STORE
def rates_show(date: str | None, fmt: str, store: str | None) -> None:
    """The rates a comparison on DATE uses, and where they come from."""
    from crawler.triage.rates import RateBook

    target = open_store(resolve_store(store))
    try:
        day = RateBook.load(target).day_for(date)
    finally:
        target.close()
    rates = {code: str(rate) for code, rate in sorted(day.rates.items())}
    if fmt == "json":
        print_json({"date": day.date, "source": day.source, "base": "EUR", "rates": rates})
        return
    if fmt == "csv":
        print_csv([{"date": day.date, "source": day.source, "base": "EUR", "currency": code,
                    "rate": rate} for code, rate in rates.items()], RATE_COLUMNS)
        return
    click.echo(f"{day.date} from {day.source} (units per 1 EUR)")
    for code, rate in sorted(day.rates.items()):
        click.echo(f"  {code} {rate}")


# -- triage ------------------------------------------------------------------------------------

@click.group()
def triage() -> None:
    """Scores of listing captures, the review queue and reviewers' decisions."""


@triage.command("rescore")
@click.option("-w", "--watchlist", "watchlist_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Watchlist giving the brands' MSRP and reference images.")
@click.argument("capture_ids", nargs=-1)
@_STORE
@_CATALOG
def rescore(watchlist_path: Path | None, capture_ids: tuple[str, ...], store: str | None,
            catalog_uri: str | None) -> None:
    """Score listing captures again (all by default) from the store; a new score record is
    written only where the result changed."""
    from crawler.triage.config import TriageConfig
    from crawler.triage.engine import Triage, brand_infos

    watchlist = _watchlist(watchlist_path)
    with _Open(store, catalog_uri) as o:
        engine = Triage(o.store, o.catalog, brand_infos(watchlist), TriageConfig.from_env())
        counts = engine.rescore(capture_ids or None)
    click.echo(f"{counts['scored']} listing captures scored, {counts['changed']} changed")


QUEUE_COLUMNS = ("score", "verdict", "capture_id", "marketplace", "brand", "listing_id",
                 "price", "currency", "seller_name", "title", "reasons")


@triage.command("list")
@click.option("--case", help="Only captures of this case reference.")
@click.option("--brand")
@click.option("--min-score", type=click.IntRange(0, 100))
@click.option("--undecided", is_flag=True, help="Only listings nobody decided on yet.")
@click.option("--limit", type=click.IntRange(min=1))
@format_option("one row per listing (its newest capture); the reasons joined with ' | '.")
@_STORE
@_CATALOG
def triage_list(case: str | None, brand: str | None, min_score: int | None, undecided: bool,
                limit: int | None, fmt: str, store: str | None, catalog_uri: str | None) -> None:
    """The review queue: the newest capture of each listing, highest score first, with the
    reasons of its score."""
    from crawler.triage.queries import QueueQuery, queue

    with _Open(store, catalog_uri) as o:
        rows = queue(o.catalog, QueueQuery(case, brand, min_score, undecided, limit))
    for row in rows:
        row.pop("decision", None)
    if emit(rows if fmt == "json" else [{c: r.get(c) for c in QUEUE_COLUMNS} for r in rows],
            QUEUE_COLUMNS, fmt):
        return
    if not rows:
        click.echo("no scored listings match")
        return
    click.echo(f"{'SCORE':>5}  {'VERDICT':11}  {'CAPTURE':26}  {'MARKET':8}  {'PRICE':>14}  "
               f"{'SELLER':18}  TITLE")
    for row in rows:
        price = f"{row['price'] or ''} {row['currency'] or ''}".strip()
        click.echo(f"{row['score']:>5}  {safe(row['verdict'] or '-'):11}  {row['capture_id']:26}"
                   f"  {clip(safe(row['marketplace']), 8):8}  {clip(safe(price), 14):>14}  "
                   f"{clip(safe(row['seller_name']), 18):18}  {clip(safe(row['title']), 50)}")
        for reason in row["reasons"]:
            click.echo(f"{'':7}{clip(safe(reason), 110)}")
    click.echo(f"{len(rows)} listings")


@triage.command("show")
@click.argument("capture_id")
@_STORE
@_CATALOG
def triage_show(capture_id: str, store: str | None, catalog_uri: str | None) -> None:
    """A capture's score with every signal, and the decisions on its listing."""
    from crawler.triage.queries import decisions, score_of

    with _Open(store, catalog_uri) as o:
        score = score_of(o.catalog, capture_id)
        if score is None:
            raise click.ClickException(f"capture {capture_id} has no score")
        made = decisions(o.catalog, capture_id)
    state = "suspicious" if score["suspicious"] else "below the threshold"
    click.echo(f"score {score['score']} ({state}), scorer {score['version']}, "
               f"{score['computed_at']}")
    for s in score["signals"]:
        click.echo(f"  {s['points']:+4d}  {safe(s['name']):24}  {safe(s['reason'])}")
    for d in made:
        click.echo(f"decided {safe(d['verdict'])} by {safe(d['actor'])} at {d['decided_at']}"
                   + (f": {safe(d['note'])}" if d["note"] else ""))


@triage.command("decide")
@click.argument("capture_id")
@click.option("--verdict", type=click.Choice(["counterfeit", "genuine", "unsure"]),
              required=True)
@click.option("--note", help="Why (kept with the decision).")
@click.option("--actor", help="Who decides (default: MARKWATCH_OPERATOR, else the login).")
@_STORE
@_CATALOG
def triage_decide(capture_id: str, verdict: str, note: str | None, actor: str | None,
                  store: str | None, catalog_uri: str | None) -> None:
    """Record a verdict on a capture, in the store and the custody log; it carries over to
    later captures of the same listing."""
    from crawler.triage.decisions import decide

    who = actor or os.environ.get("MARKWATCH_OPERATOR") or getpass.getuser()
    with _Open(store, catalog_uri) as o:
        try:
            record = decide(o.store, o.catalog, capture_id, verdict, actor=who,
                            clock=SystemClock(), note=note)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--actor") from exc
    click.echo(f"{capture_id}: {verdict} by {safe(record['actor'])} at {record['decided_at']} "
               f"({record['key']}; custody log entry written)")


PHOTO_COLUMNS = ("phash", "sellers", "listings", "captures")


@triage.command("photos")
@click.option("--min-sellers", type=click.IntRange(min=2), default=2, show_default=True)
@format_option("one row per photo; its sellers and listings (MARKETPLACE:NAME, "
               "MARKETPLACE:LISTING_ID) and captures joined with ' | '.")
@_STORE
@_CATALOG
def triage_photos(min_sellers: int, fmt: str, store: str | None,
                  catalog_uri: str | None) -> None:
    """Photos used by several sellers, with their listings."""
    from crawler.triage.queries import shared_photos

    with _Open(store, catalog_uri) as o:
        rows = shared_photos(o.catalog, min_sellers)
    if emit(rows, PHOTO_COLUMNS, fmt):
        return
    for row in rows:
        click.echo(f"photo {row['phash']}: {len(row['sellers'])} sellers")
        click.echo("  sellers:  " + ", ".join(safe(s) for s in row["sellers"]))
        click.echo("  listings: " + ", ".join(safe(s) for s in row["listings"]))
    click.echo(f"{len(rows)} shared photos")


# -- sellers -----------------------------------------------------------------------------------

@click.group()
def sellers() -> None:
    """Sellers and the clusters they form across marketplaces."""


def _references(watchlist: Any) -> list[str]:
    from crawler.triage.engine import brand_infos

    if watchlist is None:
        return []
    return [digest for b in brand_infos(watchlist) for _, digest in b.references]


SELLER_LISTING_COLUMNS = ("capture_id", "started_at", "marketplace", "listing_id", "title",
                          "price", "currency", "seller_name", "seller_url", "score")


@sellers.command("show")
@click.argument("name_or_id")
@_WATCHLIST
@format_option("one row per listing capture of the seller (its clusters are in the table and "
               "the JSON).")
@_STORE
@_CATALOG
def sellers_show(name_or_id: str, watchlist_path: Path | None, fmt: str, store: str | None,
                 catalog_uri: str | None) -> None:
    """A seller's listings with their scores, and the cluster it belongs to."""
    from crawler.triage.clusters import clusters
    from crawler.triage.queries import seller_rows

    with _Open(store, catalog_uri) as o:
        rows = seller_rows(o.catalog, name_or_id)
        if not rows:
            raise click.ClickException(f"no seller named {safe(name_or_id)} in the catalog")
        found = clusters(o.catalog, _references(_watchlist(watchlist_path)))
    names = {(r["marketplace"], r["seller_name"]) for r in rows}
    theirs = [cluster for cluster in found if names & set(cluster.sellers)]
    if fmt == "json":
        print_json({"sellers": [{"marketplace": market, "seller_name": name}
                                for market, name in sorted(names)],
                    "listings": rows, "clusters": [c.to_json() for c in theirs]})
        return
    if fmt == "csv":
        print_csv(rows, SELLER_LISTING_COLUMNS)
        return
    for market, name in sorted(names):
        click.echo(f"seller {safe(name)} on {safe(market)}")
    for r in rows:
        click.echo(f"  {r['score'] if r['score'] is not None else '-':>3}  {r['capture_id']}  "
                   f"{safe(r['listing_id'])}  {safe(r['price'])} {safe(r['currency'])}  "
                   f"{clip(safe(r['title']), 60)}")
    for cluster in theirs:
        _print_cluster(cluster)


CLUSTER_COLUMNS = ("cluster", "marketplace", "seller_name", "listings", "links")


@sellers.command("clusters")
@_WATCHLIST
@format_option("one row per seller of each cluster (clusters numbered from 1 in the JSON's "
               "order); its listings, and its links as 'EVIDENCE with MARKETPLACE:SELLER', "
               "joined with ' | '.")
@_STORE
@_CATALOG
def sellers_clusters(watchlist_path: Path | None, fmt: str, store: str | None,
                     catalog_uri: str | None) -> None:
    """Sellers linked by shared photos, names or contacts, with the evidence of each link."""
    from crawler.triage.clusters import clusters

    with _Open(store, catalog_uri) as o:
        found = clusters(o.catalog, _references(_watchlist(watchlist_path)))
    if fmt == "json":
        print_json([c.to_json() for c in found])
        return
    if fmt == "csv":
        print_csv([row for number, cluster in enumerate(found, 1)
                   for row in _cluster_rows(number, cluster)], CLUSTER_COLUMNS)
        return
    for cluster in found:
        _print_cluster(cluster)
    click.echo(f"{len(found)} clusters")


def _link_evidence(link: dict[str, Any]) -> str:
    """What links two sellers: `shared photo HASH`, `same name 'NAME'`, `same phone NUMBER`."""
    return {"photo": lambda x: f"shared photo {x['phash']}",
            "name": lambda x: f"same name {x['normalised']!r}",
            "contact": lambda x: f"same {x['contact']} {x['value']}"}[link["kind"]](link)


def _cluster_rows(number: int, cluster: Any) -> list[dict[str, Any]]:
    """A cluster's CSV rows: one per seller, with the links naming it."""
    rows = []
    for seller in cluster.sellers:
        links = []
        for link in cluster.links:
            a, b = tuple(link["a"]), tuple(link["b"])
            if seller in (a, b):
                market, name = b if seller == a else a
                links.append(f"{_link_evidence(link)} with {market}:{name}")
        rows.append({"cluster": number, "marketplace": seller[0], "seller_name": seller[1],
                     "listings": cluster.listings.get(seller, []), "links": links})
    return rows


def _print_cluster(cluster: Any) -> None:
    click.echo(f"cluster of {len(cluster.sellers)} sellers")
    for market, name in cluster.sellers:
        listings = cluster.listings.get((market, name), [])
        click.echo(f"  {safe(market)}:{safe(name)}  ({len(listings)} listings: "
                   f"{clip(safe(', '.join(str(x) for x in listings)), 80)})")
    for link in cluster.links:
        click.echo(f"    link {safe(link['a'][1])} <-> {safe(link['b'][1])}: "
                   f"{safe(_link_evidence(link))}")
