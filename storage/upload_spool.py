"""`SpoolingStore`: a remote store with a local, crash-safe spool for when it cannot be reached.

(The upload outbox of a remote store; not `crawler.recording.exchanges`, where the recording
proxy buffers one HTTP message while hashing it.)

Writes go to the remote. When the remote raises `StoreUnavailable` the object goes to the
spool instead, durably (temp file, fsync, rename, fsync of the folder; the metadata file is
written last and is the commit point), and the answer is a `SpooledObject`. For `retry_after`
seconds after an outage, writes go straight to the spool rather than waiting out the retry
policy again. While any blob is spooled, documents are spooled too, so a manifest never lands
on the remote before the artifacts it names.

`sync()` uploads blobs first, then documents, and removes each from the spool only after the
remote has confirmed it (the remote's write is idempotent, so a crash at any point repeats at
most an upload that then reports `created=False`: nothing lost, nothing duplicated). A document
the remote already holds with other bytes is moved to `conflicts/` and reported, never dropped.

Layout: `blobs/<sha256>.{data,json}`, `documents/<sha256 of key>.{data,json}`, `conflicts/`,
`tmp/`, `.lock` (flock: spool writes and removals from several processes stay consistent).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from crawler.exceptions import ArtifactConflict, IntegrityError, StoreError, StoreUnavailable
from storage.base import CHUNK, Store, StoredObject, sha256_of
from storage.layout import blob_key

log = logging.getLogger(__name__)

BLOBS = "blobs"
DOCUMENTS = "documents"


@dataclass(frozen=True)
class SpooledObject(StoredObject):
    """A `StoredObject` held in the local spool, not yet on the remote."""

    spooled: bool = True
    """Always True: the object waits in the spool for `sync()`."""
    spool_path: str = ""
    """Where its bytes are on local disk."""


@dataclass(frozen=True)
class PendingItem:
    """One object waiting in the spool."""

    kind: str
    """'blob' or 'document'."""
    key: str
    sha256: str
    size: int
    media_type: str
    spooled_at: str
    """UTC ISO 8601 time it was spooled."""
    data_path: Path
    meta_path: Path


@dataclass
class SyncReport:
    """What one `sync()` did."""

    uploaded: list[StoredObject] = field(default_factory=list)
    """Objects the remote stored because of this sync."""
    already_present: list[StoredObject] = field(default_factory=list)
    """Objects the remote already held with the same bytes (e.g. after a crash mid-sync)."""
    conflicts: list[str] = field(default_factory=list)
    """Document keys the remote holds with other bytes; ours are kept under conflicts/."""
    failed: list[str] = field(default_factory=list)
    """'key: reason' for objects that stay spooled because the remote refused them."""
    unavailable: bool = False
    """The remote went away during the sync; the rest stays spooled."""
    remaining: int = 0
    """Objects still spooled afterwards."""

    @property
    def ok(self) -> bool:
        """Everything spooled is now on the remote."""
        return self.remaining == 0 and not self.conflicts and not self.failed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolingStore(Store):
    """A remote `Store` that spools writes to local disk while the remote is unavailable."""

    def __init__(self, remote: Store, spool_dir: Path | str, *, retry_after: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.remote = remote
        self.uri = remote.uri
        self.root = Path(spool_dir)
        self.retry_after = retry_after
        self._monotonic = monotonic
        self._suspended_until = 0.0
        self._thread_lock = threading.Lock()
        self.on_step: Callable[[str, PendingItem], None] | None = None
        """Test seam: called at each step of `sync` ('uploaded', 'committed', 'removed')."""
        for sub in (BLOBS, DOCUMENTS, "conflicts", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- Store contract --------------------------------------------------------------------

    def put_blob(self, source: bytes | Path, media_type: str) -> StoredObject:
        sha, size = sha256_of(source)
        held = self._item(BLOBS, sha)
        if held is not None:
            return self._spooled(held, created=False)
        if self._remote_usable():
            try:
                return self.remote.put_blob(source, media_type)
            except StoreUnavailable as exc:
                self._suspend(exc)
        return self._spool("blob", blob_key(sha), source, sha, size, media_type)

    def put_document(self, key: str, data: bytes, media_type: str) -> StoredObject:
        sha, size = sha256_of(data)
        held = self._item(DOCUMENTS, _doc_name(key))
        if held is not None:
            if held.sha256 != sha:
                raise ArtifactConflict(f"document {key} is spooled with other bytes; "
                                       "not overwritten")
            return self._spooled(held, created=False)
        if self._has_pending(BLOBS):
            log.info("spooling document %s behind spooled blobs", key)
        elif self._remote_usable():
            try:
                return self.remote.put_document(key, data, media_type)
            except StoreUnavailable as exc:
                self._suspend(exc)
        return self._spool("document", key, data, sha, size, media_type)

    def open_blob(self, sha256: str) -> BinaryIO:
        held = self._item(BLOBS, sha256.lower())
        if held is not None:
            return held.data_path.open("rb")
        return self.remote.open_blob(sha256)

    def has_blob(self, sha256: str) -> bool:
        return self._item(BLOBS, sha256.lower()) is not None or self.remote.has_blob(sha256)

    def read_document(self, key: str) -> bytes:
        held = self._item(DOCUMENTS, _doc_name(key))
        if held is not None:
            return held.data_path.read_bytes()
        return self.remote.read_document(key)

    def list_documents(self, prefix: str) -> Iterator[str]:
        keys = {item.key for item in self._items(DOCUMENTS) if item.key.startswith(prefix)}
        keys.update(self.remote.list_documents(prefix))
        return iter(sorted(keys))

    def close(self) -> None:
        self.remote.close()

    # -- spool -----------------------------------------------------------------------------

    def pending(self) -> list[PendingItem]:
        """Everything spooled, in upload order: blobs, then documents, oldest first."""
        return [*self._items(BLOBS), *self._items(DOCUMENTS)]

    def sync(self) -> SyncReport:
        """Upload the spool to the remote (blobs, then documents); see the module docstring.

        Fatal remote errors (credentials, missing bucket) propagate as `StoreError`.
        """
        report = SyncReport()
        self._clean_leftovers()
        for item in self._items(BLOBS):
            if not self._upload(item, report):
                break
        if report.unavailable or self._has_pending(BLOBS):
            log.warning("documents stay spooled until every blob is uploaded")
        else:
            for item in self._items(DOCUMENTS):
                if not self._upload(item, report):
                    break
        report.remaining = len(self.pending())
        if not report.unavailable:
            self._suspended_until = 0.0
        log.info("spool sync: %d uploaded, %d already there, %d conflicts, %d failed, "
                 "%d remaining", len(report.uploaded), len(report.already_present),
                 len(report.conflicts), len(report.failed), report.remaining)
        return report

    def _upload(self, item: PendingItem, report: SyncReport) -> bool:
        """Upload one item and unspool it; False when the remote is unavailable."""
        try:
            if item.kind == "blob":
                stored = self.remote.put_blob(item.data_path, item.media_type)
            else:
                stored = self.remote.put_document(item.key, item.data_path.read_bytes(),
                                                  item.media_type)
        except StoreUnavailable as exc:
            log.warning("remote unavailable during sync at %s: %s", item.key, exc)
            report.unavailable = True
            return False
        except ArtifactConflict:
            self._set_aside(item)
            report.conflicts.append(item.key)
            return True
        except IntegrityError as exc:
            report.failed.append(f"{item.key}: {exc}")
            return True
        except FileNotFoundError:
            return True  # another sync unspooled it meanwhile
        if stored.sha256 != item.sha256:
            report.failed.append(f"{item.key}: remote answered with SHA-256 {stored.sha256}")
            return True
        self._step("uploaded", item)
        self._unspool(item)
        (report.uploaded if stored.created else report.already_present).append(stored)
        return True

    def _unspool(self, item: PendingItem) -> None:
        with self._locked():
            with contextlib.suppress(FileNotFoundError):
                item.meta_path.unlink()  # the commit point: from here it is not pending
            _fsync_dir(item.meta_path.parent)
            self._step("committed", item)
            with contextlib.suppress(FileNotFoundError):
                item.data_path.unlink()
            _fsync_dir(item.data_path.parent)
        self._step("removed", item)

    def _set_aside(self, item: PendingItem) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.root / "conflicts" / f"{stamp}-{item.data_path.stem}"
        with self._locked():
            target.mkdir(parents=True)
            shutil.copy2(item.data_path, target / "data")
            shutil.copy2(item.meta_path, target / "meta.json")
            _fsync_dir(target)
            item.meta_path.unlink()
            item.data_path.unlink()
            _fsync_dir(item.meta_path.parent)
        log.error("remote holds document %s with other bytes; ours kept in %s", item.key,
                  target)

    def _spool(self, kind: str, key: str, source: bytes | Path, sha: str, size: int,
               media_type: str) -> SpooledObject:
        folder = BLOBS if kind == "blob" else DOCUMENTS
        name = sha if kind == "blob" else _doc_name(key)
        data_path = self.root / folder / f"{name}.data"
        meta_path = self.root / folder / f"{name}.json"
        meta = {"kind": kind, "key": key, "sha256": sha, "size": size,
                "media_type": media_type,
                "spooled_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        with self._locked():
            held = self._item(folder, name)
            if held is not None:
                if held.sha256 != sha:
                    raise ArtifactConflict(f"document {key} is spooled with other bytes")
                return self._spooled(held, created=False)
            written = self._durable_write(data_path, source)
            if written != sha:
                raise IntegrityError(f"{key}: source changed while spooling")
            self._durable_write(meta_path, json.dumps(meta, sort_keys=True).encode())
        log.warning("spooled %s %s (%d bytes) to %s", kind, key, size, self.root)
        return self._spooled(self._item(folder, name), created=True)

    def _durable_write(self, path: Path, source: bytes | Path) -> str:
        """Write via temp + fsync + rename + fsync(dir); the SHA-256 of what was written."""
        tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            if isinstance(source, bytes):
                out.write(source)
                digest.update(source)
            else:
                with source.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return digest.hexdigest()

    def _clean_leftovers(self) -> None:
        """Drop temp files and data files whose metadata never landed (an interrupted spool)."""
        with self._locked():
            for tmp in (self.root / "tmp").iterdir():
                tmp.unlink()
            for folder in (BLOBS, DOCUMENTS):
                for data in (self.root / folder).glob("*.data"):
                    if not data.with_suffix(".json").exists():
                        log.info("removing unspooled leftover %s", data)
                        data.unlink()

    # -- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock, (self.root / ".lock").open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _item(self, folder: str, name: str) -> PendingItem | None:
        meta_path = self.root / folder / f"{name}.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return PendingItem(meta["kind"], meta["key"], meta["sha256"], int(meta["size"]),
                           meta["media_type"], meta["spooled_at"],
                           meta_path.with_suffix(".data"), meta_path)

    def _items(self, folder: str) -> list[PendingItem]:
        items = [self._item(folder, p.stem) for p in (self.root / folder).glob("*.json")]
        return sorted((i for i in items if i is not None), key=lambda i: (i.spooled_at, i.key))

    def _has_pending(self, folder: str) -> bool:
        with os.scandir(self.root / folder) as entries:
            return any(e.name.endswith(".json") for e in entries)

    def _spooled(self, item: PendingItem | None, *, created: bool) -> SpooledObject:
        if item is None:
            raise StoreError("spooled object vanished while being read")
        return SpooledObject(item.key, item.sha256, item.size, created,
                             spool_path=str(item.data_path))

    def _remote_usable(self) -> bool:
        return self._monotonic() >= self._suspended_until

    def _suspend(self, exc: StoreUnavailable) -> None:
        self._suspended_until = self._monotonic() + self.retry_after
        log.warning("remote store unavailable (%s); spooling writes to %s for %.0f s", exc,
                    self.root, self.retry_after)

    def _step(self, name: str, item: PendingItem) -> None:
        if self.on_step is not None:
            self.on_step(name, item)


def _doc_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
