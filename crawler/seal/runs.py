"""Sealing stored runs: one seal per run record, pending markers, and the custody entries.

Store layout (all write-once, canonical JSON):

* `seals/<run_id>/<marketplace>.json`: the run seal (`crawler.seal.sealer`) over the manifest
  digests the run record `runs/<run_id>/<marketplace>.json` lists;
* `seals/pending/<run_id>/<marketplace>.json`: written when sealing was configured and failed
  (when, why). It stays as history after a later `markwatch seal --pending`; a run record is
  pending exactly when it lists captures and has no seal.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from crawler.clock import Clock, isoformat
from crawler.exceptions import ArtifactConflict, SealError, StoreError
from crawler.seal import custody
from crawler.seal.config import SealConfig
from crawler.seal.sealer import RunSeal, seal_run
from storage.base import Store
from storage.layout import (
    RUNS,
    parse_run_record_key,
    pending_seal_key,
    run_record_key,
    run_seal_key,
)

__all__ = [
    "RunSealer",
    "SealOutcome",
    "pending_runs",
    "read_pending",
]

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/json"


def _exists(store: Store, key: str) -> bool:
    try:
        store.read_document(key)
    except KeyError:
        return False
    return True


def read_pending(store: Store, run_id: str, marketplace: str) -> dict[str, Any] | None:
    """The pending marker of a run record, or None."""
    try:
        return dict(json.loads(store.read_document(pending_seal_key(run_id, marketplace))))
    except KeyError:
        return None
    except (ValueError, TypeError):
        return {"reason": "unreadable pending marker"}


def pending_runs(store: Store) -> list[str]:
    """Keys of run records that list captures and have no seal, oldest run first."""
    out = []
    for key in store.list_documents(RUNS):
        parsed = parse_run_record_key(key)
        if parsed is None:
            continue
        run_id, marketplace = parsed
        if _exists(store, run_seal_key(run_id, marketplace)):
            continue
        try:
            record = json.loads(store.read_document(key))
        except (ValueError, KeyError):
            continue
        if record.get("captures"):
            out.append(key)
    return out


@dataclass
class SealOutcome:
    """What sealing one run record did."""

    run_id: str
    marketplace: str
    status: str
    """`sealed`, `pending` (configured, failed: exit 1 if required), `unsealed` (nothing
    configured), `empty` (no captures), `already-sealed`."""
    key: str | None = None
    reason: str | None = None
    root: str | None = None
    signer: str | None = None
    timestamps: list[dict[str, str]] = field(default_factory=list)
    required: bool = False
    problems: list[str] = field(default_factory=list)
    """Other failures (custody log) that fail the run."""

    @property
    def failed(self) -> bool:
        """Whether this outcome should make the run exit non-zero."""
        return bool(self.problems) or (self.status == "pending" and self.required)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "marketplace": self.marketplace, "status": self.status,
            "key": self.key, "reason": self.reason, "root": self.root, "signer": self.signer,
            "timestamps": self.timestamps, "required": self.required, "problems": self.problems,
        }

    def describe(self) -> str:
        """One line for a summary."""
        where = f"{self.run_id}/{self.marketplace}"
        if self.status == "sealed":
            parts = [f"sealed {where} as {self.key}"]
            parts += [f"timestamped by {t['tsa']} at {t['gen_time']}" for t in self.timestamps]
            if self.signer:
                parts.append(f"signed by {self.signer}")
            else:
                parts.append("NOT signed (SEAL_KEY=off): its origin is not attested")
            if not self.timestamps:
                parts.append("time NOT attested: no time-stamping authority is configured "
                             "(SEAL_TSAS), so nothing independent proves when these pages "
                             "were captured")
            return ", ".join(parts)
        if self.status == "pending":
            return (f"NOT SEALED {where}: {self.reason}; captures kept unsealed "
                    "(run `markwatch seal --pending` later)")
        if self.status == "unsealed":
            return f"not sealed {where} (no signature or timestamp configured)"
        if self.status == "already-sealed":
            return f"{where} already sealed as {self.key}"
        return f"nothing to seal in {where}"


class RunSealer:
    """Seals run records in a store and records custody events."""

    def __init__(self, store: Store, config: SealConfig, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    def after_run(self, record: dict[str, Any], record_key: str,
                  record_sha256: str) -> SealOutcome:
        """At the end of a marketplace's run: custody `stored`, then seal if configured."""
        run_id, marketplace = record["run_id"], record["marketplace"]
        ids = [c["capture_id"] for c in record.get("captures", [])]
        problems: list[str] = []
        if ids:
            self._custody("stored", run_id, ids, {
                "run_record": record_key, "run_record_sha256": record_sha256,
                "manifests_root": record.get("manifests_root"),
            }, problems)
        if not ids:
            outcome = SealOutcome(run_id, marketplace, "empty")
        elif not self.config.configured:
            outcome = SealOutcome(run_id, marketplace, "unsealed")
        else:
            outcome = self.seal(record)
        outcome.problems.extend(problems)
        return outcome

    def seal_record_key(self, record_key: str) -> SealOutcome:
        """Seal a stored run record now (for `markwatch seal --pending`)."""
        record = json.loads(self.store.read_document(record_key))
        return self.seal(record)

    def seal(self, record: dict[str, Any]) -> SealOutcome:
        """Seal one run record's manifests; on failure write the pending marker."""
        run_id, marketplace = record["run_id"], record["marketplace"]
        key = run_seal_key(run_id, marketplace)
        outcome = SealOutcome(run_id, marketplace, "pending", key=key,
                              required=self.config.required)
        manifests = {c["capture_id"]: c["manifest_sha256"] for c in record.get("captures", [])}
        if not manifests:
            outcome.status = "empty"
            return outcome
        try:
            seal = seal_run(run_id, manifests, signer=self.config.signer(),
                            tsas=self.config.tsas, clock=self.clock,
                            custody_head=custody.head(self.store))
            self.store.put_document(key, seal.document, MEDIA_TYPE)
        except ArtifactConflict:
            outcome.status = "already-sealed"
            return outcome
        except (SealError, StoreError, ValueError) as exc:
            outcome.reason = str(exc)
            logger.error("could not seal run %s (%s): %s", run_id, marketplace, exc)
            self._mark_pending(record, outcome.reason)
            return outcome
        self._fill(outcome, seal)
        self._custody("sealed", run_id, sorted(manifests), {
            "seal": key, "seal_sha256": seal.sha256, "root": seal.root,
            "signer": seal.signer_fingerprint, "timestamps": outcome.timestamps,
        }, outcome.problems)
        return outcome

    def seal_pending(self) -> list[SealOutcome]:
        """Seal every run record that lists captures and has no seal."""
        return [self.seal_record_key(key) for key in pending_runs(self.store)]

    @staticmethod
    def _fill(outcome: SealOutcome, seal: RunSeal) -> None:
        outcome.status = "sealed"
        outcome.root = seal.root
        outcome.signer = seal.signer_fingerprint
        outcome.timestamps = [
            {"tsa": t.label or t.tsa, "gen_time": isoformat(t.gen_time), "serial": str(t.serial)}
            for t in seal.timestamps
        ]

    def _mark_pending(self, record: dict[str, Any], reason: str) -> None:
        run_id, marketplace = record["run_id"], record["marketplace"]
        key = pending_seal_key(run_id, marketplace)
        body = rfc8785.dumps({
            "run_id": run_id,
            "marketplace": marketplace,
            "run_record": run_record_key(run_id, marketplace),
            "run_record_sha256": hashlib.sha256(rfc8785.dumps(record)).hexdigest(),
            "failed_at": isoformat(self.clock.now()),
            "reason": reason,
        })
        try:
            self.store.put_document(key, body, MEDIA_TYPE)
        except ArtifactConflict:
            pass  # an earlier failure is already recorded
        except StoreError as exc:
            logger.error("could not write the pending-seal marker %s: %s", key, exc)

    def _custody(self, event: str, run_id: str, ids: list[str], details: dict[str, Any],
                 problems: list[str]) -> None:
        try:
            custody.append(self.store, event, clock=self.clock, actor=self.config.actor,
                           run_id=run_id, capture_ids=ids, details=details, ids_by_digest=True)
        except (SealError, StoreError, ValueError) as exc:
            logger.error("could not append %r to the custody log: %s", event, exc)
            problems.append(f"custody log: could not record {event!r}: {exc}")
