"""The contract every evidence store keeps, whatever holds the bytes.

Two kinds of object live in a store:

* **blobs**: artifacts stored under their SHA-256 (`blobs/sha256/ab/cd/<hex>`). Putting a blob
  that is already there is a no-op; a blob is never rewritten.
* **documents**: manifests, run records, seals and custody entries under a path-like key
  (`captures/...json`). A document is written once; writing the same bytes again is a no-op,
  writing different bytes raises `ArtifactConflict` and changes nothing.

Which key holds what is `storage.layout`, the one place every key is built.

Stores are synchronous (boto3, files); callers on an event loop use `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """What a store says about an object it holds."""

    key: str
    """The object's key inside the store (no bucket, no prefix)."""
    sha256: str
    """Lower-case hex SHA-256 of the bytes."""
    size: int
    """Size in bytes."""
    created: bool
    """True if this call wrote it; False if identical bytes were already there."""
    version_id: str | None = None
    """S3 VersionId, where the server keeps versions."""
    etag: str | None = None
    """S3 ETag, where there is one."""
    checked: str | None = None
    """How an S3 store confirmed the bytes it holds: "read-back", "content-md5" (the server
    refused wrong MD5s and answered with ours as the ETag), "checksum-echo", "existing"
    (already there, compared), "known" (stored or confirmed earlier by this process)."""


def sha256_of(source: bytes | Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of bytes or of a file, read in chunks."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest(), len(source)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class Store(ABC):
    """An evidence store. Subclasses hold the bytes; this class fixes the contract."""

    uri: str
    """The URI the store was opened with, without secrets."""

    @abstractmethod
    def put_blob(self, source: bytes | Path, media_type: str) -> StoredObject:
        """Store bytes (or a file's bytes) under their SHA-256; no-op if already present."""

    @abstractmethod
    def open_blob(self, sha256: str) -> BinaryIO:
        """A readable binary stream of a blob (caller closes it). `KeyError` if absent."""

    @abstractmethod
    def has_blob(self, sha256: str) -> bool:
        """Whether a blob is present."""

    @abstractmethod
    def put_document(self, key: str, data: bytes, media_type: str) -> StoredObject:
        """Write a document once; same bytes again is a no-op, other bytes `ArtifactConflict`."""

    @abstractmethod
    def read_document(self, key: str) -> bytes:
        """A document's bytes. `KeyError` if absent."""

    @abstractmethod
    def list_documents(self, prefix: str) -> Iterator[str]:
        """Keys of documents under a prefix, sorted."""

    def iter_blob(self, sha256: str) -> Iterator[bytes]:
        """A blob's bytes in chunks."""
        with self.open_blob(sha256) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default holds none."""
