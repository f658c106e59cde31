"""The layout of an evidence store: every key markwatch reads or writes, defined here once.

    blobs/sha256/<ab>/<cd>/<sha256>               an artifact, under its own SHA-256
    captures/<YYYY>/<MM>/<DD>/<capture_id>.json   a capture's manifest (UTC day it started)
    runs/<run_id>/<marketplace>.json              a run record: one marketplace's part of a run
    seals/<run_id>/<marketplace>.json             the seal of that run record
    seals/pending/<run_id>/<marketplace>.json     a run record whose sealing failed, and why
    custody/<seq, 12 digits>.json                 one entry of the hash-chained custody log
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
CHECK = "_markwatch-check/"
"""Prefix of the scratch objects `markwatch store check` writes and deletes (S3 only)."""
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


def bundle_run_name(run_id: str, marketplace: str) -> str:
    """The file name of a run record, and of its seal, in an export bundle's `runs/`, `seals/`."""
    return f"{run_id}.{marketplace}.json"
