"""The one retry policy for S3 calls: bounded exponential backoff with jitter (tenacity).

Every S3 request markwatch makes goes through `RetryPolicy.call`. Errors fall in four kinds:

* **transient** (SlowDown, 503, RequestTimeout, 500/502/504, timeouts, refused or reset
  connections): retried with full-jitter exponential backoff, bounded by attempts and by a
  deadline; when exhausted, `StoreUnavailable` (the caller spools and exits 3 later).
* **corrupted in transit** (BadDigest, XAmzContentSHA256Mismatch: the server saw other bytes
  than we sent): retried like transient ones; when exhausted, `IntegrityError`.
* **fatal** (bad credentials, access denied, missing bucket): raised at once as `StoreError`
  with a message an operator can act on. Messages name the endpoint and bucket, never a key.
* **anything else** (404, 412...): re-raised untouched for the caller to interpret.

botocore's own retries are switched off (`botocore_config`) so this is the only policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

import botocore.exceptions as bexc
import tenacity
import urllib3.exceptions
from botocore.config import Config

from crawler.exceptions import IntegrityError, StoreMisconfigured, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class Kind(Enum):
    """How an error is handled."""

    TRANSIENT = "transient"
    CORRUPTED = "corrupted"
    FATAL = "fatal"
    OTHER = "other"


TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests",
    "RequestLimitExceeded", "ServiceUnavailable", "RequestTimeout", "InternalError",
    "OperationAborted", "500", "502", "503", "504",
})
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
CORRUPTION_CODES = frozenset({"BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody"})
FATAL_HINTS = {
    "InvalidAccessKeyId": "the access key id is not known to the server; check "
                          "AWS_ACCESS_KEY_ID / AWS_PROFILE",
    "SignatureDoesNotMatch": "the server refused the request signature; check "
                             "AWS_SECRET_ACCESS_KEY, the region and the system clock",
    "InvalidToken": "the session token is invalid; refresh the credentials",
    "ExpiredToken": "the session token has expired; refresh the credentials",
    "AccessDenied": "access denied; the credentials lack permission for this operation",
    "403": "access denied (403); check the credentials and their permissions",
    "AllAccessDisabled": "all access to this bucket has been disabled",
    "AccountProblem": "the account behind these credentials has a problem",
    "NoSuchBucket": "the bucket does not exist; create it with `markwatch store init`",
    "InvalidBucketName": "the bucket name is not valid",
    "PermanentRedirect": "the bucket lives in another region or endpoint; set AWS_REGION or "
                         "endpoint_url",
    "AuthorizationHeaderMalformed": "the request was signed for the wrong region; set "
                                    "AWS_REGION",
}
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    bexc.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ...
    bexc.HTTPClientError,  # ConnectionClosedError, ReadTimeoutError, ResponseStreamingError
    urllib3.exceptions.HTTPError,  # ProtocolError, ReadTimeoutError from a streamed body
    ConnectionError,
    TimeoutError,
)
CREDENTIAL_ERRORS: tuple[type[BaseException], ...] = (
    bexc.NoCredentialsError, bexc.PartialCredentialsError, bexc.CredentialRetrievalError,
)
HANDLED: tuple[type[BaseException], ...] = (
    bexc.ClientError, *CONNECTION_ERRORS, *CREDENTIAL_ERRORS,
)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a ClientError ('SlowDown', '404'...), else the exception's name."""
    if isinstance(exc, bexc.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or "Unknown"
    return type(exc).__name__


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ClientError, if any."""
    if isinstance(exc, bexc.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None


def classify(exc: BaseException, passthrough: Collection[str] = ()) -> Kind:
    """Which kind of error this is (see the module docstring)."""
    if isinstance(exc, bexc.ClientError):
        code = error_code(exc)
        if code in passthrough:
            return Kind.OTHER
        if code in FATAL_HINTS:
            return Kind.FATAL
        if code in CORRUPTION_CODES:
            return Kind.CORRUPTED
        if code in TRANSIENT_CODES or http_status(exc) in TRANSIENT_STATUS:
            return Kind.TRANSIENT
        return Kind.OTHER
    if isinstance(exc, CREDENTIAL_ERRORS):
        return Kind.FATAL
    if isinstance(exc, CONNECTION_ERRORS):
        return Kind.TRANSIENT
    return Kind.OTHER


def botocore_config(addressing_style: str | None = None, *, connect_timeout: float = 5.0,
                    read_timeout: float = 30.0) -> Config:
    """A botocore Config with its own retries off and checksums left to markwatch."""
    s3: dict[str, Any] = {}
    if addressing_style:
        s3["addressing_style"] = addressing_style
    return Config(
        signature_version="s3v4",
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3=s3 or None,
    )


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen; handed to `RetryPolicy.on_retry`."""

    operation: str
    """The S3 operation, e.g. 'PutObject'."""
    attempt: int
    """The attempt that just failed (1 = the first try)."""
    reason: str
    """The S3 error code or exception class name, e.g. 'SlowDown', 'ReadTimeoutError'."""
    wait: float
    """Seconds until the next attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter, for transient S3 errors."""

    attempts: int = 6
    """Most tries of one request, the first included."""
    initial: float = 0.2
    """Backoff base in seconds; waits are random in [0, initial * 2**n], capped by `maximum`."""
    maximum: float = 5.0
    """Longest single wait in seconds."""
    deadline: float = 60.0
    """No new attempt starts after this many seconds since the first."""
    on_retry: Callable[[RetryEvent], None] | None = None
    """Called before each retry (feed Scrapy stats `storage/put/retry` from here)."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    """How to wait; tests pass a no-op."""

    def with_hook(self, on_retry: Callable[[RetryEvent], None] | None) -> RetryPolicy:
        """A copy of this policy calling `on_retry` before each retry."""
        return RetryPolicy(self.attempts, self.initial, self.maximum, self.deadline, on_retry,
                           self.sleep)

    def call(self, operation: str, fn: Callable[..., T], *args: Any, target: str = "",
             passthrough: Collection[str] = (), **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` under this policy.

        `target` names the endpoint and bucket in error messages (no secrets, no keys);
        `passthrough` lists S3 error codes the caller handles itself (never retried).
        """
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(self.deadline),
            wait=tenacity.wait_random_exponential(multiplier=self.initial, max=self.maximum),
            retry=tenacity.retry_if_exception(
                lambda exc: classify(exc, passthrough) in (Kind.TRANSIENT, Kind.CORRUPTED)),
            before_sleep=lambda state: self._before_sleep(operation, state),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(fn, *args, **kwargs)
        except HANDLED as exc:
            kind = classify(exc, passthrough)
            where = f" on {target}" if target else ""
            code = error_code(exc)
            if kind is Kind.TRANSIENT:
                raise StoreUnavailable(
                    f"S3 {operation}{where} still failing after retries ({code}); the store "
                    "cannot be reached now") from exc
            if kind is Kind.CORRUPTED:
                raise IntegrityError(
                    f"S3 {operation}{where}: the server kept receiving other bytes than were "
                    f"sent ({code})") from exc
            if kind is Kind.FATAL:
                hint = FATAL_HINTS.get(code, "no usable AWS credentials were found; set "
                                             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                                             "AWS_PROFILE")
                raise StoreMisconfigured(
                    f"S3 {operation}{where} refused ({code}): {hint}") from exc
            raise

    def _before_sleep(self, operation: str, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = error_code(exc) if exc else "unknown"
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("S3 %s failed (%s), attempt %d; retrying in %.2f s", operation, reason,
                    state.attempt_number, wait)
        if self.on_retry is not None:
            self.on_retry(RetryEvent(operation, state.attempt_number, reason, wait))
