"""S3Store, its retry policy, SpoolingStore and check_target against real moto and Ceph RGW.

Every server test goes through the fault proxy, so the same store code meets throttling,
resets, slow answers, outages and bytes damaged on the way in.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from crawler.exceptions import (
    ArtifactConflict,
    ConfigError,
    IntegrityError,
    StoreError,
    StoreUnavailable,
)
from storage.layout import blob_key
from storage.retrying import Kind, RetryEvent, RetryPolicy, classify
from storage.s3 import ObjectLock, S3Store
from storage.s3_admin import check_target, format_results, presigned_url
from storage.upload_spool import SpooledObject, SpoolingStore

if TYPE_CHECKING:
    from tests.servers import FaultProxy, S3Server


MiB = 1024 * 1024


@pytest.fixture
def proxy(s3_proxy: FaultProxy) -> FaultProxy:
    return s3_proxy


@pytest.fixture
def retries() -> list[RetryEvent]:
    return []


StoreFactory = Callable[..., S3Store]


@pytest.fixture
def make_store(s3_server: S3Server, proxy: FaultProxy,
               retries: list[RetryEvent]) -> Iterator[StoreFactory]:
    stores: list[S3Store] = []

    def make(bucket: str | None = None, *, read_timeout: float = 10, direct: bool = False,
             **kwargs: Any) -> S3Store:
        client = s3_server.client(None if direct else proxy.url, read_timeout=read_timeout,
                                  connect_timeout=2)
        policy = RetryPolicy(attempts=5, initial=0.02, maximum=0.1, deadline=20,
                             on_retry=retries.append)
        store = S3Store(bucket or s3_server.new_bucket(), "evidence", client=client,
                        retry=policy, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def versions_of(store: S3Store, key: str) -> list[dict[str, Any]]:
    resp = store.client.list_object_versions(Bucket=store.bucket, Prefix=store.prefix + key)
    return [v for v in resp.get("Versions", []) if v["Key"] == store.prefix + key]


def payload(n: int, size: int = 64 * 1024) -> bytes:
    seed = hashlib.sha256(str(n).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


# -- retry policy and URIs (no server) ---------------------------------------------------


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": ""},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(("exc", "kind"), [
    (client_error("SlowDown", 503), Kind.TRANSIENT),
    (client_error("503", 503), Kind.TRANSIENT),
    (client_error("RequestTimeout", 400), Kind.TRANSIENT),
    (client_error("InternalError", 500), Kind.TRANSIENT),
    (client_error("BadDigest", 400), Kind.CORRUPTED),
    (client_error("InvalidAccessKeyId", 403), Kind.FATAL),
    (client_error("SignatureDoesNotMatch", 403), Kind.FATAL),
    (client_error("AccessDenied", 403), Kind.FATAL),
    (client_error("NoSuchBucket", 404), Kind.FATAL),
    (client_error("NoSuchKey", 404), Kind.OTHER),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), Kind.TRANSIENT),
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), Kind.TRANSIENT),
])
def test_classify(exc: BaseException, kind: Kind) -> None:
    assert classify(exc) is kind


def test_policy_retries_then_gives_up_as_unavailable() -> None:
    events: list[RetryEvent] = []
    policy = RetryPolicy(attempts=3, initial=0.01, sleep=lambda s: None, on_retry=events.append)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise client_error("SlowDown", 503)
        return "ok"

    assert policy.call("PutObject", flaky) == "ok"
    assert [e.reason for e in events] == ["SlowDown", "SlowDown"]
    with pytest.raises(StoreUnavailable, match="PutObject on here"):
        policy.call("PutObject", lambda: (_ for _ in ()).throw(client_error("503", 503)),
                    target="here")


def test_policy_fails_fast_on_fatal_errors() -> None:
    events: list[RetryEvent] = []
    policy = RetryPolicy(on_retry=events.append)

    def refused() -> None:
        raise client_error("InvalidAccessKeyId", 403)

    with pytest.raises(StoreError, match="AWS_ACCESS_KEY_ID") as info:
        policy.call("HeadObject", refused)
    assert not isinstance(info.value, StoreUnavailable) and events == []


def test_uri_round_trip_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECRETLOOKING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
    store = S3Store.from_uri("s3://bkt/some/prefix?endpoint_url=http://127.0.0.1:9&"
                             "addressing_style=path&lock_mode=governance&lock_days=7")
    assert store.bucket == "bkt" and store.prefix == "some/prefix/"
    assert store.object_lock == ObjectLock("GOVERNANCE", 7)
    assert store.read_back is True
    assert "secret" not in store.uri.lower() and "AKID" not in store.uri
    assert S3Store.from_uri(store.uri).uri == store.uri
    with pytest.raises(ConfigError):
        S3Store.from_uri("s3://bkt/p?aws_secret_access_key=x")
    with pytest.raises(ConfigError):
        S3Store.from_uri("s3://user:pw@bkt/p")


# -- against moto and Ceph ---------------------------------------------------------------


@pytest.mark.s3
def test_blobs_put_get_dedupe(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store()
    data = payload(1)
    first = store.put_blob(data, "image/png")
    assert first.created and first.key == blob_key(hashlib.sha256(data).hexdigest())
    assert first.etag
    file = tmp_path / "same.bin"
    file.write_bytes(data)
    again = store.put_blob(file, "image/png")
    assert not again.created and again.sha256 == first.sha256
    assert store.has_blob(first.sha256) and not store.has_blob("0" * 64)
    with store.open_blob(first.sha256) as fh:
        assert fh.read() == data
    assert b"".join(store.iter_blob(first.sha256)) == data
    with pytest.raises(KeyError):
        store.open_blob("0" * 64)


@pytest.mark.s3
def test_damaged_blob_already_on_the_server_is_never_trusted(make_store: StoreFactory) -> None:
    store = make_store()
    data = payload(11)
    sha = hashlib.sha256(data).hexdigest()
    store.client.put_object(Bucket=store.bucket, Key=store.prefix + blob_key(sha),
                            Body=data[:-1] + b"!")
    with store.open_blob(sha) as fh, pytest.raises(IntegrityError):
        fh.read()
    with pytest.raises(IntegrityError, match="already holds other bytes"):
        store.put_blob(data, "image/png")
    with pytest.raises(IntegrityError):
        store.verify(blob_key(sha))


@pytest.mark.s3
def test_documents_write_once(make_store: StoreFactory) -> None:
    store = make_store()
    first = store.put_document("captures/b.json", b'{"a": 1}', "application/json")
    store.put_document("captures/a.json", b"{}", "application/json")
    store.put_blob(b"not a document", "text/plain")
    assert first.created
    assert not store.put_document("captures/b.json", b'{"a": 1}', "application/json").created
    with pytest.raises(ArtifactConflict):
        store.put_document("captures/b.json", b'{"a": 2}', "application/json")
    assert store.read_document("captures/b.json") == b'{"a": 1}'
    assert list(store.list_documents("")) == ["captures/a.json", "captures/b.json"]
    assert list(store.list_documents("captures/b")) == ["captures/b.json"]
    with pytest.raises(KeyError):
        store.read_document("captures/none.json")
    with pytest.raises(ValueError):
        store.put_document("../escape.json", b"{}", "application/json")


@pytest.mark.s3
def test_versioned_bucket_never_gets_a_second_version(
        s3_server: S3Server, make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(s3_server.new_bucket(versioned=True))
    key = "captures/v.json"
    stored = store.put_document(key, b"one", "application/json")
    assert stored.version_id
    store.put_document(key, b"one", "application/json")
    with pytest.raises(ArtifactConflict):
        store.put_document(key, b"two", "application/json")
    # A concurrent writer lands between our checks and our put (Ceph then accepts the put
    # despite If-None-Match): markwatch must notice and withdraw its own version.
    real_head = store._head
    calls = {"n": 0}

    def blind_head(full: str, version_id: str | None = None) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_head(full, version_id)

    monkeypatch.setattr(store, "_head", blind_head)
    monkeypatch.setattr(store, "_refuse_hidden_versions", lambda key: None)
    with pytest.raises(ArtifactConflict):
        store.put_document(key, b"three", "application/json")
    calls["n"] = 0
    same = store.put_document(key, b"one", "application/json")
    assert not same.created and same.version_id == stored.version_id
    monkeypatch.undo()
    assert [v["VersionId"] for v in versions_of(store, key)] == [stored.version_id]
    assert store.read_document(key) == b"one"
    # A key whose versions hide behind a delete marker is not written again.
    store.client.delete_object(Bucket=store.bucket, Key=store.prefix + key)
    with pytest.raises(ArtifactConflict, match="hidden"):
        store.put_document(key, b"one", "application/json")


@pytest.mark.s3
def test_sha256_checksum_stored_where_supported(s3_server: S3Server,
                                                make_store: StoreFactory) -> None:
    store = make_store()
    data = payload(2)
    stored = store.put_blob(data, "image/png")
    head = store.client.head_object(Bucket=store.bucket, Key=store.prefix + stored.key,
                                    ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == stored.sha256
    echoed = head.get("ChecksumSHA256")
    if s3_server.name == "moto":
        assert echoed == base64.b64encode(hashlib.sha256(data).digest()).decode()
    else:
        assert echoed is None  # Ceph 16 neither stores nor verifies it (see docs/storage.md)


@pytest.mark.s3
def test_object_lock_on_every_object(s3_server: S3Server, make_store: StoreFactory) -> None:
    bucket = s3_server.new_bucket(object_lock=True)
    store = make_store(bucket, object_lock=ObjectLock("COMPLIANCE", 1),
                       multipart_threshold=5 * MiB)
    before = dt.datetime.now(dt.UTC)
    objects = [store.put_blob(payload(3), "image/png"),
               store.put_blob(payload(4, 6 * MiB), "application/octet-stream"),
               store.put_document("captures/locked.json", b"{}", "application/json")]
    for obj in objects:
        head = store.client.head_object(Bucket=bucket, Key=store.prefix + obj.key,
                                        VersionId=obj.version_id)
        assert head["ObjectLockMode"] == "COMPLIANCE", obj.key
        until = head["ObjectLockRetainUntilDate"]
        assert before + dt.timedelta(hours=23) < until < before + dt.timedelta(days=2)
        with pytest.raises(ClientError) as info:
            store.client.delete_object(Bucket=bucket, Key=store.prefix + obj.key,
                                       VersionId=obj.version_id)
        assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert store.read_document("captures/locked.json") == b"{}"


@pytest.mark.s3
def test_multipart_upload_of_large_file_verifies(s3_server: S3Server, make_store: StoreFactory,
                                                 proxy: FaultProxy, tmp_path: Path) -> None:
    store = make_store()
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        for i in range(9):
            fh.write(payload(100 + i, MiB))
        fh.write(b"tail")
    stored = store.put_blob(big, "application/octet-stream")
    assert stored.created and stored.size == 9 * MiB + 4
    assert sum(1 for m, path, _ in proxy.log if m == "PUT" and "partNumber=" in path) == 2
    assert store.verify(stored.key).sha256 == stored.sha256
    digest = hashlib.sha256()
    for chunk in store.iter_blob(stored.sha256):
        digest.update(chunk)
    assert digest.hexdigest() == stored.sha256
    assert not store.put_blob(big, "application/octet-stream").created


@pytest.mark.s3
@pytest.mark.parametrize("size", [64 * 1024, 9 * MiB])
def test_byte_flipped_in_transit_is_caught(s3_server: S3Server, make_store: StoreFactory,
                                           proxy: FaultProxy, size: int) -> None:
    """moto accepts the damaged body, Ceph refuses it (Content-MD5): never a wrong object."""
    store = make_store(s3_server.new_bucket(versioned=True))
    data = payload(5, size)
    proxy.flip_byte(1)
    stored = store.put_blob(data, "application/octet-stream")
    assert proxy.applied["flip"] == 1
    assert store.verify(stored.key).sha256 == hashlib.sha256(data).hexdigest()
    assert len(versions_of(store, stored.key)) == 1
    # Damaged on every try: IntegrityError, and nothing left that looks valid.
    other = payload(6, size)
    proxy.flip_byte(None, window=60)
    with pytest.raises(IntegrityError):
        store.put_blob(other, "application/octet-stream")
    proxy.clear()
    assert not store.has_blob(hashlib.sha256(other).hexdigest())
    assert versions_of(store, blob_key(hashlib.sha256(other).hexdigest())) == []


@pytest.mark.s3
def test_throttling_resets_and_slow_answers_are_retried(
        make_store: StoreFactory, proxy: FaultProxy, retries: list[RetryEvent]) -> None:
    store = make_store(read_timeout=1.0)
    store.write_probe()  # the faults below then meet the object's own requests
    proxy.slowdown(2)
    proxy.fail_503(1)
    first = store.put_blob(payload(7), "image/png")
    assert [e.reason for e in retries] == ["SlowDown", "SlowDown", "503"]
    assert {e.operation for e in retries} == {"PutObject"}  # no HEAD first (probed bucket)
    proxy.slowdown(1)
    assert not store.has_blob("0" * 64)
    assert retries[-1].reason == "503"  # a HEAD answer has no body to name it
    assert retries[-1].operation == "HeadObject"
    proxy.slowdown(1)
    assert list(store.list_documents("")) == []
    assert retries[-1].reason == "SlowDown" and retries[-1].operation == "ListObjectsV2"
    proxy.reset(2)
    second = store.put_document("captures/r.json", b"{}", "application/json")
    proxy.delay(1.5, 1)
    third = store.put_blob(payload(8), "image/png")
    assert len(retries) >= 8
    assert {e.operation for e in retries} >= {"HeadObject", "PutObject"}
    for obj in (first, second, third):
        assert store.verify(obj.key).sha256 == obj.sha256
    assert proxy.applied == {"slowdown": 4, "503": 1, "reset": 2, "delay": 1}


@pytest.mark.s3
def test_outage_spools_then_sync_uploads_everything_once(
        s3_server: S3Server, make_store: StoreFactory, proxy: FaultProxy,
        tmp_path: Path) -> None:
    store = make_store(s3_server.new_bucket(versioned=True))
    store.is_versioned()
    spool = SpoolingStore(store, tmp_path / "spool", retry_after=0)
    before = spool.put_blob(payload(9), "image/png")
    assert not isinstance(before, SpooledObject)
    proxy.down()
    with pytest.raises(StoreUnavailable):
        store.put_blob(payload(10), "image/png")
    blobs = [payload(10 + i) for i in range(3)]
    spooled = [spool.put_blob(b, "image/png") for b in blobs]
    docs = [spool.put_document(f"captures/{i}.json", b'{"i": %d}' % i, "application/json")
            for i in range(2)]
    assert all(isinstance(o, SpooledObject) for o in spooled + docs)
    assert len(spool.pending()) == 5
    assert spool.read_document("captures/1.json") == b'{"i": 1}'
    with spool.open_blob(spooled[0].sha256) as fh:
        assert fh.read() == blobs[0]
    assert spool.sync().unavailable
    proxy.up()
    report = spool.sync()
    assert report.ok and len(report.uploaded) == 5, report
    for obj in [before, *spooled, *docs]:
        assert len(versions_of(store, obj.key)) == 1, obj.key
        assert store.verify(obj.key).sha256 == obj.sha256
    assert spool.sync().ok and spool.pending() == []


@pytest.mark.s3
def test_fail_fast_on_missing_bucket_and_bad_credentials(
        s3_server: S3Server, make_store: StoreFactory, proxy: FaultProxy,
        retries: list[RetryEvent]) -> None:
    store = make_store("mw-no-such-bucket-here")
    with pytest.raises(StoreError, match="does not exist") as info:
        store.put_blob(b"x", "text/plain")
    assert not isinstance(info.value, StoreUnavailable) and retries == []
    if s3_server.name == "moto":
        pytest.skip("moto does not check signatures")
    bad = dataclasses.replace(s3_server, secret_key="wrong-secret")
    store = S3Store(s3_server.new_bucket(), client=bad.client(proxy.url),
                    retry=RetryPolicy(initial=0.01, on_retry=retries.append))
    began = time.monotonic()
    with pytest.raises(StoreError, match="signature") as info:
        store.put_blob(b"x", "text/plain")
    assert time.monotonic() - began < 2 and retries == []
    assert "wrong-secret" not in str(info.value)
    unknown = dataclasses.replace(s3_server, access_key="NOSUCHKEYID")
    with pytest.raises(StoreError, match="AWS_ACCESS_KEY_ID"):
        S3Store(store.bucket, client=unknown.client(proxy.url)).has_blob("0" * 64)


@pytest.mark.s3
def test_check_target(s3_server: S3Server, make_store: StoreFactory,
                      capsys: pytest.CaptureFixture[str]) -> None:
    store = make_store(s3_server.new_bucket(object_lock=True), direct=True)
    results = check_target(store)
    with capsys.disabled():
        print(f"\n--- check_target on {s3_server.name} (Object Lock bucket) ---")
        print(format_results(results))
    by_name = {r.name: r for r in results}
    assert by_name["versioning"].ok and by_name["object lock"].ok
    assert by_name["presigned urls"].ok
    assert by_name["checksum verification"].ok is False  # neither server verifies SHA-256
    assert by_name["checksum storage"].ok is (s3_server.name == "moto")
    assert by_name["content-md5 verification"].ok is (s3_server.name == "ceph")
    assert by_name["conditional writes"].ok is (s3_server.name == "moto")
    assert by_name["upload verification"].ok
    assert all(r.warning for r in results if r.ok is False)
    assert list(store.list_documents("")) == []  # scratch objects are not documents
    if os.environ.get("MARKWATCH_PRINT_PLAIN_CHECK"):
        plain = make_store(direct=True)
        with capsys.disabled():
            print(f"--- check_target on {s3_server.name} (plain bucket) ---")
            print(format_results(check_target(plain)))


@pytest.mark.s3
def test_presigned_url(make_store: StoreFactory) -> None:
    import urllib.request

    store = make_store(direct=True)
    stored = store.put_blob(b"share me", "text/plain")
    with urllib.request.urlopen(presigned_url(store, stored.key, 60), timeout=5) as resp:
        assert resp.read() == b"share me"
