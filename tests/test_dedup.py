"""Deduplicated WARCs (crawler/recording/dedup.py, crawler/evidence/warc_refs.py), offline.

The same recorded exchanges are written with and without deduplication; restoring the
deduplicated WARC from the store gives every record's block exactly as the full writer wrote it.
The end-to-end tests (a real crawl, WACZ, pywb, verify) are in tests/test_fidelity.py.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.config import CaptureLimits
from crawler.evidence.warc_refs import (
    ReferenceError_,
    check_references,
    materialise,
    references,
)
from crawler.pipelines.payloads import StoredDigests
from crawler.recording import dedup
from crawler.recording.exchanges import HashingSpool, RecordedExchange
from crawler.recording.proxy import CaptureSession
from crawler.recording.warc_exact import CaptureResource, write_capture_warc
from storage.layout import blob_key
from storage.local import LocalStore
from tests.helpers import overwrite_stored

AT = dt.datetime(2026, 12, 4, 23, 0, 0, tzinfo=dt.UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
SHOT = b"\x89PNG\r\n\x1a\nscreenshot" * 100


def _spool(head: bytes, payload: bytes = b"") -> HashingSpool:
    spool = HashingSpool()
    spool.write_head(head)
    if payload:
        spool.write_payload(payload)
    return spool


def _session(page: str) -> CaptureSession:
    session = CaptureSession("t", CaptureLimits())
    html = b"<html><body><h1>bag</h1><img src=/shared.png></body></html>" * 20

    def exchange(url: str, head: bytes, body: bytes) -> RecordedExchange:
        return RecordedExchange(url=url, method="GET", started_at=AT,
                                request=_spool(b"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
                                response=_spool(head, body), status=200,
                                response_headers=[], remote_ip="192.0.2.7", complete=True)

    session.exchanges = [
        exchange(page, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
                 % len(html), html),
        exchange("https://shop.example/shared.png", b"HTTP/1.1 200 OK\r\nContent-Type: image/png"
                 b"\r\nContent-Length: %d\r\n\r\n" % len(PNG), PNG),
        exchange("https://shop.example/tiny.js", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
                 b"{}"),
    ]
    return session


def _write(capture_id: str, page: str, index: dedup.DedupIndex | None,
           payloads: list[tuple[str, bytes]] | None) -> bytes:
    out = io.BytesIO()
    session = _session(page)
    write_capture_warc(out, session, {"software": "test"}, capture_id=capture_id, at=AT,
                       page_url=page,
                       resources=[CaptureResource("screenshot.png", "image/png", SHOT,
                                                  stored_apart=index is not None)],
                       dedup_index=index, payloads=payloads)
    session.discard()
    return out.getvalue()


def _blocks(data: bytes) -> list[tuple[str, str, bytes]]:
    return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.raw_stream.read())
            for r in ArchiveIterator(io.BytesIO(data), no_record_parse=True)]


@pytest.fixture
def deduplicated(tmp_path: Path) -> tuple[LocalStore, Path, Path, bytes]:
    """Two captures sharing a photo, deduplicated into a local store; (store, A, B, full B)."""
    store = LocalStore(tmp_path / "store")
    index = dedup.DedupIndex()
    paths = []
    for cid, page in (("A", "https://shop.example/item/1"), ("B", "https://shop.example/item/2")):
        payloads: list[tuple[str, bytes]] = []
        data = _write(cid, page, index, payloads)
        for _, body in payloads:
            store.put_blob(body, "application/octet-stream")
        store.put_blob(SHOT, "image/png")
        path = tmp_path / f"{cid}.warc.gz"
        path.write_bytes(data)
        paths.append(path)
    return store, paths[0], paths[1], _write("B", "https://shop.example/item/2", None, None)


def test_revisits_leave_payloads_out_and_restore_exactly(
        deduplicated: tuple[LocalStore, Path, Path, bytes], tmp_path: Path) -> None:
    store, _, second, full = deduplicated
    recs = _blocks(second.read_bytes())
    kinds = {uri: kind for kind, uri, _ in recs if kind != "request"}
    assert kinds["https://shop.example/shared.png"] == "revisit"
    assert kinds["urn:markwatch:B:screenshot.png"] == "revisit"
    assert kinds["https://shop.example/item/2"] == "response"  # the page's document stays
    assert kinds["https://shop.example/tiny.js"] == "response"  # too small to be worth it
    assert second.stat().st_size < len(full)
    assert PNG not in b"".join(block for _, _, block in recs)  # not stored again
    restored = io.BytesIO()
    assert materialise(store, second, restored, "B") == 2
    assert _blocks(restored.getvalue()) == _blocks(full)
    with second.open("rb") as fh:
        refs = {r.uri: r for r in references(fh)}
    assert refs["https://shop.example/shared.png"].original_capture == "A"


def test_a_warc_without_revisits_is_copied_byte_for_byte(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    full = tmp_path / "full.warc.gz"
    full.write_bytes(_write("C", "https://shop.example/item/3", None, None))
    out = io.BytesIO()
    assert materialise(store, full, out, "C") == 0
    assert out.getvalue() == full.read_bytes()


def test_an_altered_original_fails_naming_both_captures(
        deduplicated: tuple[LocalStore, Path, Path, bytes], tmp_path: Path) -> None:
    import hashlib

    store, _, second, _ = deduplicated
    warc = store.put_blob(second, "application/warc")
    assert check_references(store, "B", warc.sha256) == []
    sha = hashlib.sha256(PNG).hexdigest()
    overwrite_stored(store, blob_key(sha), b"another photo")
    problems = check_references(store, "B", warc.sha256)
    assert len(problems) == 1 and "altered" in problems[0]
    assert sha in problems[0] and "capture A" in problems[0] and "capture B" in problems[0]
    with pytest.raises(ReferenceError_, match="capture A"):
        materialise(store, second, io.BytesIO(), "B")


def test_the_indexes_are_bounded() -> None:
    index = dedup.DedupIndex(max_entries=3)
    first = dedup.Original("u0", "d", "r0", "A")
    assert index.first("0" * 64, first) is first
    assert index.first("0" * 64, dedup.Original("u0", "d", "r1", "B")) is first
    for n in range(1, 10):
        index.first(str(n) * 64, dedup.Original(f"u{n}", "d", f"r{n}", "A"))
    assert len(index) == 3
    again = dedup.Original("u0", "d", "r9", "C")
    assert index.first("0" * 64, again) is again  # fell out: refers to its own record
    known = StoredDigests(max_entries=2)
    for sha in ("a", "b", "c"):
        known.add(sha)
    assert len(known) == 2 and "a" not in known and "c" in known
