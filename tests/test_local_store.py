"""The embedded local store: content addressing, write-once documents, no path escapes."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from crawler.exceptions import ArtifactConflict
from storage.layout import blob_key
from storage.local import LocalStore
from storage.uri import default_catalog_uri, local_path, open_store, sqlite_path


def test_blob_is_stored_under_its_hash_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = store.put_blob(b"evidence", "text/plain")
    again = store.put_blob(b"evidence", "text/plain")
    assert first.sha256 == hashlib.sha256(b"evidence").hexdigest()
    assert first.created and not again.created
    assert first.key == blob_key(first.sha256)
    assert (tmp_path / first.key).read_bytes() == b"evidence"
    assert not os.access(tmp_path / first.key, os.W_OK) or os.geteuid() == 0
    assert (tmp_path / first.key).stat().st_mode & 0o222 == 0  # read-only file
    assert b"".join(store.iter_blob(first.sha256)) == b"evidence"


def test_blob_from_a_file_streams(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    store = LocalStore(tmp_path / "store")
    obj = store.put_blob(src, "application/octet-stream")
    assert obj.size == src.stat().st_size
    assert obj.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.has_blob(obj.sha256)
    assert not list((tmp_path / "store" / "tmp").iterdir())  # no temporary file left


def test_document_is_write_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_document("captures/a.json", b"{}", "application/json")
    assert not store.put_document("captures/a.json", b"{}", "application/json").created
    with pytest.raises(ArtifactConflict):
        store.put_document("captures/a.json", b"{ }", "application/json")
    assert store.read_document("captures/a.json") == b"{}"
    assert list(store.list_documents("captures/")) == ["captures/a.json"]


def test_concurrent_writers_never_overwrite(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    errors: list[Exception] = []

    def put(data: bytes) -> None:
        try:
            store.put_document("runs/x.json", data, "application/json")
        except ArtifactConflict as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(bytes([65 + i]),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 7  # exactly one writer won; the others were refused
    assert len(store.read_document("runs/x.json")) == 1


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", "a\\b", ""])
def test_keys_cannot_escape(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(ValueError):
        store.put_document(key, b"x", "text/plain")


def test_missing_objects_raise_key_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(KeyError):
        store.read_document("captures/none.json")
    with pytest.raises(KeyError):
        store.open_blob("0" * 64)


def test_uris(tmp_path: Path) -> None:
    assert local_path("file://./markwatch-data") == Path("markwatch-data")
    assert local_path(f"file://{tmp_path}") == tmp_path
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    assert sqlite_path(default_catalog_uri(f"file://{tmp_path}")) == tmp_path / "catalog.db"
    assert sqlite_path("sqlite:///./x/catalog.db") == Path("x/catalog.db")
