"""Text a page wrote, made storable: lone surrogates replaced.

A page's JSON can carry `"\\ud800"` (a UTF-16 half with no other half) in any string, and
Python's JSON decoder keeps it: an extracted title, seller or brand then holds a code point
that UTF-8 cannot encode, so neither the capture's canonical JSON (RFC 8785 refuses it) nor a
catalog can store it, and the whole capture would fail on one field a seller chose. Every
record built from extracted fields (`Listing.to_json`, a search page's results, the manifest)
passes through `scrub`, which puts U+FFFD (the replacement character, what a UTF-8 decoder
gives for bytes it cannot read) in place of each lone surrogate; the page's own bytes (DOM,
WARC) are kept as they came.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def scrub_text(text: str) -> str:
    """`text` with lone surrogates replaced (the same object when it has none)."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def scrub(value: Any) -> Any:
    """A JSON-ready value with every string (keys too) scrubbed; other values as they are."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v) for v in value)
    return value
