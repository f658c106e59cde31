"""What an S3 bucket enforces on writes, probed once per `S3Store` and process.

`S3Store` drops requests from its write protocol only where the server has just shown that it
enforces what the dropped request checked (see docs/storage.md, "Fewer requests per object"):

* **conditional writes** (only asked of an unversioned bucket: Ceph ignores `IfNoneMatch` in
  versioned and Object Lock buckets): a fixed scratch object is put with `IfNoneMatch='*'`
  twice; the second put must be refused with 412. Then the HEAD before a single-part put is
  skipped: an existing key makes the put fail with 412, and the 412 path does the HEAD and the
  same-bytes / conflict checks.
* **Content-MD5 verification**: a scratch put with a wrong `Content-MD5` must be refused
  (`BadDigest`/`InvalidDigest`); one that is accepted is deleted again (by its VersionId).
  Then the server stored exactly the bytes whose MD5 we sent when a single-part put answers
  with that MD5 as its ETag, and the read-back GET is skipped.

Both scratch keys live under `storage.layout.WRITE_PROBE` (never listed as documents); only the
conditional one, in unversioned buckets, is left in place. The
answers are kept by the store that asked, for its one bucket; any doubt (an error, an answer
that is not a clean refusal) counts as "not enforced", which keeps the full protocol.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from storage.layout import WRITE_PROBE
from storage.retrying import error_code

if TYPE_CHECKING:
    from storage.s3 import S3Store

log = logging.getLogger(__name__)

MD5_REFUSALS = frozenset({"BadDigest", "InvalidDigest"})
CONDITIONAL_REFUSALS = frozenset({"PreconditionFailed", "412"})
_BODY = b"markwatch write probe: scratch object, safe to delete\n"


@dataclass(frozen=True)
class WriteProbe:
    """What one bucket was seen to enforce."""

    conditional: bool
    """An unversioned bucket refused `IfNoneMatch='*'` over an existing key."""
    md5_verified: bool
    """The server refused a put whose `Content-MD5` did not match its body."""


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _put(store: S3Store, name: str, *, md5: str, passthrough: frozenset[str],
         **extra: Any) -> dict[str, Any]:
    resp: dict[str, Any] = store._call(
        "PutObject", store.client.put_object, Bucket=store.bucket,
        Key=store.prefix + WRITE_PROBE + name, Body=_BODY, ContentMD5=md5,
        ContentType="text/plain", passthrough=passthrough, **extra)
    return resp


def probe_md5(store: S3Store) -> bool:
    """Whether the server refuses a body whose Content-MD5 is wrong.

    Put with `IfNoneMatch='*'` and, if accepted, deleted again by its VersionId: a server that
    does not verify MD5s never piles up probe versions in a versioned bucket (at most one, if
    Object Lock's default retention keeps it; the next probe's 412 then reads as "not
    verified", which keeps the read-back).
    """
    wrong = _b64(hashlib.md5(b"not the body", usedforsecurity=False).digest())
    passthrough = MD5_REFUSALS | CONDITIONAL_REFUSALS | {"NotImplemented", "AccessDenied", "403"}
    try:
        resp = _put(store, "md5", md5=wrong, passthrough=passthrough, IfNoneMatch="*")
    except ClientError as exc:
        if error_code(exc) in MD5_REFUSALS:
            return True
        if error_code(exc) not in CONDITIONAL_REFUSALS:
            log.warning("could not probe Content-MD5 checking on %s (%s); reading uploads "
                        "back", store.target, error_code(exc))
        return False
    args: dict[str, Any] = {"Bucket": store.bucket, "Key": store.prefix + WRITE_PROBE + "md5"}
    if resp.get("VersionId") not in (None, "null"):
        args["VersionId"] = resp["VersionId"]
    try:
        store._call("DeleteObject", store.client.delete_object, **args,
                    passthrough=frozenset({"AccessDenied", "403"}))
    except ClientError as exc:
        log.info("probe object %s kept (%s)", args["Key"], error_code(exc))
    return False


def probe_conditional(store: S3Store) -> bool:
    """Whether an existing key refuses a put with `IfNoneMatch='*'` (ask unversioned only)."""
    md5 = _b64(hashlib.md5(_BODY, usedforsecurity=False).digest())
    passthrough = CONDITIONAL_REFUSALS | {"NotImplemented", "AccessDenied", "403"}
    for attempt in (1, 2):
        try:
            _put(store, "conditional", md5=md5, passthrough=passthrough, IfNoneMatch="*")
        except ClientError as exc:
            code = error_code(exc)
            if code in CONDITIONAL_REFUSALS:
                return True  # the key existed (put by us just now, or by an earlier process)
            log.warning("could not probe conditional writes on %s (%s); checking each key "
                        "first", store.target, code)
            return False
        if attempt == 2:
            return False  # the second put over our own object was accepted
    return False


def probe(store: S3Store) -> WriteProbe:
    """Probe the store's bucket (two or three small puts of scratch objects).

    A store that cannot be reached raises as any request does (`StoreUnavailable`, ...), and
    nothing is cached: the next write probes again.
    """
    conditional = not store.is_versioned() and probe_conditional(store)
    result = WriteProbe(conditional, probe_md5(store))
    log.info("%s: conditional writes %s, Content-MD5 %s", store.target,
             "enforced" if conditional else "not relied on",
             "verified" if result.md5_verified else "not verified")
    return result
