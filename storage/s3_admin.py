"""Operator tools for an S3 evidence bucket: create it, probe what the server supports, share.

* `init_bucket` creates a bucket with versioning and (optionally) Object Lock enabled.
* `check_target` probes the bucket behind an `S3Store` with scratch objects under
  `_markwatch-check/` and says, in plain English, what is missing and what follows from it.
* `presigned_url` makes a time-limited GET link for one object (it is a credential: do not log).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from crawler.exceptions import StoreError
from storage.layout import CHECK
from storage.retrying import error_code
from storage.s3 import S3Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """One capability of the target, as measured."""

    name: str
    """Short name: 'versioning', 'object lock', 'checksum storage'..."""
    ok: bool | None
    """True supported, False missing, None could not be measured."""
    detail: str
    """What was seen."""
    warning: str | None = None
    """What it means for evidence, for an operator, when not ok."""

    def __str__(self) -> str:
        mark = {True: " OK ", False: "WARN", None: " ?? "}[self.ok]
        text = f"[{mark}] {self.name}: {self.detail}"
        return text + (f"\n       -> {self.warning}" if self.warning else "")


def init_bucket(client: Any, bucket: str, object_lock: bool) -> list[str]:
    """Create `bucket` with versioning (and Object Lock) enabled; idempotent. What was done."""
    done: list[str] = []
    args: dict[str, Any] = {"Bucket": bucket}
    region = client.meta.region_name
    if region and region != "us-east-1" and "amazonaws.com" in client.meta.endpoint_url:
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if object_lock:
        args["ObjectLockEnabledForBucket"] = True
    try:
        client.create_bucket(**args)
        done.append(f"created bucket {bucket}" + (" with Object Lock" if object_lock else ""))
    except ClientError as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise StoreError(f"cannot create bucket {bucket}: {error_code(exc)}") from exc
        if error_code(exc) == "BucketAlreadyExists":
            raise StoreError(f"bucket name {bucket} is taken by another account") from exc
        done.append(f"bucket {bucket} already exists")
        if object_lock and not _lock_enabled(client, bucket):
            raise StoreError(f"bucket {bucket} exists without Object Lock; it cannot be added "
                             "to an existing bucket on most servers: use a new bucket") from exc
    status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        client.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration={"Status": "Enabled"})
        done.append("enabled versioning")
    return done


def presigned_url(store: S3Store, key: str, expires: int = 3600) -> str:
    """A URL that GETs `key` (a key inside the store) for `expires` seconds without credentials."""
    url: str = store.client.generate_presigned_url(
        "get_object", Params={"Bucket": store.bucket, "Key": store.prefix + key},
        ExpiresIn=expires)
    return url


def _lock_enabled(client: Any, bucket: str) -> bool:
    try:
        conf = client.get_object_lock_configuration(Bucket=bucket)
    except ClientError:
        return False
    return conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"


def _b64(data: bytes, algo: Callable[..., Any]) -> str:
    return base64.b64encode(algo(data).digest()).decode("ascii")


class _Probe:
    """Scratch puts under `<prefix>_markwatch-check/<run>/`, removed afterwards where allowed."""

    def __init__(self, store: S3Store) -> None:
        self.store = store
        self.client = store.client
        self.base = f"{store.prefix}{CHECK}{uuid.uuid4().hex[:12]}/"

    def put(self, name: str, data: bytes, *, sha: bytes | None = None, md5: bytes | None = None,
            **extra: Any) -> dict[str, Any]:
        resp: dict[str, Any] = self.client.put_object(
            Bucket=self.store.bucket, Key=self.base + name, Body=data,
            ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(sha or data, hashlib.sha256),
            ContentMD5=_b64(md5 or data, hashlib.md5), **extra)
        return resp

    def rejected(self, name: str, data: bytes, **kwargs: Any) -> tuple[bool, str]:
        """(refused?, what the server said) for a put meant to be refused."""
        try:
            self.put(name, data, **kwargs)
        except ClientError as exc:
            return True, f"refused with {error_code(exc)}"
        return False, "accepted"

    def cleanup(self) -> CheckResult:
        kept = 0
        deleted = 0
        resp = self.client.list_object_versions(Bucket=self.store.bucket, Prefix=self.base)
        entries = [*resp.get("Versions", []), *resp.get("DeleteMarkers", [])]
        if not entries:  # unversioned servers may not list versions
            entries = self.client.list_objects_v2(Bucket=self.store.bucket,
                                                  Prefix=self.base).get("Contents", [])
        for item in entries:
            args = {"Bucket": self.store.bucket, "Key": item["Key"]}
            if item.get("VersionId") and item["VersionId"] != "null":
                args["VersionId"] = item["VersionId"]
            try:
                self.client.delete_object(**args)
                deleted += 1
            except ClientError:
                kept += 1
        if kept:
            return CheckResult("cleanup", None, f"{kept} scratch object version(s) under "
                               f"{self.base} are retained (Object Lock default retention)",
                               "They expire with the bucket's retention period.")
        return CheckResult("cleanup", True, f"removed {deleted} scratch version(s)")


def check_target(store: S3Store) -> list[CheckResult]:
    """Probe what the store's server and bucket support; one result per capability."""
    try:
        versioned = store.is_versioned()
    except StoreError as exc:
        return [CheckResult("bucket", False, str(exc), "Nothing else can be checked.")]
    probe = _Probe(store)
    results = [CheckResult("bucket", True, f"{store.target} reachable")]
    results.append(_versioning(versioned))
    results.append(_object_lock(store))
    try:
        results.extend(_checksums(probe))
        results.append(_conditional(probe, versioned))
        results.append(_presigned(probe))
    except ClientError as exc:
        results.append(CheckResult("probe", None, f"scratch write failed: {error_code(exc)}",
                                   "The credentials may lack s3:PutObject on this bucket."))
    finally:
        try:
            results.append(probe.cleanup())
        except ClientError as exc:
            results.append(CheckResult("cleanup", None, f"could not list scratch objects: "
                                       f"{error_code(exc)}"))
    results.append(_verification_mode(store, results))
    return results


def _versioning(versioned: bool) -> CheckResult:
    if versioned:
        return CheckResult("versioning", True, "enabled")
    return CheckResult("versioning", False, "off",
                       "Without versioning a write by anyone with access replaces evidence "
                       "without trace. Enable it (markwatch store init).")


def _object_lock(store: S3Store) -> CheckResult:
    try:
        conf = store.client.get_object_lock_configuration(Bucket=store.bucket)
    except ClientError as exc:
        detail = f"not enabled ({error_code(exc)})"
        warning = ("Without Object Lock, anyone with delete permission can destroy evidence. "
                   "Object Lock can only be chosen when a bucket is created: make a new one "
                   "with `markwatch store init --object-lock`.")
        if store.object_lock:
            warning = ("The store is configured to lock every object but the bucket has no "
                       "Object Lock: puts will fail. " + warning)
        return CheckResult("object lock", False, detail, warning)
    lock = conf.get("ObjectLockConfiguration", {})
    rule = lock.get("Rule", {}).get("DefaultRetention")
    detail = f"enabled, default retention {rule}" if rule else "enabled, no default retention"
    if lock.get("ObjectLockEnabled") != "Enabled":
        return CheckResult("object lock", False, detail, "Object Lock is not enabled.")
    if not store.object_lock and not rule:
        return CheckResult("object lock", True, detail + "; store sets no retention",
                           "Objects are lockable but none will be locked: set lock_mode and "
                           "lock_days on the store URI.")
    return CheckResult("object lock", True, detail)


def _checksums(probe: _Probe) -> Iterable[CheckResult]:
    data = b"markwatch checksum probe\n"
    put = probe.put("checksum", data)
    args = {"Bucket": probe.store.bucket, "Key": probe.base + "checksum",
            "ChecksumMode": "ENABLED"}
    if put.get("VersionId"):
        args["VersionId"] = put["VersionId"]
    head = probe.client.head_object(**args)
    echoed = head.get("ChecksumSHA256")
    if echoed == _b64(data, hashlib.sha256):
        yield CheckResult("checksum storage", True, "stores and returns x-amz-checksum-sha256")
    else:
        yield CheckResult("checksum storage", False,
                          f"HeadObject returned {'no' if not echoed else 'a different'} SHA-256",
                          "The server does not keep SHA-256 checksums; markwatch confirms each "
                          "upload by reading it back (one extra download per new object), "
                          "or by its MD5 where the server refuses wrong Content-MD5s.")
    refused, said = probe.rejected("bad-sha", data, sha=b"other bytes")
    yield CheckResult(
        "checksum verification", refused, f"a wrong x-amz-checksum-sha256 was {said}",
        None if refused else "The server accepts a wrong SHA-256: it does not verify "
        "checksums. Keep read_back on (the default off AWS); never trust its echo.")
    refused, said = probe.rejected("bad-md5", data, md5=b"other bytes")
    yield CheckResult(
        "content-md5 verification", refused, f"a wrong Content-MD5 was {said}",
        None if refused else "The server accepts a wrong Content-MD5: bytes damaged on the "
        "way in are stored as if good; markwatch's read-back is the only check.")


def _conditional(probe: _Probe, versioned: bool) -> CheckResult:
    data = b"markwatch conditional-write probe\n"
    probe.put("conditional", data, IfNoneMatch="*")
    refused, said = probe.rejected("conditional", data, IfNoneMatch="*")
    where = "this versioned bucket" if versioned else "this bucket"
    if refused:
        return CheckResult("conditional writes", True,
                           f"second put with If-None-Match: * {said} in {where}")
    return CheckResult("conditional writes", False,
                       f"second put with If-None-Match: * was accepted in {where}",
                       "The server does not refuse overwrites by itself. markwatch checks "
                       "before and after each put (HEAD, version listing) and withdraws a "
                       "second version; two writers racing can still briefly make one.")


def _presigned(probe: _Probe) -> CheckResult:
    data = b"markwatch presigned-url probe\n"
    probe.put("presigned", data)
    key = probe.base[len(probe.store.prefix):] + "presigned"
    url = presigned_url(probe.store, key, expires=300)
    if not url.startswith(("http://", "https://")):
        return CheckResult("presigned urls", False, "not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - checked above
            body = resp.read()
    except OSError as exc:
        return CheckResult("presigned urls", False, f"GET failed: {type(exc).__name__}",
                           "Evidence links for third parties will not work on this server.")
    ok = body == data
    return CheckResult("presigned urls", ok, "GET through a presigned URL "
                       + ("returned the object" if ok else "returned other bytes"),
                       None if ok else "Evidence links for third parties will not work.")


def _verification_mode(store: S3Store, results: list[CheckResult]) -> CheckResult:
    verifies = {r.name: r.ok for r in results}
    trusted = bool(verifies.get("checksum storage")) and bool(
        verifies.get("checksum verification"))
    mode = "read-back" if store.read_back else "checksum echo"
    if verifies.get("content-md5 verification") and not store.read_back_forced:
        return CheckResult("upload verification", True, "Content-MD5 refused when wrong, ETag "
                           f"compared with the MD5 sent (single-part puts; else {mode})")
    if store.read_back or trusted:
        advice = None if store.read_back and not trusted else (
            "The server stores and verifies SHA-256: read_back=false would save a download "
            "per upload." if store.read_back else None)
        return CheckResult("upload verification", True, f"{mode}", advice)
    return CheckResult("upload verification", False, f"{mode}, but the server does not verify "
                       "or keep SHA-256", "Set read_back=true on the store URI.")


def format_results(results: Iterable[CheckResult]) -> str:
    """The results as lines for a terminal."""
    return "\n".join(str(r) for r in results)
