"""Alert event types and the event itself.

Every kind of event markwatch can alert on is one member of `EventType`: adding an event is one
line here plus the code that derives it (`crawler.alerts.derive`). An event's id is derived from
what it is about (its type and subject), never random, so the same occurrence found again (a
resumed run, a second pass over the same captures) has the same id and is delivered once.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

EVENT_SCHEMA = "markwatch.alert-event/1"


class EventType(enum.StrEnum):
    """What happened. The value is the name used in watchlists and payloads."""

    SUSPICIOUS_LISTING = "suspicious_listing"
    """A listing seen for the first time that triage flags (today: below the brand's MSRP)."""
    LISTING_REMOVED = "listing_removed"
    """A known listing was captured gone (the capture confirms the removal)."""
    LISTING_RELISTED = "listing_relisted"
    """A listing captured live again after a capture that found it gone."""
    RUN_FAILED = "run_failed"
    """A marketplace's part of a run failed or partly failed, or could not run."""
    SEAL_FAILED = "seal_failed"
    """Sealing a run's captures failed; they are kept unsealed (pending)."""
    SPOOL_STALE = "spool_stale"
    """Captures have waited in the local spool longer than `alerts.spool_stale_after`."""
    MARKETPLACE_BLOCKED = "marketplace_blocked"
    """A marketplace's spider stopped after repeated blocks (bot walls, captchas)."""
    COVERAGE_DROP = "coverage_drop"
    """A marketplace's pages stopped yielding fields (produced by the drift alarms)."""
    TEST = "test"
    """A test message sent by `markwatch alerts test CHANNEL`."""


SCORED = frozenset({EventType.SUSPICIOUS_LISTING})
"""Events to which a rule's `min_score` applies."""


def event_id(kind: EventType, *subject: str) -> str:
    """A stable id for one occurrence: the same type and subject give the same id."""
    digest = hashlib.sha256("\x1f".join((kind.value, *subject)).encode("utf-8")).hexdigest()
    return f"evt_{digest[:32]}"


@dataclass(frozen=True)
class Event:
    """One thing that happened, as delivered to every channel whose rules match it."""

    event_id: str
    type: EventType
    occurred_at: str
    """UTC ISO 8601: when the capture or run it is about happened."""
    summary: str
    """One plain-text line (may quote page text; never markup to be rendered)."""
    run_id: str | None = None
    case: str | None = None
    brand: str | None = None
    marketplace: str | None = None
    listing_url: str | None = None
    listing_id: str | None = None
    capture_ids: tuple[str, ...] = ()
    title: str | None = None
    price: str | None = None
    currency: str | None = None
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    portal_url: str | None = None
    """Link to the portal page of the capture or run, when `alerts.portal_url` is set."""

    def to_json(self) -> dict[str, Any]:
        """The event as delivered (the payload schema of docs/alerts.md)."""
        return {
            "schema": EVENT_SCHEMA,
            "event_id": self.event_id,
            "type": self.type.value,
            "occurred_at": self.occurred_at,
            "summary": self.summary,
            "run_id": self.run_id,
            "case": self.case,
            "brand": self.brand,
            "marketplace": self.marketplace,
            "listing_url": self.listing_url,
            "listing_id": self.listing_id,
            "capture_ids": list(self.capture_ids),
            "title": self.title,
            "price": self.price,
            "currency": self.currency,
            "score": self.score,
            "details": self.details,
            "portal_url": self.portal_url,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        """Read back what `to_json` wrote."""
        return cls(
            event_id=str(data["event_id"]), type=EventType(data["type"]),
            occurred_at=str(data["occurred_at"]), summary=str(data["summary"]),
            run_id=data.get("run_id"), case=data.get("case"), brand=data.get("brand"),
            marketplace=data.get("marketplace"), listing_url=data.get("listing_url"),
            listing_id=data.get("listing_id"), capture_ids=tuple(data.get("capture_ids") or ()),
            title=data.get("title"), price=data.get("price"), currency=data.get("currency"),
            score=data.get("score"), details=dict(data.get("details") or {}),
            portal_url=data.get("portal_url"),
        )
