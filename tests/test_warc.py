"""Recorded exchanges become WARC 1.1 records that `warcio check` accepts, with SHA-256 digests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import subprocess
import sys
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from crawler.evidence.warc_decoded import Exchange, write_warc

T0 = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


def _exchange(body: bytes, **kw: object) -> Exchange:
    base: dict[str, object] = dict(
        url="http://127.0.0.1:8000/item/1", method="GET", request_headers=[("Accept", "*/*")],
        status=200, status_text="OK",
        response_headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                          ("Content-Length", "9")],
        body=body, resource_type="document", at=T0, remote_ip="127.0.0.1")
    base.update(kw)
    return Exchange(**base)  # type: ignore[arg-type]


def test_warc_records_verify_with_warcio(tmp_path: Path) -> None:
    out = io.BytesIO()
    body = b"<h1>Lumara</h1>" * 100
    count = write_warc(out, [_exchange(body), _exchange(b'{"a":1}', url="http://127.0.0.1/api")],
                       {"software": "markwatch"}, capture_id="C1", at=T0)
    assert count == 5
    path = tmp_path / "c.warc.gz"
    path.write_bytes(out.getvalue())
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
                           capture_output=True, text=True, check=False)
    if "No module named warcio.cli" in check.stderr:  # older layout
        check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", "-v",
                                str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    records = list(ArchiveIterator(io.BytesIO(out.getvalue())))
    types = [r.rec_type for r in records]
    assert types == ["warcinfo", "response", "request", "response", "request"]
    response = records[1]
    assert response.rec_headers.get_header("WARC-Markwatch-Body-Decoded") == "gzip"
    digest = "sha256:" + base64.b32encode(hashlib.sha256(body).digest()).decode()
    assert response.rec_headers.get_header("WARC-Payload-Digest") == digest
    assert records[2].rec_headers.get_header("WARC-Concurrent-To") == \
        response.rec_headers.get_header("WARC-Record-ID")
    assert response.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
