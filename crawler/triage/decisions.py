"""Reviewers' decisions: a record in the store and an entry in the custody log, each naming
the capture, who decided and when. A decision carries over to later captures of the listing
(see `queries.listing_decision`)."""

from __future__ import annotations

from typing import Any

from crawler.clock import Clock, isoformat
from crawler.exceptions import ConfigError
from crawler.ids import new_ulid
from crawler.seal import custody
from crawler.triage import records
from crawler.triage.queries import VERDICTS
from storage.base import Store

MAX_NOTE = 2000


def decide(store: Store, catalog: Any, capture_id: str, verdict: str, *, actor: str,
           clock: Clock, note: str | None = None) -> dict[str, Any]:
    """Record a verdict on a capture: store record first, then the custody entry."""
    if verdict not in VERDICTS:
        raise ConfigError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if note is not None and len(note) > MAX_NOTE:
        raise ConfigError(f"the note is longer than {MAX_NOTE} characters")
    row = catalog.get(capture_id)
    if row is None:
        raise ConfigError(f"no capture {capture_id} in the catalog")
    now = clock.now()
    record = {
        "schema": records.DECISION_SCHEMA,
        "decision_id": new_ulid(now),
        "capture_id": capture_id,
        "manifest_sha256": row["manifest_sha256"],
        "marketplace": row["marketplace"],
        "listing_id": row["listing_id"],
        "verdict": verdict,
        "note": note or None,
        "actor": custody._check_actor(actor),
        "decided_at": isoformat(now),
    }
    key = records.put_decision(store, catalog, record)
    custody.append(store, "decided", clock=clock, actor=record["actor"],
                   run_id=row["run_id"], capture_ids=[capture_id],
                   details={"verdict": verdict, "record": key})
    record["key"] = key
    return record
