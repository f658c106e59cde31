"""Listing status per case: found -> reported -> removed (confirmed) / reappeared / rejected.

Every transition is a write-once store record (`crawler.takedown.records`) and a custody log
entry (event `takedown`). `found` is implicit: a listing is found by its first capture.
A removal is only ever recorded with the capture that proves it (`crawler.takedown.observe`).
"""

from __future__ import annotations

from typing import Any

from crawler.clock import Clock, isoformat
from crawler.exceptions import ConfigError
from crawler.ids import new_ulid
from crawler.seal import custody
from crawler.takedown.queries import current_status
from crawler.takedown.records import STATUS_SCHEMA, put_status
from storage.base import Store

FOUND, REPORTED, REMOVED, REAPPEARED, REJECTED = (
    "found", "reported", "removed", "reappeared", "rejected")
STATUSES = (FOUND, REPORTED, REMOVED, REAPPEARED, REJECTED)
ALLOWED = {
    REPORTED: (FOUND, REAPPEARED, REJECTED),
    REJECTED: (REPORTED,),
    REMOVED: (FOUND, REPORTED, REAPPEARED),
    REAPPEARED: (REMOVED,),
}
"""Status -> the statuses it may follow."""
MAX_REFERENCE = 200


def transition(store: Store, catalog: Any, clock: Clock, *, case: str, marketplace: str,
               listing_id: str, status: str, actor: str, capture_id: str | None = None,
               reference: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Record one status transition (store record, catalog row, custody entry)."""
    previous = current_status(catalog, case, marketplace, listing_id)
    if previous not in ALLOWED.get(status, ()):
        raise ConfigError(f"{marketplace}:{listing_id} in case {case} is {previous}; "
                          f"it cannot become {status}")
    if status in (REMOVED, REAPPEARED) and not capture_id:
        raise ConfigError(f"{status} needs the capture that shows it")
    if reference is not None and (len(reference) > MAX_REFERENCE or not reference.isprintable()):
        raise ConfigError(f"--reference must be printable, at most {MAX_REFERENCE} characters")
    now = clock.now()
    record = {
        "schema": STATUS_SCHEMA,
        "event_id": new_ulid(now),
        "case": case,
        "marketplace": marketplace,
        "listing_id": listing_id,
        "status": status,
        "previous": previous,
        "at": isoformat(now),
        "capture_id": capture_id,
        "reference": reference,
        "reason": reason,
        "actor": actor,
    }
    key = put_status(store, catalog, record)
    custody.append(store, "takedown", clock=clock, actor=actor,
                   capture_ids=[capture_id] if capture_id else [],
                   details={"status": status, "previous": previous, "case": case,
                            "marketplace": marketplace, "listing_id": listing_id,
                            "record": key, "reference": reference})
    return record
