"""`markwatch alerts list|pending|retry|test`: alert history, the outbox, redelivery, a test.

Text from pages (titles, URLs) is shown through `safe()`: no terminal control sequences.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from crawler.alerts.config import AlertsConfig
from crawler.alerts.dispatch import Dispatcher, PassResult
from crawler.alerts.events import Event, EventType, event_id
from crawler.alerts.outbox import Outbox, outbox_dir
from crawler.alerts.records import AlertIndex
from crawler.alerts.webhook import DeliveryError
from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.text import clip, csv_cell, safe
from crawler.clock import SystemClock, isoformat
from crawler.exceptions import ConfigError
from crawler.ids import new_ulid
from storage.uri import open_store

if TYPE_CHECKING:
    from crawler.runs.runner import CrawlReport

_FORMATS = click.Choice(["table", "json", "csv"])


def report_alerts(config: AlertsConfig, report: CrawlReport, settings: Mapping[str, Any]) -> None:
    """Run the alerts step after a crawl and print one line about it."""
    from crawler.alerts.run import alert_after_run

    result = alert_after_run(config, report, settings)
    if result is None:
        click.echo("  alerts: not delivered (see the log); they stay in the outbox")
        return
    click.echo(f"  alerts: {len(result.delivered)} delivered, {len(result.failed)} failed "
               f"(kept in the outbox), {len(result.held)} unconfirmed")
    for failure in result.failed[:10]:
        click.echo(f"  alert failed: {safe(failure)}")


def _config(watchlist: Path) -> AlertsConfig:
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import project_settings
    from crawler.watchlist import load_watchlist

    loaded = load_watchlist(watchlist, known_marketplaces(project_settings()))
    if loaded.alerts is None:
        raise ConfigError(f"{watchlist}: the watchlist has no 'alerts:' section")
    return loaded.alerts


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(_cell(row.get(c))) for c in columns])
        click.echo(out.getvalue(), nl=False)
        return
    if not rows:
        click.echo("(none)")
        return
    click.echo("  ".join(columns))
    for row in rows:
        click.echo("  ".join(clip(safe(_cell(row.get(c))), 60) for c in columns))


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


@click.group()
def alerts() -> None:
    """Alerts by webhook and e-mail: history, the outbox, redelivery, a test message."""


@alerts.command("list")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--format", "fmt", type=_FORMATS, default="table", show_default=True)
def list_alerts(store: str | None, catalog_uri: str | None, limit: int, fmt: str) -> None:
    """Alert history: events (newest first) and where each was delivered."""
    store_uri = resolve_store(store)
    with AlertIndex(resolve_catalog(catalog_uri, store_uri)) as index:
        rows = index.events(limit)
    for row in rows:
        row["delivered_to"] = sorted({d["channel"] for d in row["deliveries"]
                                      if d["outcome"] == "delivered"})
    if fmt == "json":
        _emit(rows, [], fmt)
        return
    _emit(rows, ["occurred_at", "type", "marketplace", "brand", "delivered_to", "summary",
                 "event_id"], fmt)


@alerts.command("pending")
@click.option("--outbox", "outbox_path", type=click.Path(file_okay=False, path_type=Path),
              help="Outbox folder (default MARKWATCH_OUTBOX_DIR or ./markwatch-data/outbox).")
@click.option("--format", "fmt", type=_FORMATS, default="table", show_default=True)
def pending(outbox_path: Path | None, fmt: str) -> None:
    """Deliveries waiting in the outbox (pending, or unconfirmed after a crash)."""
    box = Outbox(outbox_dir(str(outbox_path) if outbox_path else None))
    rows = []
    for entry in box.entries(states=("pending", "sending", "unconfirmed")):
        event = box.event(entry.event_id)
        rows.append({"channel": entry.channel, "state": entry.state,
                     "digest": entry.digest or "immediate", "attempts": entry.attempts,
                     "type": event.type.value, "summary": event.summary,
                     "last_error": entry.last_error, "event_id": entry.event_id,
                     "enqueued_at": entry.enqueued_at})
    _emit(rows, ["channel", "state", "digest", "attempts", "type", "summary", "last_error",
                 "event_id"], fmt)


@alerts.command("retry")
@click.option("-w", "--watchlist", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--channel", "channels", multiple=True, help="Only these channels.")
@click.option("--unconfirmed", is_flag=True,
              help="Also resend deliveries a crash left unconfirmed (same event id).")
@click.option("--digest-now", is_flag=True, help="Send daily digests now, due or not.")
@click.option("--store", help="Evidence store URI (delivery records go there).")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
@click.option("--outbox", "outbox_path", type=click.Path(file_okay=False, path_type=Path))
def retry(watchlist: Path, channels: tuple[str, ...], unconfirmed: bool, digest_now: bool,
          store: str | None, catalog_uri: str | None, outbox_path: Path | None) -> None:
    """Deliver what waits in the outbox now; exit 1 if anything still failed."""
    config = _config(watchlist)
    config.check_environment()
    for name in channels:
        if name not in config.channels:
            raise ConfigError(f"no channel named '{name}' in {watchlist}")
    store_uri = resolve_store(store)
    opened = open_store(store_uri)
    try:
        with AlertIndex(resolve_catalog(catalog_uri, store_uri)) as index:
            result = Dispatcher(config, Outbox(outbox_dir(str(outbox_path) if outbox_path
                                                          else None)),
                                store=opened, index=index).deliver(
                channels, unconfirmed=unconfirmed, digest_now=digest_now)
    finally:
        opened.close()
    _print_pass(result)
    sys.exit(1 if result.failed else 0)


def _print_pass(result: PassResult) -> None:
    click.echo(f"{len(result.delivered)} delivered, {len(result.failed)} failed, "
               f"{len(result.held)} unconfirmed (held)")
    for line in result.failed:
        click.echo(f"  failed: {safe(line)}")
    for line in result.held:
        click.echo(f"  unconfirmed: {safe(line)} (resend with --unconfirmed)")


@alerts.command("test")
@click.argument("channel")
@click.option("-w", "--watchlist", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
def test(channel: str, watchlist: Path) -> None:
    """Send a test message to CHANNEL now (not queued); exit 1 if it cannot be delivered."""
    import os

    from crawler.alerts import mail, webhook
    from crawler.alerts.config import WebhookChannel
    from crawler.alerts.payload import email_message, webhook_body

    config = _config(watchlist)
    found = config.channels.get(channel)
    if found is None:
        raise ConfigError(f"no channel named '{channel}' in {watchlist}; "
                          f"known: {', '.join(config.channels)}")
    now = SystemClock().now()
    test_id = event_id(EventType.TEST, new_ulid(now))
    event = Event(test_id, EventType.TEST, isoformat(now),
                  f"markwatch test message for channel {channel}", portal_url=config.portal_url)
    try:
        if isinstance(found, WebhookChannel):
            secret = webhook.secret_of(found, os.environ)
            status, _ = webhook.post(found, webhook_body(test_id, [event], False), test_id,
                                     secret)
            click.echo(f"test message delivered to {channel} (HTTP {status}), id {test_id}")
        else:
            mail.send(found, email_message(test_id, [event], sender=found.sender,
                                           recipients=found.recipients, digest=None, now=now),
                      os.environ)
            click.echo(f"test message handed to {found.host}:{found.port} for "
                       f"{', '.join(found.recipients)}, id {test_id}")
    except DeliveryError as exc:
        click.echo(f"markwatch: test message to {channel} failed: {safe(exc)}", err=True)
        sys.exit(1)
