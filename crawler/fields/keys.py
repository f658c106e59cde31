"""Store keys of the records this package writes (one place, for `storage/layout.py`)."""

from __future__ import annotations

REPARSE_PREFIX = "derived/reparse/"


def reparse_key(capture_id: str, parser_version: str, digest: str) -> str:
    """A re-parse record of one capture: by parser version and the digest of what it read, so
    the same fields read again by the same parser are the same record (writes idempotent)."""
    return f"{REPARSE_PREFIX}{capture_id}/{parser_version}-{digest[:16]}.json"
