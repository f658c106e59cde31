"""One webhook delivery: a signed JSON POST, retried with tenacity on 5xx, timeouts and
connection errors, each attempt bounded by the channel's timeout.

The timeout applies to each network step (connect, send, each read); at most 64 KiB of the
answer is read; redirects are not followed (a 3xx is a failure: the receiver's address moved).
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from crawler import __version__
from crawler.alerts.config import WebhookChannel
from crawler.alerts.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from crawler.exceptions import MarkwatchError

_MAX_ANSWER = 64 * 1024


class DeliveryError(MarkwatchError):
    """A delivery attempt failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def post_once(channel: WebhookChannel, body: bytes, batch_id: str, secret: bytes,
              now: Callable[[], float] = time.time) -> int:
    """POST once; the HTTP status (2xx). DeliveryError otherwise."""
    parts = urlsplit(channel.url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=channel.timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=channel.timeout)
    stamp = int(now())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"markwatch/{__version__}",
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, stamp, body),
        EVENT_ID_HEADER: batch_id,
    }
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(_MAX_ANSWER)
        status = response.status
    except TimeoutError as exc:
        raise DeliveryError(f"no answer within the timeout of {channel.timeout:g} s",
                            True) from exc
    except ssl.SSLError as exc:
        raise DeliveryError(f"TLS error: {exc.reason or exc}", False) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"connection failed: {type(exc).__name__}: {exc}", True) from exc
    finally:
        conn.close()
    if 200 <= status < 300:
        return status
    retryable = status >= 500 or status in (408, 429)
    raise DeliveryError(f"the receiver answered HTTP {status}", retryable)


def post(channel: WebhookChannel, body: bytes, batch_id: str, secret: bytes,
         sleep: Callable[[float], None] = time.sleep) -> tuple[int, int]:
    """POST with up to `channel.retries` attempts; (status, attempts). DeliveryError at the end."""
    attempts = 0

    def attempt() -> int:
        nonlocal attempts
        attempts += 1
        return post_once(channel, body, batch_id, secret)

    retrying = Retrying(
        stop=stop_after_attempt(channel.retries),
        wait=wait_exponential(multiplier=0.5, max=4),
        retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
        sleep=sleep, reraise=True)
    try:
        status = retrying(attempt)
    except DeliveryError as exc:
        raise DeliveryError(f"{exc} (after {attempts} attempt{'s' * (attempts > 1)})",
                            exc.retryable) from exc
    return status, attempts


def secret_of(channel: WebhookChannel, environ: Mapping[str, str]) -> bytes:
    """The signing secret from the environment (DeliveryError naming the variable if unset)."""
    value = environ.get(channel.secret_env)
    if not value:
        raise DeliveryError(f"the environment variable {channel.secret_env} (the secret of "
                            f"channel {channel.name}) is not set", False)
    return value.encode("utf-8")
