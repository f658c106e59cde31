"""Time-sortable identifiers for captures and runs (ULID: 48-bit milliseconds, 80 random bits)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(moment: dt.datetime, randbytes: Callable[[int], bytes] = os.urandom) -> str:
    """A ULID for `moment`: 26 Crockford base-32 characters, sorting by time."""
    millis = int(moment.timestamp() * 1000)
    if not 0 <= millis < 2**48:
        raise ValueError(f"time out of ULID range: {moment}")
    value = (millis << 80) | int.from_bytes(randbytes(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def ulid_time(ulid: str) -> dt.datetime:
    """The millisecond time a ULID was made for."""
    value = 0
    for char in ulid.upper():
        value = value * 32 + _ALPHABET.index(char)
    return dt.datetime.fromtimestamp((value >> 80) / 1000, dt.UTC)


def is_ulid(text: str) -> bool:
    """Whether text looks like a ULID."""
    return len(text) == 26 and all(c in _ALPHABET for c in text.upper())
