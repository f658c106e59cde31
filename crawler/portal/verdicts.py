"""The seal verdicts a capture page shows: integrity, origin and time, checked when opened.

`capture_verdicts` is the ONE adapter between the portal and the verifier: today it reads
`crawler.evidence.verify.Verifier` (with `crawler.seal.check.SealChecker`) and sorts what it
proves into three verdicts; a verifier that returns the three verdicts itself replaces only
this function.
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


def capture_verdicts(store: Store, catalog: Catalog | None, config: SealConfig,
                     capture_id: str) -> list[SealVerdict]:
    """Integrity (bytes as sealed), origin (who sealed), time (when): checked now."""
    from crawler.evidence.verify import Verifier
    from crawler.seal.check import SealChecker

    integrity, origin, time = SealVerdict("integrity"), SealVerdict("origin"), SealVerdict("time")
    try:
        checker = SealChecker(store, config)
    except SealError as exc:
        for v in (integrity, origin, time):
            v.status, v.details = FAIL, [f"cannot check: {exc}"]
        return [integrity, origin, time]
    verdict = Verifier(store, catalog, checker).verify(capture_id)
    for line in verdict.proven:
        if line.startswith(("integrity:", "sealed:")):
            integrity.details.append(line)
        elif line.startswith("signer:"):
            origin.details.append(line)
            origin.status = PASS
        elif line.startswith("time:"):
            time.details.append(line)
            time.status = PASS
    for problem in verdict.problems:
        target = origin if problem.split(": ", 2)[-1].startswith("signature") else (
            time if "timestamp" in problem else integrity)
        target.details.append(problem)
        target.status = FAIL
    integrity.status = FAIL if integrity.status == FAIL or not verdict.ok else PASS
    for note in verdict.notes:
        (time if "timestamp" in note or "sealed" in note else origin).details.append(note)
    return [integrity, origin, time]
