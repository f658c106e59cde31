"""The layout of an evidence store: every key markwatch reads or writes, defined here once.

    blobs/sha256/<ab>/<cd>/<sha256>               an artifact, under its own SHA-256
    captures/<YYYY>/<MM>/<DD>/<capture_id>.json   a capture's manifest (UTC day it started)
    runs/<run_id>/<marketplace>.json              a run record: one marketplace's part of a run
    seals/<run_id>/<marketplace>.json             the seal of that run record
    seals/pending/<run_id>/<marketplace>.json     a run record whose sealing failed, and why
    custody/<seq, 12 digits>.json                 one entry of the hash-chained custody log
    alerts/events/<event_id>.json                 an alert event (derived data, crawler.alerts)
    alerts/deliveries/<event_id>/<channel>/<record_id>.json   one delivery outcome of it
    rates/ecb/<YYYY-MM-DD>.json                   one day of imported ECB euro reference rates
    triage/pages/<capture_id>.json                a capture's photo hashes, contacts, rating
    triage/scores/<capture_id>/<score_id>.json    one triage score of a capture
    triage/decisions/<capture_id>/<id>.json       one reviewer's verdict on a capture
    derived/reparse/<capture_id>/<version>-<digest>.json   a capture's fields (or search
                                                  results) re-parsed
    takedown/changes/<capture_id>.json            how a capture differs from the listing's last
    takedown/relistings/<capture_id>.json         a probable relisting found by that capture
    takedown/status/<event_id>.json               one listing status transition (per case)
    _markwatch-check/...                          scratch objects of `markwatch store check` (S3)

Blobs are write-once by content; everything else is a document, written once under its key
(`storage.base`). The catalog is only an index of `captures/` and `runs/`, rebuilt from them.

A local store (`file://PATH`) also keeps, beside those keys, `PATH/tmp/` (writes in progress,
hard-linked into place when complete) and the state of unfinished runs in `PATH/state/`
(`crawler.runs.resume`); neither is evidence, and no listing under the prefixes above sees them.

An export bundle flattens run records and seals to one file each, `runs/<run_id>.<marketplace>
.json` and `seals/<run_id>.<marketplace>.json` (`bundle_run_name`). The bundle's offline
verifier, `crawler/seal/standalone_verify.py`, imports nothing of markwatch and so spells these
names itself; keep the two in step.
"""

from __future__ import annotations

import datetime as dt

BLOBS = "blobs/"
"""Prefix of every blob."""
CAPTURES = "captures/"
"""Prefix of every capture manifest."""
RUNS = "runs/"
"""Prefix of every run record."""
SEALS = "seals/"
"""Prefix of every seal (and of the pending markers under `PENDING_SEALS`)."""
PENDING_SEALS = "seals/pending/"
"""Prefix of the markers of run records whose sealing failed."""
CUSTODY = "custody/"
"""Prefix of the custody log's entries."""
ALERT_EVENTS = "alerts/events/"
"""Prefix of the alert event records."""
ALERT_DELIVERIES = "alerts/deliveries/"
"""Prefix of the alert delivery records."""
RATES = "rates/ecb/"
"""Prefix of imported exchange rates (`crawler.triage.rates`)."""
TRIAGE_PAGES = "triage/pages/"
"""Prefix of triage page records (`crawler.triage.records`)."""
TRIAGE_SCORES = "triage/scores/"
"""Prefix of triage score records."""
TRIAGE_DECISIONS = "triage/decisions/"
"""Prefix of reviewers' decisions."""
REPARSES = "derived/reparse/"
"""Prefix of the re-parse records (`crawler.fields.reparse`)."""
TAKEDOWN_CHANGES = "takedown/changes/"
"""Prefix of change records (`crawler.takedown.records`)."""
TAKEDOWN_RELISTINGS = "takedown/relistings/"
"""Prefix of probable-relisting records."""
TAKEDOWN_STATUS = "takedown/status/"
"""Prefix of listing status transitions."""
CHECK = "_markwatch-check/"
"""Prefix of the scratch objects `markwatch store check` writes and deletes (S3 only)."""
WRITE_PROBE = CHECK + "write-probe/"
"""Prefix of the two fixed scratch keys an `S3Store` puts once per process to learn what its
bucket enforces (`storage.s3_probe`); never documents."""
LOCAL_STATE_DIR = "state"
"""Folder of a local store's unfinished-run state (not a key)."""
LOCAL_TMP_DIR = "tmp"
"""Folder of a local store's writes in progress (not a key)."""

_HEX = frozenset("0123456789abcdef")


def blob_key(sha256: str) -> str:
    """The key of a content-addressed blob; `ValueError` if `sha256` is not a hex digest."""
    sha256 = sha256.lower()
    if len(sha256) != 64 or not set(sha256) <= _HEX:
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{BLOBS}sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def manifest_key(capture_id: str, started_at: dt.datetime) -> str:
    """Where a capture's manifest lives: under the UTC day the capture started."""
    return f"{captures_day_prefix(started_at)}{capture_id}.json"


def captures_day_prefix(day: dt.date | dt.datetime) -> str:
    """The prefix of the manifests of the captures started on one UTC day."""
    return f"{CAPTURES}{day:%Y/%m/%d}/"


def run_record_key(run_id: str, marketplace: str) -> str:
    """Where the record of one marketplace's part of a run lives."""
    return f"{RUNS}{run_id}/{marketplace}.json"


def parse_run_record_key(key: str) -> tuple[str, str] | None:
    """(run id, marketplace) of a run record key, or None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != RUNS or not parts[2].endswith(".json"):
        return None
    return parts[1], parts[2][: -len(".json")]


def run_seal_key(run_id: str, marketplace: str) -> str:
    """Where the seal of one run record lives."""
    return f"{SEALS}{run_id}/{marketplace}.json"


def pending_seal_key(run_id: str, marketplace: str) -> str:
    """Where the marker of a run record whose sealing failed lives."""
    return f"{PENDING_SEALS}{run_id}/{marketplace}.json"


def custody_key(seq: int) -> str:
    """The key of custody log entry `seq`."""
    return f"{CUSTODY}{seq:012d}.json"


def reparse_key(capture_id: str, parser_version: str, digest: str) -> str:
    """A re-parse record of one capture: by parser version and the digest of the fields it
    read, so the same fields read again by the same parser are the same record."""
    return f"{REPARSES}{capture_id}/{parser_version}-{digest[:16]}.json"


def bundle_run_name(run_id: str, marketplace: str) -> str:
    """The file name of a run record, and of its seal, in an export bundle's `runs/`, `seals/`."""
    return f"{run_id}.{marketplace}.json"


def alert_event_key(event_id: str) -> str:
    """Where an alert event's record lives."""
    return f"{ALERT_EVENTS}{event_id}.json"


def alert_delivery_key(event_id: str, channel: str, record_id: str) -> str:
    """Where one delivery outcome of an alert event on one channel lives."""
    return f"{ALERT_DELIVERIES}{event_id}/{channel}/{record_id}.json"


def alert_deliveries_prefix(event_id: str, channel: str) -> str:
    """The prefix of the delivery records of one event on one channel."""
    return f"{ALERT_DELIVERIES}{event_id}/{channel}/"
_SAFE_PART = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _part(value: str, what: str) -> str:
    if not value or len(value) > 80 or value in (".", "..") or set(value) - _SAFE_PART:
        raise ValueError(f"{what} {value!r} cannot be part of a store key")
    return value


def rates_key(date: str) -> str:
    """Where the rates of one ECB reference day live."""
    return f"{RATES}{_part(date, 'rates date')}.json"


def triage_page_key(capture_id: str) -> str:
    """Where a capture's triage page record (photo hashes, contacts) lives."""
    return f"{TRIAGE_PAGES}{_part(capture_id, 'capture id')}.json"


def triage_score_key(capture_id: str, score_id: str) -> str:
    """Where one triage score of a capture lives."""
    return f"{TRIAGE_SCORES}{_part(capture_id, 'capture id')}/{_part(score_id, 'score id')}.json"


def triage_decision_key(capture_id: str, decision_id: str) -> str:
    """Where one decision on a capture lives."""
    return (f"{TRIAGE_DECISIONS}{_part(capture_id, 'capture id')}/"
            f"{_part(decision_id, 'decision id')}.json")
def takedown_change_key(capture_id: str) -> str:
    """Where the change record of a capture (against the listing's previous one) lives."""
    return f"{TAKEDOWN_CHANGES}{capture_id}.json"


def takedown_relisting_key(capture_id: str) -> str:
    """Where the probable-relisting record found by a capture lives."""
    return f"{TAKEDOWN_RELISTINGS}{capture_id}.json"


def takedown_status_key(event_id: str) -> str:
    """Where one listing status transition lives."""
    return f"{TAKEDOWN_STATUS}{event_id}.json"
