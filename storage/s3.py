"""`S3Store`: the evidence store on any S3-compatible server (AWS, Ceph RGW, MinIO, moto).

Write-once, whatever the server does or fails to do (see docs/storage.md):

1. HEAD the key. Present with the same size and SHA-256 → no-op (`created=False`); present
   with other bytes → `ArtifactConflict` (documents) or `IntegrityError` (a blob whose key is
   its hash cannot hold other bytes). In a versioned bucket an absent key is also checked for
   versions hidden behind a delete marker: markwatch never makes a second version of a key.
2. Upload with `IfNoneMatch='*'`, `ChecksumAlgorithm='SHA256'` plus the precomputed
   `ChecksumSHA256` and `Content-MD5`, `x-amz-meta-sha256`, and Object Lock headers when
   configured. Files above `multipart_threshold` go up in parts read one at a time, each part
   with its own SHA-256 and MD5.
3. Confirm what the server holds: a streamed read-back hash of the version just written
   (default on every endpoint but AWS's), or the SHA-256 the server stores and echoes
   (`read_back=False`; only sound where the server verifies checksums; check `store check`).
   A bad copy is deleted (or hidden behind a delete marker if Object Lock keeps it) and the
   upload retried; if it stays bad, `IntegrityError`.
4. In a versioned bucket, list the key's versions: if a concurrent writer got there first
   (Ceph ignores IfNoneMatch in versioned buckets), delete our version and answer with theirs.

Fewer requests where the bucket shows it enforces the check a request made (`storage.s3_probe`,
probed once per store): no HEAD before a single-part put into an unversioned bucket that
refuses `IfNoneMatch='*'` over an existing key (the 412 then leads to step 1's checks); no
read-back where the server refuses a wrong Content-MD5 and the put's ETag is the MD5 we sent
(unless `read_back=True` was asked for); no request at all for a blob this store already
stored or confirmed (a bounded LRU of keys: the key is the hash).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import logging
import posixpath
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import boto3
from botocore.exceptions import ClientError

from crawler.clock import Clock, SystemClock
from crawler.exceptions import ArtifactConflict, ConfigError, IntegrityError, StoreError
from storage.base import CHUNK, Store, StoredObject, sha256_of
from storage.layout import BLOBS, CHECK, blob_key
from storage.retrying import RetryPolicy, botocore_config, error_code
from storage.s3_probe import WriteProbe, probe

log = logging.getLogger(__name__)

_KEY_LOCKS = [threading.Lock() for _ in range(64)]
"""Striped locks: writers of the same key in this process take turns (see `S3Store._put`)."""

MiB = 1024 * 1024
MIN_PART = 5 * MiB
MAX_PARTS = 10_000
INTEGRITY_ATTEMPTS = 3
NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
RACE_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
URI_OPTIONS = frozenset({"endpoint_url", "region", "addressing_style", "read_back",
                         "lock_mode", "lock_days", "multipart_threshold", "known_blobs"})
KNOWN_BLOBS = 8192
"""Blob keys an `S3Store` remembers as stored (4.2 MiB measured when full); 0: none."""


LockMode = Literal["COMPLIANCE", "GOVERNANCE"]


@dataclass(frozen=True)
class ObjectLock:
    """Object Lock retention every put carries."""

    mode: LockMode
    days: int

    def __post_init__(self) -> None:
        if self.mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ConfigError(f"object lock mode must be COMPLIANCE or GOVERNANCE: {self.mode}")
        if self.days < 1:
            raise ConfigError(f"object lock days must be at least 1: {self.days}")

    def headers(self, now: dt.datetime) -> dict[str, Any]:
        """PutObject/CreateMultipartUpload arguments for a retention of `days` from `now`."""
        return {"ObjectLockMode": self.mode,
                "ObjectLockRetainUntilDate": now + dt.timedelta(days=self.days)}


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _md5(data: bytes | memoryview) -> str:
    return b64(hashlib.md5(data, usedforsecurity=False).digest())


def _document_key(key: str) -> str:
    clean = posixpath.normpath(key) if key else ""
    if (not key or key.startswith("/") or clean != key or key.startswith(BLOBS)
            or key.startswith(CHECK) or ".." in key.split("/")):
        raise ValueError(f"not a valid document key: {key!r}")
    return key


class S3Store(Store):
    """Write-once, verified evidence store in an S3 bucket under an optional prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str | None = None,
        object_lock: ObjectLock | None = None,
        multipart_threshold: int = 8 * MiB,
        read_back: bool | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        known_blobs: int = KNOWN_BLOBS,
    ) -> None:
        if not bucket:
            raise ConfigError("an S3 store needs a bucket name")
        if multipart_threshold < MIN_PART:
            raise ConfigError(f"multipart_threshold must be at least {MIN_PART} bytes")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._own_client = client is None
        if client is None:
            session = boto3.session.Session(region_name=region)
            client = session.client("s3", endpoint_url=endpoint_url,
                                    config=botocore_config(addressing_style))
        self.client = client
        self.endpoint = _public_url(str(client.meta.endpoint_url))
        self.object_lock = object_lock
        self.multipart_threshold = multipart_threshold
        host = urlsplit(self.endpoint).hostname or ""
        self.read_back = (not host.endswith(".amazonaws.com")) if read_back is None else read_back
        self.read_back_forced = read_back is True
        """Asked for explicitly: every upload is read back, whatever the server verifies."""
        if known_blobs < 0:
            raise ConfigError(f"known_blobs must be 0 or more: {known_blobs}")
        self.known_blobs = known_blobs
        self._known: OrderedDict[str, StoredObject] = OrderedDict()
        self._known_lock = threading.Lock()
        self._probe: WriteProbe | None = None
        self._probe_lock = threading.Lock()
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self._conditional = True
        self._versioned: bool | None = None
        query = {k: v for k, v in (("endpoint_url", endpoint_url and _public_url(endpoint_url)),
                                   ("addressing_style", addressing_style)) if v}
        self.uri = urlunsplit(("s3", bucket, "/" + self.prefix.rstrip("/") if self.prefix
                               else "", urlencode(query, safe=":/"), ""))

    @classmethod
    def from_uri(cls, uri: str, **kwargs: Any) -> S3Store:
        """Open `s3://bucket/prefix?endpoint_url=...&addressing_style=path&read_back=true`.

        Also `region`, `lock_mode` + `lock_days`, `multipart_threshold`. Credentials never go
        in the URI: they come from the AWS environment, profile or files.
        """
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.hostname:
            raise ConfigError(f"not an s3://BUCKET/PREFIX URI: {_public_url(uri)}")
        if parts.username or parts.password:
            raise ConfigError("credentials do not belong in the store URI; use AWS_* variables "
                              "or a profile")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if unknown := set(query) - URI_OPTIONS:
            raise ConfigError(f"unknown s3 URI option(s): {', '.join(sorted(unknown))}")
        options: dict[str, Any] = {k: query[k] for k in ("endpoint_url", "region",
                                                          "addressing_style") if k in query}
        if "read_back" in query:
            options["read_back"] = query["read_back"].lower() in ("1", "true", "yes")
        if "multipart_threshold" in query:
            options["multipart_threshold"] = int(query["multipart_threshold"])
        if "known_blobs" in query:
            try:
                options["known_blobs"] = int(query["known_blobs"])
            except ValueError as exc:
                raise ConfigError("known_blobs must be a whole number of keys") from exc
        if "lock_mode" in query or "lock_days" in query:
            try:
                days = int(query.get("lock_days", ""))
            except ValueError as exc:
                raise ConfigError("lock_days must be a whole number of days") from exc
            mode = cast(LockMode, query.get("lock_mode", "COMPLIANCE").upper())
            options["object_lock"] = ObjectLock(mode, days)
        options.update(kwargs)
        return cls(parts.netloc, parts.path, **options)

    # -- Store contract --------------------------------------------------------------------

    def put_blob(self, source: bytes | Path, media_type: str) -> StoredObject:
        sha, size = sha256_of(source)
        key = blob_key(sha)
        known = self._known_blob(key)
        if known is not None:
            return known
        stored = self._put(key, source, sha, size, media_type, blob=True)
        self._remember_blob(stored)
        return stored

    def put_document(self, key: str, data: bytes, media_type: str) -> StoredObject:
        sha, size = sha256_of(data)
        return self._put(_document_key(key), data, sha, size, media_type, blob=False)

    def open_blob(self, sha256: str) -> BinaryIO:
        key = blob_key(sha256)
        body = self._get(key)
        return io.BufferedReader(_VerifyingReader(body, sha256.lower(), key), CHUNK)

    def has_blob(self, sha256: str) -> bool:
        key = blob_key(sha256)
        if self._known_blob(key) is not None:
            return True
        return self._head(self.prefix + key) is not None

    def _known_blob(self, key: str) -> StoredObject | None:
        """A blob this store stored or confirmed earlier in this process, else None."""
        with self._known_lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
        return None if known is None else replace(known, created=False, checked="known")

    def _remember_blob(self, stored: StoredObject) -> None:
        if not self.known_blobs:
            return
        with self._known_lock:
            self._known[stored.key] = stored
            self._known.move_to_end(stored.key)
            while len(self._known) > self.known_blobs:
                self._known.popitem(last=False)

    def write_probe(self) -> WriteProbe:
        """What this store's bucket enforces on writes (probed on first use, then kept)."""
        with self._probe_lock:
            if self._probe is None:
                self._probe = probe(self)
            return self._probe

    def read_document(self, key: str) -> bytes:
        key = _document_key(key)
        resp = self._call("GetObject", self._get_all, self.prefix + key)
        data, meta = resp
        expected = meta.get("sha256")
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise IntegrityError(f"document {key} does not match its recorded SHA-256")
        return data

    def list_documents(self, prefix: str) -> Iterator[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
            if token:
                args["ContinuationToken"] = token
            page = self._call("ListObjectsV2", self.client.list_objects_v2, **args)
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                if not key.startswith((BLOBS, CHECK)):
                    keys.append(key)
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
        return iter(sorted(keys))

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def verify(self, key: str) -> StoredObject:
        """Re-hash a stored object against its recorded SHA-256; `IntegrityError` if it differs."""
        full = self.prefix + key
        head = self._head(full)
        if head is None:
            raise KeyError(key)
        expected = head.get("Metadata", {}).get("sha256")
        got_sha, got_size, _ = self._call("GetObject", self._hash_remote, full,
                                          head.get("VersionId"))
        if (expected and got_sha != expected) or got_size != head["ContentLength"]:
            raise IntegrityError(f"{key} holds bytes with SHA-256 {got_sha}, "
                                 f"recorded {expected}")
        if key.startswith(BLOBS) and not key.endswith(got_sha):
            raise IntegrityError(f"blob {key} holds bytes with SHA-256 {got_sha}")
        return StoredObject(key, got_sha, got_size, False, head.get("VersionId"),
                            head.get("ETag"))

    # -- helpers shared with s3_admin ------------------------------------------------------

    @property
    def target(self) -> str:
        """Endpoint and bucket, for messages (no secrets, no keys)."""
        return f"{self.endpoint} bucket {self.bucket}"

    def _call(self, operation: str, fn: Any, *args: Any, passthrough: frozenset[str] = NOT_FOUND,
              **kwargs: Any) -> Any:
        return self.retry.call(operation, fn, *args, target=self.target,
                               passthrough=passthrough, **kwargs)

    def is_versioned(self) -> bool:
        """Whether the bucket keeps versions (asked once; also fails fast on a missing bucket)."""
        if self._versioned is None:
            resp = self._call("GetBucketVersioning", self.client.get_bucket_versioning,
                              Bucket=self.bucket, passthrough=frozenset())
            self._versioned = resp.get("Status") in ("Enabled", "Suspended")
        return self._versioned

    def _head(self, full: str, version_id: str | None = None) -> dict[str, Any] | None:
        self.is_versioned()  # a missing bucket must not look like a missing key
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": full, "ChecksumMode": "ENABLED"}
        if version_id:
            args["VersionId"] = version_id
        try:
            head: dict[str, Any] = self._call("HeadObject", self.client.head_object, **args)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise
        return head

    def _get(self, key: str) -> Any:
        self.is_versioned()
        try:
            resp = self._call("GetObject", self.client.get_object, Bucket=self.bucket,
                              Key=self.prefix + key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise KeyError(key) from exc
            raise
        return resp["Body"]

    def _get_all(self, full: str) -> tuple[bytes, dict[str, str]]:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise KeyError(full[len(self.prefix):]) from exc
            raise
        with resp["Body"] as body:
            return body.read(), resp.get("Metadata", {})

    def _hash_remote(self, full: str, version_id: str | None) -> tuple[str, int, dict[str, Any]]:
        """SHA-256, size and response headers of an object, streamed (retried as a whole)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if version_id:
            args["VersionId"] = version_id
        resp = self.client.get_object(**args)
        digest = hashlib.sha256()
        size = 0
        with resp["Body"] as body:
            while chunk := body.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size, resp

    # -- the write path --------------------------------------------------------------------

    def _put(self, key: str, source: bytes | Path, sha: str, size: int, media_type: str,
             *, blob: bool) -> StoredObject:
        # Captures stored at once in this process often share a blob (a site's logo, a
        # stylesheet): one writer per key here, so the second finds the first's object
        # instead of racing it (on servers that ignore conditional writes in versioned,
        # locked buckets a race leaves a second version that cannot be withdrawn).
        with _KEY_LOCKS[zlib.crc32(key.encode("utf-8")) % len(_KEY_LOCKS)]:
            return self._put_unlocked(key, source, sha, size, media_type, blob=blob)

    def _put_unlocked(self, key: str, source: bytes | Path, sha: str, size: int,
                      media_type: str, *, blob: bool) -> StoredObject:
        full = self.prefix + key
        # No HEAD first where the put itself refuses an existing key (probed, unversioned).
        unchecked = (size <= self.multipart_threshold and self._conditional
                     and not self.is_versioned() and self.write_probe().conditional)
        if not unchecked:
            existing = self._head(full)
            if existing is not None:
                return self._existing(key, existing, sha, size, blob=blob)
            if self.is_versioned():
                self._refuse_hidden_versions(key)
        checked = "read-back"
        for attempt in range(1, INTEGRITY_ATTEMPTS + 1):
            try:
                version_id, etag, echo, md5 = self._upload(full, source, sha, size, media_type,
                                                           unchecked=unchecked)
            except _NeedsHead:
                return self._put_unlocked(key, source, sha, size, media_type, blob=blob)
            except ClientError as exc:
                if error_code(exc) not in RACE_CODES:
                    raise
                log.info("conditional put of %s lost a race; comparing", key)
                existing = self._head(full)
                if existing is None:
                    raise StoreError(f"{key}: conditional put refused but nothing is there "
                                     f"({self.target})") from exc
                return self._existing(key, existing, sha, size, blob=blob)
            if unchecked and version_id not in (None, "null") and not self._versioned:
                # The bucket was unversioned when probed and now keeps versions: trust the
                # probe no more (Ceph ignores IfNoneMatch in versioned buckets); step 4 below
                # withdraws our version if an earlier one exists.
                log.warning("%s: bucket versioning was switched on after the write probe; "
                            "checking every key first from now on", self.target)
                with self._probe_lock:
                    self._versioned = True
                    self._probe = None
            confirmed, checked = self._confirm(full, version_id, sha, size, echo, md5, etag)
            if confirmed is not None:
                version_id = confirmed.get("VersionId") or version_id
                etag = confirmed.get("ETag") or etag
                self._ensure_retention(key, version_id, confirmed)
                break
            self._discard_bad(key, version_id)
            log.warning("%s: stored copy did not match (attempt %d of %d); uploading again",
                        key, attempt, INTEGRITY_ATTEMPTS)
        else:
            raise IntegrityError(f"{key}: the server kept storing bytes other than those sent "
                                 f"({INTEGRITY_ATTEMPTS} attempts, {self.target}); bad copies "
                                 "were deleted")
        stored = StoredObject(key, sha, size, True, version_id, etag, checked)
        if self.is_versioned():
            return self._settle_race(stored, blob=blob)
        return stored

    def _existing(self, key: str, head: dict[str, Any], sha: str, size: int,
                  *, blob: bool) -> StoredObject:
        """Compare an object already at `key` with the bytes we meant to write."""
        theirs = head.get("Metadata", {}).get("sha256") or _hex_checksum(head)
        their_size = int(head["ContentLength"])
        version_id = head.get("VersionId")
        if theirs is None:  # written by something other than markwatch: hash it
            theirs, their_size, _ = self._call("GetObject", self._hash_remote,
                                               self.prefix + key, version_id)
        if theirs == sha and their_size == size:
            return StoredObject(key, sha, size, False, version_id, head.get("ETag"), "existing")
        if blob:
            raise IntegrityError(f"blob {key} already holds other bytes (SHA-256 {theirs}, "
                                 f"{their_size} bytes); {self.target}")
        raise ArtifactConflict(f"document {key} already holds other bytes; not overwritten")

    def _refuse_hidden_versions(self, key: str) -> None:
        versions, markers = self._versions(self.prefix + key)
        if versions:
            raise ArtifactConflict(
                f"{key} has {len(versions)} earlier version(s) hidden by {len(markers)} delete "
                "marker(s); markwatch never writes a second version of a key")

    def _versions(self, full: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Versions (newest first) and delete markers of exactly this key."""
        resp = self._call("ListObjectVersions", self.client.list_object_versions,
                          Bucket=self.bucket, Prefix=full, passthrough=frozenset())
        versions = [v for v in resp.get("Versions", []) if v["Key"] == full]
        markers = [m for m in resp.get("DeleteMarkers", []) if m["Key"] == full]
        return versions, markers

    def _upload(self, full: str, source: bytes | Path, sha: str, size: int, media_type: str,
                *, unchecked: bool = False) -> tuple[str | None, str | None, str, str | None]:
        """Upload; (VersionId, ETag, the ChecksumSHA256 a checksum-storing server echoes, the
        Content-MD5 sent with a single-part put)."""
        extra: dict[str, Any] = {"ContentType": media_type, "Metadata": {"sha256": sha}}
        if self.object_lock:
            extra.update(self.object_lock.headers(self.clock.now()))
        if size > self.multipart_threshold:
            return (*self._upload_multipart(full, source, sha, size, extra), None)
        data = source if isinstance(source, bytes) else source.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise IntegrityError(f"{source!s:.80} changed while being stored")
        args = {"Bucket": self.bucket, "Key": full, "Body": data, "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": b64(bytes.fromhex(sha)), "ContentMD5": _md5(data), **extra}
        resp = self._conditional_call("PutObject", self.client.put_object, args,
                                      unchecked=unchecked)
        return resp.get("VersionId"), resp.get("ETag"), args["ChecksumSHA256"], args["ContentMD5"]

    def _conditional_call(self, operation: str, fn: Any, args: dict[str, Any],
                          *, unchecked: bool = False) -> Any:
        """Call with IfNoneMatch='*' unless the server has said it does not implement it.

        `unchecked`: no HEAD was made first, so the condition is the only guard: a server that
        turns out not to implement it raises `_NeedsHead` instead of writing unconditionally.
        """
        if self._conditional:
            try:
                return self._call(operation, fn, IfNoneMatch="*", **args,
                                  passthrough=RACE_CODES | {"NotImplemented"})
            except ClientError as exc:
                if error_code(exc) != "NotImplemented":
                    raise
                log.warning("%s does not implement If-None-Match; relying on HEAD checks",
                            self.endpoint)
                self._conditional = False
        if unchecked:
            raise _NeedsHead
        return self._call(operation, fn, **args)

    def _upload_multipart(self, full: str, source: bytes | Path, sha: str, size: int,
                          extra: dict[str, Any]) -> tuple[str | None, str | None, str]:
        part_size = max(self.multipart_threshold, -(-size // MAX_PARTS))
        created = self._call("CreateMultipartUpload", self.client.create_multipart_upload,
                             Bucket=self.bucket, Key=full, ChecksumAlgorithm="SHA256", **extra)
        upload_id = created["UploadId"]
        try:
            parts, composite = self._upload_parts(full, upload_id, source, sha, part_size)
            resp = self._conditional_call(
                "CompleteMultipartUpload", self.client.complete_multipart_upload,
                {"Bucket": self.bucket, "Key": full, "UploadId": upload_id,
                 "MultipartUpload": {"Parts": parts}})
        except BaseException:
            try:
                self._call("AbortMultipartUpload", self.client.abort_multipart_upload,
                           Bucket=self.bucket, Key=full, UploadId=upload_id)
            except (StoreError, ClientError) as exc:
                log.warning("could not abort multipart upload of %s: %s", full, exc)
            raise
        return resp.get("VersionId"), resp.get("ETag"), composite

    def _upload_parts(self, full: str, upload_id: str, source: bytes | Path, sha: str,
                      part_size: int) -> tuple[list[dict[str, Any]], str]:
        """Upload the parts; the parts list and the composite checksum `b64(sha(digests))-N`."""
        whole = hashlib.sha256()
        digests = hashlib.sha256()
        parts: list[dict[str, Any]] = []
        with _chunks(source, part_size) as chunks:
            for number, chunk in enumerate(chunks, start=1):
                whole.update(chunk)
                part_digest = hashlib.sha256(chunk).digest()
                digests.update(part_digest)
                part_sha = b64(part_digest)
                resp = self._call("UploadPart", self.client.upload_part, Bucket=self.bucket,
                                  Key=full, UploadId=upload_id, PartNumber=number, Body=chunk,
                                  ChecksumAlgorithm="SHA256", ChecksumSHA256=part_sha,
                                  ContentMD5=_md5(chunk))
                parts.append({"PartNumber": number, "ETag": resp["ETag"],
                              "ChecksumSHA256": part_sha})
        if whole.hexdigest() != sha:
            what = "the bytes" if isinstance(source, bytes) else str(source)
            raise IntegrityError(f"{what} changed while being stored")
        return parts, f"{b64(digests.digest())}-{len(parts)}"

    def _confirm(self, full: str, version_id: str | None, sha: str, size: int, echo: str,
                 md5: str | None = None, etag: str | None = None,
                 ) -> tuple[dict[str, Any] | None, str]:
        """(The object's headers if the server holds exactly our bytes else None, how known)."""
        if (md5 is not None and etag is not None and not self.read_back_forced
                and self.write_probe().md5_verified):
            if etag.strip('"').lower() == base64.b64decode(md5).hex():
                # The server checked the body against our MD5 and stored it under that MD5.
                if self.object_lock is None:
                    return {"VersionId": version_id, "ETag": etag}, "content-md5"
                head = self._head(full, version_id)  # the retention check needs its headers
                if head is not None and head.get("ETag") == etag:
                    return head, "content-md5"
            log.debug("%s: ETag %s of %s is not the MD5 sent", self.endpoint, etag, full)
        if not self.read_back:
            head = self._head(full, version_id)
            echoed = head.get("ChecksumSHA256") if head else None
            if head is not None and echoed:
                ok = echoed == echo and int(head["ContentLength"]) == size
                return (head if ok else None), "checksum-echo"
            log.debug("%s stores no SHA-256 for %s; reading it back", self.endpoint, full)
        got_sha, got_size, resp = self._call("GetObject", self._hash_remote, full, version_id)
        if got_sha != sha or got_size != size:
            log.error("%s read back with SHA-256 %s (%d bytes), sent %s (%d bytes)", full,
                      got_sha, got_size, sha, size)
            return None, "read-back"
        headers: dict[str, Any] = resp
        return headers, "read-back"

    def _ensure_retention(self, key: str, version_id: str | None,
                          headers: dict[str, Any]) -> None:
        """Apply Object Lock retention where the upload did not (Ceph and moto drop it on
        multipart uploads), then check it holds."""
        if self.object_lock is None or headers.get("ObjectLockMode") == self.object_lock.mode:
            return
        lock = self.object_lock.headers(self.clock.now())
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + key, "Retention": {
            "Mode": lock["ObjectLockMode"], "RetainUntilDate": lock["ObjectLockRetainUntilDate"]}}
        if version_id:
            args["VersionId"] = version_id
        log.info("%s: server did not apply the upload's retention; setting it", key)
        self._call("PutObjectRetention", self.client.put_object_retention, **args)
        head = self._head(self.prefix + key, version_id)
        if head is None or head.get("ObjectLockMode") != self.object_lock.mode:
            raise StoreError(f"{key}: the server does not keep Object Lock retention "
                             f"({self.target}); the object is stored but not locked")

    def _discard_bad(self, key: str, version_id: str | None) -> None:
        """Delete a copy that failed verification; hide it if Object Lock keeps it."""
        full = self.prefix + key
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if version_id:
            args["VersionId"] = version_id
        try:
            self._call("DeleteObject", self.client.delete_object, **args,
                       passthrough=frozenset({"AccessDenied", "403"}))
        except ClientError as exc:
            self._call("DeleteObject", self.client.delete_object, Bucket=self.bucket, Key=full)
            raise IntegrityError(
                f"{key}: the server stored other bytes than were sent, and Object Lock keeps "
                f"that bad version ({version_id}); it is hidden behind a delete marker. "
                f"Report it; {self.target}") from exc

    def _settle_race(self, ours: StoredObject, *, blob: bool) -> StoredObject:
        """After a put in a versioned bucket: if another writer was first, withdraw ours."""
        versions, _ = self._versions(self.prefix + ours.key)
        if len(versions) <= 1 or ours.version_id is None:
            return ours
        first = versions[-1]  # S3 lists a key's versions newest first
        if first["VersionId"] == ours.version_id:
            return ours  # we were first; the later writer withdraws its own
        log.warning("%s: a concurrent writer stored version %s first; withdrawing ours (%s)",
                    ours.key, first["VersionId"], ours.version_id)
        head = self._head(self.prefix + ours.key, first["VersionId"])
        try:
            self._call("DeleteObject", self.client.delete_object, Bucket=self.bucket,
                       Key=self.prefix + ours.key, VersionId=ours.version_id,
                       passthrough=frozenset({"AccessDenied", "403"}))
        except ClientError as exc:
            raise ArtifactConflict(f"{ours.key}: a concurrent writer stored it first and Object "
                                   f"Lock keeps our second version {ours.version_id}") from exc
        if head is None:
            raise StoreError(f"{ours.key}: version {first['VersionId']} vanished")
        return self._existing(ours.key, head, ours.sha256, ours.size, blob=blob)


class _NeedsHead(Exception):
    """A put meant to rely on IfNoneMatch met a server that does not implement it."""


def _hex_checksum(head: dict[str, Any]) -> str | None:
    """The object's SHA-256 as hex from a stored whole-object checksum, if there is one."""
    echoed = head.get("ChecksumSHA256")
    if not echoed or "-" in echoed:
        return None
    return base64.b64decode(echoed).hex()


class _chunks:
    """Context manager yielding `size`-byte chunks of bytes or of a file, one at a time."""

    def __init__(self, source: bytes | Path, size: int) -> None:
        self.source = source
        self.size = size
        self.fh: BinaryIO | None = None

    def __enter__(self) -> Iterator[bytes]:
        if isinstance(self.source, bytes):
            data = self.source
            return (data[i:i + self.size] for i in range(0, len(data), self.size))
        self.fh = self.source.open("rb")
        fh = self.fh
        return iter(lambda: fh.read(self.size), b"")

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


class _VerifyingReader(io.RawIOBase):
    """A blob's body that raises IntegrityError at the end if it does not hash to its name."""

    def __init__(self, body: Any, sha256: str, key: str) -> None:
        self._body = body
        self._expected = sha256
        self._key = key
        self._digest = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        if not data:
            if not self._checked:
                self._checked = True
                if self._digest.hexdigest() != self._expected:
                    raise IntegrityError(f"blob {self._key} read back with SHA-256 "
                                         f"{self._digest.hexdigest()}")
            return 0
        self._digest.update(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _public_url(url: str) -> str:
    """A URL without user:password, for messages and URIs."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url
