"""Showing text taken from pages safely: no terminal control sequences, no spreadsheet formulas."""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe(value: Any) -> str:
    """Text for a terminal: control characters (ANSI escapes, bidi overrides) made visible."""
    if value is None:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def csv_cell(value: Any) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula."""
    text = safe(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def json_text(value: Any) -> str:
    """Compact JSON (keys sorted, non-ASCII text kept) with control characters written as
    `\\u` escapes: still JSON after `safe` (a CSV cell holding a nested value)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def clip(text: str, width: int) -> str:
    """Cut text to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
