"""Alert history: write-once records in the store, and their index in the catalog.

Store keys (built in `storage.layout`):

- `alerts/events/<event_id>.json`: the event, as first derived (canonical JSON);
- `alerts/deliveries/<event_id>/<channel>/<record_id>.json`: one record per delivery outcome
  (`delivered`, `failed`, `unconfirmed`) with the attempts made, the HTTP status or the error.

Both are derived data: they name the captures they concern and never touch them. The catalog
tables `alert_events` and `alert_deliveries` index them and are rebuilt from the store alone
(`rebuild_alert_index`, called by `Catalog.rebuild`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Index, Integer, Table, Text

from crawler.alerts.events import Event
from crawler.evidence.manifest import canonical_json
from crawler.exceptions import ArtifactConflict
from storage.base import Store
from storage.db import METADATA, Tx
from storage.layout import (
    ALERT_DELIVERIES,
    ALERT_EVENTS,
    alert_deliveries_prefix,
    alert_delivery_key,
    alert_event_key,
)

if TYPE_CHECKING:
    from storage.catalog import Catalog

logger = logging.getLogger(__name__)

DELIVERY_SCHEMA = "markwatch.alert-delivery/1"
EVENTS_PREFIX = ALERT_EVENTS
DELIVERIES_PREFIX = ALERT_DELIVERIES
event_key = alert_event_key
delivery_key = alert_delivery_key

alert_events = Table(
    "alert_events", METADATA,
    Column("event_id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("occurred_at", Text, nullable=False),
    Column("run_id", Text),
    Column("case_ref", Text),
    Column("brand", Text),
    Column("marketplace", Text),
    Column("listing_url", Text),
    Column("capture_ids", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("record_key", Text, nullable=False),
)
Index("alert_events_time", alert_events.c.occurred_at)

alert_deliveries = Table(
    "alert_deliveries", METADATA,
    Column("record_id", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("batch_id", Text),
    Column("outcome", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", Integer),
    Column("error", Text),
    Column("record_key", Text, nullable=False),
)
Index("alert_deliveries_event", alert_deliveries.c.event_id, alert_deliveries.c.channel)


def write_event(store: Store, event: Event) -> str:
    """Record the event once (the first record of an id stands; later ones are dropped)."""
    key = event_key(event.event_id)
    try:
        store.put_document(key, canonical_json(event.to_json()), "application/json")
    except ArtifactConflict:
        logger.debug("alert event %s is already recorded", event.event_id)
    return key


def delivery_record(event_id: str, channel: str, record_id: str, *, batch_id: str | None,
                    outcome: str, at: str, attempts: int, status: int | None = None,
                    error: str | None = None) -> dict[str, Any]:
    """A delivery outcome, JSON-ready."""
    return {"schema": DELIVERY_SCHEMA, "record_id": record_id, "event_id": event_id,
            "channel": channel, "batch_id": batch_id, "outcome": outcome, "at": at,
            "attempts": attempts, "status": status, "error": error}


def write_delivery(store: Store, record: dict[str, Any]) -> str:
    """Record one delivery outcome (write-once, its own key)."""
    key = delivery_key(record["event_id"], record["channel"], record["record_id"])
    store.put_document(key, canonical_json(record), "application/json")
    return key


def delivered_before(store: Store, event_id: str, channel: str) -> bool:
    """Whether the store records a delivery of the event on the channel."""
    for key in store.list_documents(alert_deliveries_prefix(event_id, channel)):
        if json.loads(store.read_document(key)).get("outcome") == "delivered":
            return True
    return False


class AlertIndex:
    """The catalog's alert tables (in the catalog's database, on either engine)."""

    def __init__(self, target: str | Path | Catalog) -> None:
        from storage.catalog import Catalog, open_catalog

        self._own = not isinstance(target, Catalog)
        self.catalog = open_catalog(target) if not isinstance(target, Catalog) else target

    def close(self) -> None:
        if self._own:
            self.catalog.close()

    def __enter__(self) -> AlertIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _event_row(data: dict[str, Any], key: str) -> tuple[Any, ...]:
        return (data["event_id"], data["type"], data["occurred_at"], data.get("run_id"),
                data.get("case"), data.get("brand"), data.get("marketplace"),
                data.get("listing_url"), json.dumps(data.get("capture_ids") or []),
                data["summary"], key)

    @staticmethod
    def _delivery_row(data: dict[str, Any], key: str) -> tuple[Any, ...]:
        return (data["record_id"], data["event_id"], data["channel"], data.get("batch_id"),
                data["outcome"], data["at"], data.get("attempts", 0), data.get("status"),
                data.get("error"), key)

    def index_event(self, data: dict[str, Any], key: str) -> None:
        with self.catalog.transaction() as tx:
            tx.upsert(alert_events, [self._event_row(data, key)])

    def index_delivery(self, data: dict[str, Any], key: str) -> None:
        with self.catalog.transaction() as tx:
            tx.upsert(alert_deliveries, [self._delivery_row(data, key)])

    def events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Events newest first, each with its deliveries."""
        sql = "SELECT * FROM alert_events ORDER BY occurred_at DESC, event_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        out = []
        with self.catalog.transaction(write=False) as tx:
            for event in tx.query(sql):
                event["capture_ids"] = json.loads(event["capture_ids"])
                event["deliveries"] = tx.query(
                    "SELECT channel, outcome, at, attempts, status, error FROM alert_deliveries "
                    "WHERE event_id = ? ORDER BY at, record_id", (event["event_id"],))
                out.append(event)
        return out

    def rebuild(self, store: Store, tx: Tx | None = None) -> tuple[int, int]:
        """Forget the alert rows and re-index the store's alert records (in `tx` when given,
        else in a transaction of its own)."""
        if tx is None:
            with self.catalog.transaction() as own:
                return self.rebuild(store, own)
        tx.query("DELETE FROM alert_events")
        tx.query("DELETE FROM alert_deliveries")
        events = [(json.loads(store.read_document(k)), k)
                  for k in store.list_documents(EVENTS_PREFIX)]
        deliveries = [(json.loads(store.read_document(k)), k)
                      for k in store.list_documents(DELIVERIES_PREFIX)]
        tx.upsert(alert_events, [self._event_row(d, k) for d, k in events])
        tx.upsert(alert_deliveries, [self._delivery_row(d, k) for d, k in deliveries])
        return len(events), len(deliveries)


def rebuild_alert_index(catalog: str | Path | Catalog, store: Store,
                        tx: Tx | None = None) -> tuple[int, int]:
    """Re-index the alert records of `store` into `catalog`."""
    with AlertIndex(catalog) as index:
        return index.rebuild(store, tx)


__all__ = ["AlertIndex", "alert_deliveries", "alert_events", "delivered_before", "delivery_key",
           "event_key", "rebuild_alert_index", "write_delivery", "write_event"]
