"""The byte-exact WARC writer (`crawler.recording.warc_exact`) against a golden file.

A fixed capture (record ids derive from the capture id, dates from fixed moments) must give
exactly the WARC it gave when the golden file was made: any change to the bytes markwatch
writes as evidence shows up here first. The golden file is the decompressed WARC
(`capture.warc`), so a different zlib build does not change it; the gzip framing is checked
apart: one gzip member per record, already-compressed bodies stored (level 0).

To remake it after an intended format change: `MARKWATCH_REGOLD=1 pytest tests/test_warc_golden.py`
and say why in the commit.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import zlib
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from crawler.config import CaptureLimits
from crawler.recording.exchanges import HashingSpool, RecordedExchange, TlsSession
from crawler.recording.proxy import CaptureSession
from crawler.recording.warc_exact import CaptureResource, write_capture_warc

GOLDEN = Path(__file__).parent / "data" / "golden" / "capture.warc"
CAPTURE_ID = "01JDGOLDEN0000000000000000"
AT = dt.datetime(2026, 11, 28, 9, 30, 0, 123456, tzinfo=dt.UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _spool(head: bytes, payload: bytes = b"") -> HashingSpool:
    spool = HashingSpool()
    spool.write_head(head)
    if payload:
        spool.write_payload(payload)
    return spool


def _session() -> CaptureSession:
    session = CaptureSession("golden", CaptureLimits())
    html = gzip.compress(b"<html><body><h1>Lumara bag</h1><img src=/a.png></body></html>",
                         mtime=0)
    tls = TlsSession(host="shop.example", port=443, chain_der=[b"leaf-der", b"ca-der"],
                     verified=True, error=None, version="TLSv1.3",
                     cipher="TLS_AES_128_GCM_SHA256", remote_ip="192.0.2.7",
                     at=AT + dt.timedelta(milliseconds=5))
    session.tls[tls.key] = tls
    session.exchanges = [
        RecordedExchange(
            url="https://shop.example/item/1", method="GET",
            started_at=AT + dt.timedelta(milliseconds=10),
            request=_spool(b"GET /item/1 HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
            response=_spool(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(html),
                            html),
            status=200, response_headers=[("Content-Type", "text/html"),
                                          ("Content-Encoding", "gzip")],
            remote_ip="192.0.2.7", tls_key=tls.key, complete=True),
        RecordedExchange(
            url="https://shop.example/a.png", method="GET",
            started_at=AT + dt.timedelta(milliseconds=20),
            request=_spool(b"GET /a.png HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
            response=_spool(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
                            b"Content-Length: %d\r\n\r\n" % (len(PNG) + 10), PNG),
            status=200, response_headers=[("Content-Type", "image/png")],
            remote_ip="192.0.2.7", tls_key=tls.key, truncated="disconnect"),
        RecordedExchange(  # the site never answered
            url="https://shop.example/slow", method="POST",
            started_at=AT + dt.timedelta(milliseconds=30),
            request=_spool(b"POST /slow HTTP/1.1\r\nHost: shop.example\r\n"
                           b"Content-Length: 2\r\n\r\n", b"{}")),
    ]
    session.limits_hit = ["capture time (60 s)"]
    session.notes = ["https://shop.example/slow: no response"]
    session.recorded_bytes = 4321
    return session


def _write() -> bytes:
    out = io.BytesIO()
    session = _session()
    count = write_capture_warc(
        out, session, {"software": "markwatch/golden", "capture-id": CAPTURE_ID,
                       "watch": "Lumara / bag\nwith a second line"},
        capture_id=CAPTURE_ID, at=AT, page_url="https://shop.example/item/1",
        resources=[CaptureResource("dom.html", "text/html; charset=utf-8", b"<html></html>"),
                   CaptureResource("screenshot.png", "image/png", PNG),
                   CaptureResource("listing.json", "application/json", b'{"title":"bag"}',
                                   "metadata")],
        capture_metadata={"capture_id": CAPTURE_ID, "limits_hit_capture": []})
    session.discard()
    assert count == 11
    return out.getvalue()


def _members(data: bytes) -> list[bytes]:
    """The decompressed gzip members of `data`, in order."""
    members = []
    while data:
        d = zlib.decompressobj(31)
        members.append(d.decompress(data) + d.flush())
        data = d.unused_data
    return members


def test_the_byte_exact_writer_gives_the_golden_file() -> None:
    data = _write()
    warc = b"".join(_members(data))
    if os.environ.get("MARKWATCH_REGOLD"):
        GOLDEN.write_bytes(warc)
    assert warc == GOLDEN.read_bytes()
    assert data == _write()  # and the same capture always gives the same file


def test_one_gzip_member_per_record_and_packed_bodies_stored() -> None:
    data = _write()
    members = _members(data)
    records = list(ArchiveIterator(io.BytesIO(data)))
    assert len(members) == len(records) == 11
    assert [m.split(b"\r\n", 1)[0] for m in members] == [b"WARC/1.1"] * 11
    types = [r.rec_headers.get_header("WARC-Type") for r in records]
    assert types == ["warcinfo", "response", "request", "response", "request", "request",
                     "metadata", "resource", "resource", "metadata", "metadata"]
    # the PNG response and the screenshot resource are stored, not deflated again: their bytes
    # appear as they are in the compressed file
    assert data.count(PNG) == 2
