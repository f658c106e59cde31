"""The seal verdicts a capture page shows: integrity, origin and time, checked when opened.

`capture_verdicts` is the ONE adapter between the portal and the verifier: it asks
`crawler.evidence.verify.capture_verdicts` (the same checks as `markwatch verify` and the
bundle's `verify.py`, against the operator's anchors, never the seal's own contents) and maps
its PROVEN / NOT PROVEN / NOT ATTESTED / FAILED onto the page's three states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crawler.exceptions import SealError
from crawler.seal.config import SealConfig
from storage.base import Store
from storage.catalog import Catalog

PASS, FAIL, UNPROVEN = "pass", "fail", "unproven"


@dataclass
class SealVerdict:
    """One of the three verdicts: its status and the sentences behind it."""

    name: str
    status: str = UNPROVEN
    details: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "details": self.details}


_STATES = {"PROVEN": "pass", "FAILED": "fail"}  # anything else: unproven


def capture_verdicts(store: Store, catalog: Catalog | None, config: SealConfig,
                     capture_id: str) -> list[SealVerdict]:
    """Integrity (bytes as sealed), origin (who sealed), time (when): checked now."""
    from crawler.evidence.verify import capture_verdicts as three_verdicts

    names = ("integrity", "origin", "time")
    try:
        three = three_verdicts(store, capture_id, config=config, catalog=catalog)
    except SealError as exc:
        return [SealVerdict(name, FAIL, [f"cannot check: {exc}"]) for name in names]
    out = []
    for name in names:
        status = three.status(name)
        lines = list(getattr(three, name).lines)
        if status not in _STATES:
            lines.insert(0, status)  # NOT PROVEN or NOT ATTESTED, in so many words
        out.append(SealVerdict(name, _STATES.get(status, UNPROVEN), lines))
    return out
