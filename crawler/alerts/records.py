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
from typing import Any

from crawler.alerts.events import Event
from crawler.evidence.manifest import canonical_json
from crawler.exceptions import ArtifactConflict
from storage.base import Store
from storage.layout import (
    ALERT_DELIVERIES,
    ALERT_EVENTS,
    alert_deliveries_prefix,
    alert_delivery_key,
    alert_event_key,
)
from storage.sqlite import open_db

logger = logging.getLogger(__name__)

DELIVERY_SCHEMA = "markwatch.alert-delivery/1"
EVENTS_PREFIX = ALERT_EVENTS
DELIVERIES_PREFIX = ALERT_DELIVERIES
event_key = alert_event_key
delivery_key = alert_delivery_key

ALERTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_events (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    run_id TEXT,
    case_ref TEXT,
    brand TEXT,
    marketplace TEXT,
    listing_url TEXT,
    capture_ids TEXT NOT NULL,
    summary TEXT NOT NULL,
    record_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_time ON alert_events (occurred_at);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    record_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    batch_id TEXT,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    record_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_deliveries_event ON alert_deliveries (event_id, channel);
"""


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
    """The catalog's alert tables (same SQLite file as the catalog)."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_db(path, ALERTS_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AlertIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def index_event(self, data: dict[str, Any], key: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO alert_events VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (data["event_id"], data["type"], data["occurred_at"], data.get("run_id"),
             data.get("case"), data.get("brand"), data.get("marketplace"),
             data.get("listing_url"), json.dumps(data.get("capture_ids") or []),
             data["summary"], key))

    def index_delivery(self, data: dict[str, Any], key: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO alert_deliveries VALUES (?,?,?,?,?,?,?,?,?,?)",
            (data["record_id"], data["event_id"], data["channel"], data.get("batch_id"),
             data["outcome"], data["at"], data.get("attempts", 0), data.get("status"),
             data.get("error"), key))

    def events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Events newest first, each with its deliveries."""
        sql = "SELECT * FROM alert_events ORDER BY occurred_at DESC, event_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        out = []
        for row in self._db.execute(sql).fetchall():
            event = dict(row)
            event["capture_ids"] = json.loads(event["capture_ids"])
            event["deliveries"] = [dict(d) for d in self._db.execute(
                "SELECT channel, outcome, at, attempts, status, error FROM alert_deliveries "
                "WHERE event_id = ? ORDER BY at, record_id", (event["event_id"],))]
            out.append(event)
        return out

    def rebuild(self, store: Store) -> tuple[int, int]:
        """Forget the alert rows and re-index the store's alert records."""
        self._db.executescript("DELETE FROM alert_events; DELETE FROM alert_deliveries;")
        events = deliveries = 0
        for key in store.list_documents(EVENTS_PREFIX):
            self.index_event(json.loads(store.read_document(key)), key)
            events += 1
        for key in store.list_documents(DELIVERIES_PREFIX):
            self.index_delivery(json.loads(store.read_document(key)), key)
            deliveries += 1
        return events, deliveries


def rebuild_alert_index(catalog_path: str | Path, store: Store) -> tuple[int, int]:
    """Re-index the alert records of `store` into the catalog at `catalog_path`."""
    with AlertIndex(catalog_path) as index:
        return index.rebuild(store)


__all__ = ["ALERTS_SCHEMA", "AlertIndex", "delivered_before", "delivery_key", "event_key",
           "rebuild_alert_index", "write_delivery", "write_event"]
