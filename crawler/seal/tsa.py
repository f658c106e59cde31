"""RFC 3161 trusted timestamps: ask a TSA over HTTP and verify what it answers.

Built on `rfc3161-client` (request building, response parsing, CMS verification). The message
timestamped is the 32-byte Merkle root; as `rfc3161-client` always hashes the message it is
given, the token's messageImprint is `SHA-256(root)` (not the root itself).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from crawler.exceptions import SealError
from crawler.seal import standalone_verify as sv

__all__ = ["TSAConfig", "TimestampInfo", "TimestampToken", "request_timestamp", "verify_timestamp"]

logger = logging.getLogger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY = 1024 * 1024
_HASHES = {
    "2.16.840.1.101.3.4.2.1": ("sha256", hashlib.sha256),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashlib.sha384),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashlib.sha512),
}


@dataclass(frozen=True)
class TSAConfig:
    """One time-stamping authority."""

    url: str
    """Where to POST `application/timestamp-query` (http or https)."""
    ca_cert_paths: tuple[Path, ...]
    """PEM files of the CA chain the TSA certificate chains to; kept in every seal."""
    name: str
    """A short label for reports (`freetsa`, `digicert`)."""
    timeout: float = 10.0
    """Seconds per HTTP attempt."""
    attempts: int = 3
    """HTTP attempts before giving up (connection errors, timeouts, 5xx)."""
    backoff: float = 1.0
    """First wait between attempts in seconds; doubles, capped at 10 s."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise SealError(f"TSA {self.name}: URL must be http(s): {self.url!r}")
        if not self.ca_cert_paths:
            raise SealError(f"TSA {self.name}: no CA certificate configured")
        object.__setattr__(self, "ca_cert_paths", tuple(Path(p) for p in self.ca_cert_paths))

    def ca_pem(self) -> bytes:
        """The configured CA chain, concatenated PEM; SealError if a file is unreadable."""
        chunks = []
        for path in self.ca_cert_paths:
            try:
                chunks.append(path.read_bytes().strip() + b"\n")
            except OSError as exc:
                raise SealError(f"TSA {self.name}: cannot read CA file {path}: {exc}") from exc
        return b"".join(chunks)


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified timestamp token says."""

    gen_time: dt.datetime
    """When the TSA says it saw the digest (aware, UTC)."""
    tsa: str
    """The TSA's name from the token, else the subject of its certificate (RFC 4514)."""
    serial: int
    """The token's serial number, unique per TSA."""
    policy: str
    """The TSA policy OID, dotted."""
    hash_algorithm: str = "sha256"
    """The messageImprint hash algorithm."""
    label: str = ""
    """The configured name of the TSA (`TSAConfig.name`), where known."""


@dataclass(frozen=True)
class TimestampToken:
    """A TSA's answer for one digest, verified when it was received."""

    tsa_name: str
    url: str
    response_der: bytes
    """The whole RFC 3161 TimeStampResp (status + token), DER: what `openssl ts` calls .tsr."""
    ca_pem: bytes
    """The TSA's CA chain (PEM) at the time of sealing."""
    info: TimestampInfo = field(compare=False)


class _Retryable(Exception):
    """A TSA failure worth another attempt."""


def _post(tsa: TSAConfig, body: bytes) -> bytes:
    request = urllib.request.Request(  # noqa: S310 - scheme checked in TSAConfig
        tsa.url, data=body, method="POST", headers={"Content-Type": QUERY_TYPE}
    )
    try:
        with urllib.request.urlopen(request, timeout=tsa.timeout) as reply:  # noqa: S310
            content_type = reply.headers.get_content_type()
            data: bytes = reply.read(MAX_REPLY + 1)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise _Retryable(f"HTTP {exc.code}") from exc
        raise SealError(f"TSA {tsa.name}: HTTP {exc.code} from {tsa.url}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise _Retryable(str(getattr(exc, "reason", exc))) from exc
    if content_type != REPLY_TYPE:
        raise SealError(f"TSA {tsa.name}: answered {content_type!r}, not {REPLY_TYPE}")
    if len(data) > MAX_REPLY:
        raise SealError(f"TSA {tsa.name}: answer larger than {MAX_REPLY} bytes")
    return data


def request_timestamp(digest: bytes, tsa: TSAConfig) -> TimestampToken:
    """Timestamp `digest` (the message, e.g. a Merkle root) at `tsa`, verified; else SealError.

    The request carries a random nonce and asks for the TSA certificate; the answer must
    verify against the TSA's configured CA, match the digest and echo the nonce.
    """
    ca_pem = tsa.ca_pem()
    request = (
        TimestampRequestBuilder()
        .data(digest)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    retrying = Retrying(
        stop=stop_after_attempt(max(1, tsa.attempts)),
        wait=wait_exponential(multiplier=tsa.backoff, max=10),
        retry=retry_if_exception_type(_Retryable),
        reraise=False,
    )
    try:
        der = retrying(_post, tsa, request.as_bytes())
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise SealError(
            f"TSA {tsa.name} unreachable after {tsa.attempts} attempts ({tsa.url}): {cause}"
        ) from cause
    info = verify_timestamp(der, digest, ca_pem, nonce=request.nonce, label=tsa.name)
    logger.info("timestamp from %s: %s serial %s", tsa.name, info.gen_time, info.serial)
    return TimestampToken(tsa.name, tsa.url, der, ca_pem, info)


def _load_cas(ca_pem_bytes: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(ca_pem_bytes)
    except ValueError as exc:
        raise SealError(f"untrusted CA: no usable CA certificate given ({exc})") from exc


def _parse(token_der: bytes) -> TimeStampResponse:
    try:
        response = decode_timestamp_response(token_der)
        response.tst_info.message_imprint  # noqa: B018 - force parsing of the TSTInfo
    except ValueError as exc:
        raise SealError(f"malformed timestamp: {exc}") from exc
    if response.status not in (0, 1):
        detail = "; ".join(response.status_string) or "no reason given"
        raise SealError(f"timestamp refused by TSA (status {response.status}: {detail})")
    return response


def _signer_cert(response: TimeStampResponse) -> x509.Certificate:
    infos = list(response.signed_data.signer_infos)
    if len(infos) != 1:
        raise SealError(f"malformed timestamp: {len(infos)} signers, expected 1")
    certs = [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
    for cert in certs:
        if cert.issuer == infos[0].issuer and cert.serial_number == infos[0].serial_number:
            return cert
    raise SealError("malformed timestamp: the TSA certificate is not in the token")


def _tsa_name(response: TimeStampResponse, cert: x509.Certificate) -> str:
    try:
        name = response.tst_info.name
    except ValueError:
        return cert.subject.rfc4514_string()
    value = getattr(name, "value", None)
    return value.rfc4514_string() if isinstance(value, x509.Name) else str(value)


def verify_timestamp(
    token_der: bytes,
    digest: bytes,
    ca_pem_bytes: bytes,
    *,
    nonce: int | None = None,
    label: str = "",
) -> TimestampInfo:
    """Verify a TimeStampResp over message `digest` against trusted CAs; SealError names why.

    Failures start with `malformed timestamp`, `timestamp refused`, `digest mismatch`,
    `untrusted CA` or `bad signature`.
    """
    try:
        return _verify(token_der, digest, ca_pem_bytes, nonce, label)
    except (ValueError, TypeError, KeyError, IndexError, x509.InvalidVersion) as exc:
        raise SealError(f"malformed timestamp: {exc}") from exc


def _verify(
    token_der: bytes, digest: bytes, ca_pem_bytes: bytes, nonce: int | None, label: str
) -> TimestampInfo:
    response = _parse(token_der)
    tst = response.tst_info
    algorithm = tst.message_imprint.hash_algorithm.dotted_string
    if algorithm not in _HASHES:
        raise SealError(f"malformed timestamp: unsupported imprint hash {algorithm}")
    hash_name, hasher = _HASHES[algorithm]
    hashed = hasher(digest).digest()
    if tst.message_imprint.message != hashed:
        raise SealError(
            f"digest mismatch: the token covers {tst.message_imprint.message.hex()}, "
            f"expected {hash_name}({digest.hex()}) = {hashed.hex()}"
        )
    cas = _load_cas(ca_pem_bytes)
    cert = _signer_cert(response)
    certs = [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
    try:  # the same X.509 path validation as verify.py (standalone_verify.validate_tsa_path)
        sv.validate_tsa_path(cert, [c for c in certs if c != cert], cas,
                             tst.gen_time.astimezone(dt.UTC))
    except sv.VerifyError as exc:
        raise SealError(
            f"untrusted CA: TSA certificate {cert.subject.rfc4514_string()} issued by "
            f"{cert.issuer.rfc4514_string()} does not chain to a trusted CA ({exc})") from exc
    builder = VerifierBuilder()
    for ca in cas:
        builder = builder.add_root_certificate(ca)
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify(response, hashed)
    except VerificationError as exc:
        raise SealError(f"bad signature: {exc}") from exc
    policy = tst.policy
    return TimestampInfo(
        gen_time=tst.gen_time.astimezone(dt.UTC),
        tsa=_tsa_name(response, cert),
        serial=tst.serial_number,
        policy=policy.dotted_string if policy is not None else "",
        hash_algorithm=hash_name,
        label=label,
    )
