"""The alerts step of `markwatch crawl`: after the crawl, never during it.

`alert_after_run` derives the run's events, records them, queues them and makes one delivery
pass, each delivery bounded by its channel's timeout and retries. It is a boundary: whatever
fails here is logged and left in the outbox; it never changes the run's outcome or exit code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from crawler.alerts.config import AlertsConfig
from crawler.alerts.derive import derive_events
from crawler.alerts.dispatch import Dispatcher, PassResult
from crawler.alerts.outbox import Outbox, outbox_dir
from crawler.alerts.records import AlertIndex
from crawler.clock import Clock, SystemClock
from crawler.runs.runner import CrawlReport
from storage.catalog import Catalog
from storage.upload_spool import SpoolingStore
from storage.uri import open_store

logger = logging.getLogger(__name__)


def alert_after_run(config: AlertsConfig, report: CrawlReport, settings: Mapping[str, Any],
                    clock: Clock | None = None) -> PassResult | None:
    """Derive, record, queue and deliver the run's alerts; None if that step itself failed."""
    clock = clock or SystemClock()
    spool = settings.get("STORAGE_SPOOL_DIR") or None
    try:
        store = open_store(report.store, spool=spool)
        try:
            pending = store.pending() if isinstance(store, SpoolingStore) else []
            run = {"run_id": report.run_id, "finished_at": report.to_json()["finished_at"],
                   "records": report.runs, "errors": report.errors, "seals": report.seals}
            path = report.catalog
            with Catalog(path) as catalog:
                events = derive_events(config, run, catalog, pending, clock.now())
            with AlertIndex(path) as index:
                dispatcher = Dispatcher(config, Outbox(outbox_dir(settings.get(
                    "ALERTS_OUTBOX_DIR"))), store=store, index=index, clock=clock)
                dispatcher.record(events)
                queued = dispatcher.enqueue(events)
                result = dispatcher.deliver()
        finally:
            store.close()
    except Exception as exc:  # boundary: alerts never fail the run
        logger.error("alerts: could not derive or deliver this run's alerts: %s: %s",
                     type(exc).__name__, exc)
        return None
    logger.info("alerts: %d event(s), %d queued, %d delivered, %d failed, %d held",
                len(events), queued, len(result.delivered), len(result.failed), len(result.held))
    return result
