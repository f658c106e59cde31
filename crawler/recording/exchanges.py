"""Recorded exchanges: bytes hashed as they arrive, in memory up to a threshold, then on disk.

`HashingSpool` buffers one HTTP message for the recording proxy; it is not the upload spool of a
remote store (`storage.upload_spool`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

SPOOL_THRESHOLD = 1024 * 1024
"""Bytes of one recorded message kept in memory before it moves to a temporary file."""


def digest_label(digest: hashlib._Hash) -> str:
    """`sha256:BASE32`, the WARC digest form `warcio check` verifies."""
    return "sha256:" + base64.b32encode(digest.digest()).decode("ascii")


class HashingSpool:
    """One HTTP message as received: a head, then a payload, hashed while written.

    The block digest covers head and payload, the payload digest the payload alone (the bytes
    after the head, as received: still content-encoded, chunk framing included).
    """

    def __init__(self, threshold: int = SPOOL_THRESHOLD) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=threshold)  # noqa: SIM115
        self._block = hashlib.sha256()
        self._payload = hashlib.sha256()
        self.head_size = 0
        self.size = 0

    def write_head(self, data: bytes) -> None:
        self._file.write(data)
        self._block.update(data)
        self.head_size += len(data)
        self.size += len(data)

    def write_payload(self, data: bytes) -> None:
        self._file.write(data)
        self._block.update(data)
        self._payload.update(data)
        self.size += len(data)

    @property
    def payload_size(self) -> int:
        return self.size - self.head_size

    @property
    def block_digest(self) -> str:
        return digest_label(self._block)

    @property
    def payload_digest(self) -> str:
        return digest_label(self._payload)

    @property
    def payload_sha256(self) -> str:
        """Hex SHA-256 of the payload: its blob key when it is stored on its own."""
        return self._payload.hexdigest()

    def read_head(self) -> bytes:
        """The head (status line and headers) as received."""
        stream = self.open()
        return stream.read(self.head_size)

    def open(self) -> IO[bytes]:
        """The stored bytes from the start (the same file object; read it before `close`)."""
        self._file.flush()
        self._file.seek(0)
        return self._file

    def read_payload(self, limit: int) -> bytes | None:
        """The payload if it is at most `limit` bytes, else None."""
        if self.payload_size > limit:
            return None
        stream = self.open()
        stream.seek(self.head_size)
        return stream.read()

    def close(self) -> None:
        self._file.close()


@dataclass
class RecordedExchange:
    """One HTTP request and its response as they crossed the recording proxy."""

    url: str
    method: str
    started_at: dt.datetime
    request: HashingSpool
    response: HashingSpool | None = None
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    remote_ip: str | None = None
    tls_key: str | None = None
    """Key of the upstream TLS session (in `Recording.tls`) the exchange travelled on."""
    truncated: str | None = None
    """WARC-Truncated reason (`length`, `time`, `disconnect`) when the body was cut."""
    complete: bool = False
    fetch_dest: str | None = None
    """The request's `Sec-Fetch-Dest` (what the page wants it for: script, style, image...)."""
    origin: str | None = None
    """The request's `Origin` header, if any."""
    served: Any = None
    """A `crawler.recording.conditional.Served` when the browser was served the stored
    response (after a 304, or without asking the site): the WARC records it as a revisit."""

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == name), None)

    def close(self) -> None:
        self.request.close()
        if self.response is not None:
            self.response.close()


@dataclass
class TlsSession:
    """An upstream TLS connection as the proxy saw it."""

    host: str
    port: int
    chain_der: list[bytes]
    verified: bool
    error: str | None
    version: str | None
    cipher: str | None
    remote_ip: str | None
    at: dt.datetime

    @property
    def key(self) -> str:
        leaf = hashlib.sha256(self.chain_der[0]).hexdigest() if self.chain_der else "none"
        return f"{self.host}:{self.port}/{leaf}"
