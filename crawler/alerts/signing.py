"""The signature of a webhook delivery, and its check (what a receiver does).

The sender computes `HMAC-SHA256(secret, TIMESTAMP + "." + BODY)` over the exact body bytes and
sends it as `X-Markwatch-Signature: sha256=HEX`, with the Unix time in `X-Markwatch-Timestamp`.
A receiver recomputes it with the shared secret, compares in constant time, and refuses a
timestamp outside its replay window (default 5 minutes); it dedupes by `X-Markwatch-Event-Id`.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Markwatch-Timestamp"
SIGNATURE_HEADER = "X-Markwatch-Signature"
EVENT_ID_HEADER = "X-Markwatch-Event-Id"
REPLAY_WINDOW = 300


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-Markwatch-Signature` header value."""
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, now: float,
           window: float = REPLAY_WINDOW) -> bool:
    """True when `signature` is ours over `timestamp` and `body`, sent within `window` s of now."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > window:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
