"""Writing recorded HTTP exchanges as WARC 1.1 records, SHA-256 digests computed here.

Bodies are what the browser handed over (Playwright gives them decoded); a record whose body
was decoded says so in `WARC-Markwatch-Body-Decoded` and drops the now-wrong framing headers,
so that the record is self-consistent and nothing claims bytes it does not hold.

The fallback writer, for captures made without the recording proxy (`EVIDENCE_RECORDING_PROXY`
off, or a page fetched without a browser); the default, byte-exact one is
`crawler.recording.warc_exact`, which writes what crossed the proxy and has nothing to decode.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.clock import isoformat

_FRAMING = ("content-encoding", "transfer-encoding", "content-length")


@dataclass
class Exchange:
    """One HTTP request and its response, as the browser saw them."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    status_text: str
    response_headers: list[tuple[str, str]]
    body: bytes | None
    resource_type: str
    at: dt.datetime
    remote_ip: str | None = None
    request_body: bytes | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _sha256_label(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")


def _record_id(seed: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}>"


def _warc_date(moment: dt.datetime) -> str:
    return isoformat(moment)


def write_warc(
    out: IO[bytes],
    exchanges: Iterable[Exchange],
    warcinfo: dict[str, str],
    *,
    capture_id: str,
    at: dt.datetime,
) -> int:
    """Write a warcinfo record and a request/response pair per exchange. Returns records written."""
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    info_body = "".join(f"{k}: {v}\r\n" for k, v in warcinfo.items()).encode("utf-8")
    info = writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info_body), length=len(info_body),
        warc_content_type="application/warc-fields",
        warc_headers_dict={
            "WARC-Record-ID": _record_id(f"{capture_id}/warcinfo"),
            "WARC-Date": _warc_date(at),
            "WARC-Filename": f"{capture_id}.warc.gz",
            "WARC-Block-Digest": _sha256_label(info_body),
        },
    )
    writer.write_record(info)
    written = 1
    for index, ex in enumerate(exchanges):
        written += _write_pair(writer, ex, f"{capture_id}/{index}")
    return written


def _write_pair(writer: WARCWriter, ex: Exchange, seed: str) -> int:
    body = ex.body or b""
    headers = list(ex.response_headers)
    extra: dict[str, str] = {}
    encoding = next((v for k, v in headers if k.lower() == "content-encoding"), None)
    if ex.body is None:
        extra["WARC-Truncated"] = "unspecified"
    if encoding and encoding.lower() != "identity":
        extra["WARC-Markwatch-Body-Decoded"] = encoding
    if extra.get("WARC-Markwatch-Body-Decoded") or ex.body is not None:
        headers = [(k, v) for k, v in headers if k.lower() not in _FRAMING]
        headers.append(("Content-Length", str(len(body))))
    http = StatusAndHeaders(f"{ex.status} {ex.status_text}".strip(), headers, protocol="HTTP/1.1")
    http.compute_headers_buffer()
    head = http.headers_buff or b""
    response_id = _record_id(seed + "/response")
    rec_headers = {
        "WARC-Record-ID": response_id,
        "WARC-Date": _warc_date(ex.at),
        "WARC-Payload-Digest": _sha256_label(body),
        "WARC-Block-Digest": _sha256_label(head + body),
        **extra,
    }
    if ex.remote_ip:
        rec_headers["WARC-IP-Address"] = ex.remote_ip
    response = writer.create_warc_record(
        ex.url, "response", payload=io.BytesIO(body), length=len(body),
        http_headers=http, warc_headers_dict=rec_headers,
    )
    path = _request_target(ex.url)
    req_http = StatusAndHeaders(f"{ex.method} {path}", list(ex.request_headers),
                                protocol="HTTP/1.1", is_http_request=True)
    req_http.compute_headers_buffer()
    req_body = ex.request_body or b""
    request = writer.create_warc_record(
        ex.url, "request", payload=io.BytesIO(req_body), length=len(req_body),
        http_headers=req_http,
        warc_headers_dict={
            "WARC-Record-ID": _record_id(seed + "/request"),
            "WARC-Date": _warc_date(ex.at),
            "WARC-Block-Digest": _sha256_label((req_http.headers_buff or b"") + req_body),
            "WARC-Concurrent-To": response_id,
        },
    )
    writer.write_record(response)
    writer.write_record(request)
    return 2


def _request_target(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
