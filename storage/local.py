"""The embedded default store: a local folder, write-once and content-addressed.

Every write goes to a temporary file in the same folder, is fsync'd, and is then hard-linked
into place: `link` fails when the target exists, so two writers can never overwrite each
other and a crash never leaves a half-written object under a real key. Stored files are made
read-only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from crawler.exceptions import ArtifactConflict, IntegrityError, StoreError
from storage.base import CHUNK, Store, StoredObject, sha256_of
from storage.layout import LOCAL_TMP_DIR, blob_key

_READ_ONLY = 0o444


def check_key(key: str) -> str:
    """Reject keys that could escape the store or are not plain relative paths."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid store key: {key!r}")
    return key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore(Store):
    """A store in a local folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.uri = f"file://{self.root}"
        try:
            (self.root / LOCAL_TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {self.root}: {exc}") from exc

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write_new(self, key: str, source: bytes | Path,
                   sha256: str | None = None) -> tuple[bool, str, int]:
        """Write `source` under `key` unless the key exists. Returns (created, sha256, size).

        `sha256`: the digest of `source` when it is bytes the caller has just hashed (bytes
        cannot change, so they are not hashed again); a file is always hashed as it is copied.
        """
        target = self._path(key)
        if target.exists():
            return False, *sha256_of(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root / LOCAL_TMP_DIR, prefix="put-")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                    if sha256 is None:
                        digest.update(source)
                    size = len(source)
                else:
                    with source.open("rb") as src:
                        while chunk := src.read(CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, _READ_ONLY)
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False, *sha256_of(target)
            _fsync_dir(target.parent)
            return True, sha256 or digest.hexdigest(), size
        finally:
            tmp.unlink(missing_ok=True)

    def put_blob(self, source: bytes | Path, media_type: str) -> StoredObject:
        sha, size = sha256_of(source)
        key = blob_key(sha)
        created, held_sha, _ = self._write_new(
            key, source, sha if isinstance(source, bytes) else None)
        if held_sha != sha:
            raise IntegrityError(f"blob {key} holds bytes with SHA-256 {held_sha}")
        return StoredObject(key=key, sha256=sha, size=size, created=created)

    def open_blob(self, sha256: str) -> BinaryIO:
        try:
            return self._path(blob_key(sha256)).open("rb")
        except FileNotFoundError as exc:
            raise KeyError(sha256) from exc

    def has_blob(self, sha256: str) -> bool:
        return self._path(blob_key(sha256)).is_file()

    def put_document(self, key: str, data: bytes, media_type: str) -> StoredObject:
        sha = hashlib.sha256(data).hexdigest()
        created, held_sha, _ = self._write_new(key, data, sha)
        if held_sha != sha:
            raise ArtifactConflict(f"{key} already holds other bytes; nothing was overwritten")
        return StoredObject(key=key, sha256=sha, size=len(data), created=created)

    def read_document(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def has_document(self, key: str) -> bool:
        """Whether a document exists."""
        return self._path(key).is_file()

    def list_documents(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix.rstrip("/") if prefix else self.root
        if not base.exists():
            return iter(())
        keys = sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        return iter(keys)
