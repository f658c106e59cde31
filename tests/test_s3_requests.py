"""Requests per object of S3Store's write protocol, counted on real moto and Ceph RGW.

Counted with botocore's `before-send` event (one per HTTP request, retries included), so a
request that is dropped is really not sent. Every case also checks that the write-once and
integrity guarantees hold as before: conflicts refused, identical objects a no-op, one version
per key, damaged uploads never kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from crawler.exceptions import ArtifactConflict, IntegrityError
from storage.layout import WRITE_PROBE, blob_key
from storage.retrying import RetryPolicy
from storage.s3 import S3Store

if TYPE_CHECKING:
    from tests.servers import FaultProxy, S3Server

pytestmark = pytest.mark.s3


class Requests:
    """The S3 operations a client sent, in order."""

    def __init__(self, client: Any) -> None:
        self.sent: list[str] = []
        client.meta.events.register("before-send.s3", self._seen)

    def _seen(self, event_name: str, **_: Any) -> None:
        self.sent.append(event_name.rsplit(".", 1)[-1])

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


StoreFactory = Callable[..., tuple[S3Store, Requests]]


@pytest.fixture
def make_store(s3_server: S3Server, s3_proxy: FaultProxy) -> Iterator[StoreFactory]:
    stores: list[S3Store] = []

    def make(bucket: str | None = None, **kwargs: Any) -> tuple[S3Store, Requests]:
        client = s3_server.client(s3_proxy.url, read_timeout=10, connect_timeout=2)
        policy = RetryPolicy(attempts=5, initial=0.02, maximum=0.1, deadline=20)
        store = S3Store(bucket or s3_server.new_bucket(), "evidence", client=client,
                        retry=policy, **kwargs)
        stores.append(store)
        return store, Requests(client)

    yield make
    for store in stores:
        store.close()


def data(n: int, size: int = 32 * 1024) -> bytes:
    seed = hashlib.sha256(b"requests-%d" % n).digest()
    return (seed * (size // len(seed) + 1))[:size]


def versions(store: S3Store, key: str) -> list[dict[str, Any]]:
    full = store.prefix + key
    resp = store.client.list_object_versions(Bucket=store.bucket, Prefix=full)
    return [v for v in resp.get("Versions", []) if v["Key"] == full]


def test_plain_bucket_requests_per_object(s3_server: S3Server,
                                          make_store: StoreFactory) -> None:
    store, sent = make_store()
    probe = store.write_probe()
    assert probe.conditional  # both servers refuse IfNoneMatch='*' in a plain bucket
    assert probe.md5_verified is (s3_server.name == "ceph")  # moto accepts a wrong MD5
    sent.take()
    new = store.put_blob(data(1), "image/png")
    # Was HEAD + PUT + GET on both servers.
    if s3_server.name == "ceph":
        assert sent.take() == ["PutObject"] and new.checked == "content-md5"
    else:
        assert sent.take() == ["PutObject", "GetObject"] and new.checked == "read-back"
    assert new.created and store.verify(new.key).sha256 == new.sha256
    sent.take()
    again = store.put_blob(data(1), "image/png")
    assert sent.take() == [] and not again.created and again.checked == "known"
    assert (again.key, again.sha256, again.etag) == (new.key, new.sha256, new.etag)
    assert store.has_blob(new.sha256) and sent.take() == []
    # Documents: no HEAD first either; an existing one costs the refused PUT and a HEAD.
    doc = store.put_document("captures/r.json", b'{"a": 1}', "application/json")
    assert doc.created and sent.take()[0] == "PutObject"
    same = store.put_document("captures/r.json", b'{"a": 1}', "application/json")
    assert not same.created and same.checked == "existing"
    assert sent.take() == ["PutObject", "HeadObject"]
    with pytest.raises(ArtifactConflict):
        store.put_document("captures/r.json", b'{"a": 2}', "application/json")
    assert sent.take() == ["PutObject", "HeadObject"]
    assert store.read_document("captures/r.json") == b'{"a": 1}'
    # Probed once per store: a second store on the same bucket probes for itself.
    other, other_sent = make_store(store.bucket)
    assert not other.put_blob(data(1), "image/png").created
    assert other_sent.take().count("HeadObject") == 1


def test_existing_objects_from_elsewhere_without_head_first(make_store: StoreFactory) -> None:
    store, sent = make_store()
    writer, _ = make_store(store.bucket)
    first = writer.put_blob(data(2), "image/png")
    store.write_probe()
    sent.take()
    found = store.put_blob(data(2), "image/png")  # another process stored it: a no-op
    assert not found.created and found.checked == "existing" and found.etag == first.etag
    assert sent.take() == ["PutObject", "HeadObject"]
    # A blob key holding other bytes (damage) is refused, never overwritten.
    sha = hashlib.sha256(data(3)).hexdigest()
    store.client.put_object(Bucket=store.bucket, Key=store.prefix + blob_key(sha),
                            Body=data(3)[:-1] + b"!")
    with pytest.raises(IntegrityError, match="already holds other bytes"):
        store.put_blob(data(3), "image/png")
    with pytest.raises(IntegrityError):
        store.verify(blob_key(sha))


def test_versioned_bucket_keeps_head_and_one_version(s3_server: S3Server,
                                                     make_store: StoreFactory) -> None:
    store, sent = make_store(s3_server.new_bucket(versioned=True))
    probe = store.write_probe()
    assert not probe.conditional  # never relied on where versioning is on (Ceph ignores it)
    assert not store.client.list_objects_v2(
        Bucket=store.bucket, Prefix=store.prefix + WRITE_PROBE + "conditional").get("Contents")
    sent.take()
    new = store.put_document("captures/v.json", b"one", "application/json")
    expected = ["HeadObject", "ListObjectVersions", "PutObject", "GetObject",
                "ListObjectVersions"]
    if s3_server.name == "ceph":
        expected.remove("GetObject")  # Ceph refused a wrong MD5 and echoed ours as the ETag
    assert sent.take() == expected
    assert not store.put_document("captures/v.json", b"one", "application/json").created
    with pytest.raises(ArtifactConflict):
        store.put_document("captures/v.json", b"two", "application/json")
    assert [v["VersionId"] for v in versions(store, "captures/v.json")] == [new.version_id]
    # The Content-MD5 probe leaves no version behind, whichever way the server answered.
    again, _ = make_store(store.bucket)
    assert again.write_probe() == probe
    assert versions(store, WRITE_PROBE + "md5") == []


def test_probe_not_trusted_across_a_bucket_change(s3_server: S3Server,
                                                  make_store: StoreFactory) -> None:
    store, sent = make_store()
    assert store.write_probe().conditional
    before = store.put_document("captures/c.json", b"one", "application/json")
    assert "HeadObject" not in sent.take()
    # Versioning switched on behind the store's back: Ceph now ignores IfNoneMatch.
    store.client.put_bucket_versioning(Bucket=store.bucket,
                                       VersioningConfiguration={"Status": "Enabled"})
    same = store.put_document("captures/c.json", b"one", "application/json")
    assert not same.created
    with pytest.raises(ArtifactConflict):
        store.put_document("captures/c.json", b"two", "application/json")
    assert len(versions(store, "captures/c.json")) == 1  # never a second version
    assert store.read_document("captures/c.json") == b"one"
    # The first new key written after the change shows a VersionId: the store stops relying
    # on the probe and checks every key first from then on.
    store.put_document("captures/d.json", b"d", "application/json")
    assert store.is_versioned()
    sent.take()
    store.put_document("captures/e.json", b"e", "application/json")
    assert sent.take()[:2] == ["HeadObject", "ListObjectVersions"]
    for key in ("captures/d.json", "captures/e.json"):
        assert len(versions(store, key)) == 1
    assert before.created
    # A store opened on another bucket probes that bucket, not this one's answer.
    fresh, fresh_sent = make_store(s3_server.new_bucket(versioned=True))
    fresh.put_document("captures/c.json", b"one", "application/json")
    assert fresh_sent.take()[0] == "GetBucketVersioning" and not fresh.write_probe().conditional


def test_damaged_upload_never_kept_without_head_or_read_back(
        s3_server: S3Server, make_store: StoreFactory, s3_proxy: FaultProxy) -> None:
    """A byte flipped on the way in: Ceph refuses it by its MD5 (no read-back needed), moto
    accepts it and the read-back it keeps catches it."""
    store, sent = make_store()
    store.write_probe()
    sent.take()
    s3_proxy.flip_byte(1)
    stored = store.put_blob(data(4), "application/octet-stream")
    assert s3_proxy.applied["flip"] == 1
    ops = sent.take()
    if s3_server.name == "ceph":
        assert ops == ["PutObject", "PutObject"]  # BadDigest, then the retry
    else:
        assert ops[:2] == ["PutObject", "GetObject"] and "DeleteObject" in ops
    assert store.verify(stored.key).sha256 == hashlib.sha256(data(4)).hexdigest()
    other = data(5)
    s3_proxy.flip_byte(None, window=60)
    with pytest.raises(IntegrityError):
        store.put_blob(other, "application/octet-stream")
    s3_proxy.clear()
    assert not store.has_blob(hashlib.sha256(other).hexdigest())


def test_read_back_asked_for_is_kept(s3_server: S3Server, make_store: StoreFactory) -> None:
    store, sent = make_store(read_back=True, known_blobs=0)
    store.write_probe()
    sent.take()
    first = store.put_blob(data(6), "image/png")
    assert sent.take() == ["PutObject", "GetObject"] and first.checked == "read-back"
    again = store.put_blob(data(6), "image/png")  # nothing remembered: asked again
    assert not again.created and sent.take() == ["PutObject", "HeadObject"]


def test_known_blobs_are_bounded(make_store: StoreFactory) -> None:
    store, sent = make_store(known_blobs=2)
    for n in (7, 8, 9):
        store.put_blob(data(n, 1024), "text/plain")
    sent.take()
    assert store.put_blob(data(9, 1024), "text/plain").checked == "known"
    assert store.put_blob(data(8, 1024), "text/plain").checked == "known"
    assert sent.take() == []
    oldest = store.put_blob(data(7, 1024), "text/plain")  # forgotten: asked of the server
    assert oldest.checked == "existing" and sent.take() == ["PutObject", "HeadObject"]
