"""Every store key triage writes, in one place (write-once documents).

- `rates/ecb/<YYYY-MM-DD>.json`: an imported set of ECB euro reference rates;
- `triage/scores/<capture_id>/<scorer_version>.json`: a capture's score by one scorer version;
- `triage/pages/<capture_id>.json`: what a capture's page holds for triage (perceptual hashes
  of its product photos, contacts, seller rating); the same capture always gives the same;
- `triage/decisions/<capture_id>/<decision_id>.json`: a reviewer's verdict on a capture.
"""

from __future__ import annotations

import re

RATES_PREFIX = "rates/ecb/"
SCORES_PREFIX = "triage/scores/"
PAGES_PREFIX = "triage/pages/"
DECISIONS_PREFIX = "triage/decisions/"

_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,80}$")


def _part(value: str, what: str) -> str:
    if not _SAFE.match(value) or value in (".", ".."):
        raise ValueError(f"{what} {value!r} cannot be part of a store key")
    return value


def rates_key(date: str) -> str:
    """Where the rates of one ECB reference day live."""
    return f"{RATES_PREFIX}{_part(date, 'rates date')}.json"


def score_key(capture_id: str, version: str) -> str:
    """Where one scorer version's score of a capture lives."""
    return f"{SCORES_PREFIX}{_part(capture_id, 'capture id')}/{_part(version, 'version')}.json"


def page_key(capture_id: str) -> str:
    """Where a capture's page facts (image hashes, contacts) live."""
    return f"{PAGES_PREFIX}{_part(capture_id, 'capture id')}.json"


def decision_key(capture_id: str, decision_id: str) -> str:
    """Where one decision on a capture lives."""
    return (f"{DECISIONS_PREFIX}{_part(capture_id, 'capture id')}/"
            f"{_part(decision_id, 'decision id')}.json")
