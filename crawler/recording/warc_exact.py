"""One capture's WARC 1.1 file: warcinfo, every exchange as recorded, the capture's own records.

Records are written straight from the proxy's spools (bytes as received, digests computed when
they arrived), one gzip member per record, so nothing is re-serialised and no body is held
twice. Record ids derive from the capture id, so the same capture always gives the same file.

The default writer. `crawler.evidence.warc_decoded` is the fallback for captures made without
the recording proxy, from the decoded bodies Playwright reports; the two share no code because
they start from different things (raw bytes as received, or decoded exchanges) and the decoded
one must say what it changed. `crawler.evidence.warc_artifact` runs either into a file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import ssl
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from crawler.clock import isoformat
from crawler.recording.exchanges import RecordedExchange, TlsSession, digest_label
from crawler.recording.proxy import CaptureSession

GZIP_LEVEL = 6
"""warcio's fixed level 9 costs ~2x the time for ~1% size (see the browser-capture notes)."""

PACKED_LEVEL = 0
"""For payloads that are compressed already (PNG, JPEG, WebP, gzip or brotli bodies): stored
deflate blocks (still a valid gzip member, one per record), a copy and a CRC. Measured on a
353 KB record of a listing capture: level 1 took 5.4 ms and came out larger than level 0,
which took 0.3 ms; level 6 5.8 ms."""

_PACKED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif",
                 "font/woff", "font/woff2", "application/zip", "application/gzip",
                 "video/", "audio/")
_PACKED_ENCODINGS = ("gzip", "br", "zstd", "deflate", "compress")


def packed(media_type: str | None, content_encoding: str | None = None) -> bool:
    """Whether a payload of this type and encoding is compressed already."""
    encoding = (content_encoding or "").strip().lower()
    if encoding and encoding != "identity":
        return encoding.split(",")[-1].strip() in _PACKED_ENCODINGS
    media = (media_type or "").split(";")[0].strip().lower()
    return media.startswith(_PACKED_TYPES)


def record_id(seed: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}>"


def _sha(data: bytes) -> str:
    return digest_label(hashlib.sha256(data))


@dataclass
class CaptureResource:
    """A record the capture itself made: screenshot, DOM, extracted fields."""

    name: str
    media_type: str
    data: bytes
    record_type: str = "resource"


class WarcRecordWriter:
    """Writes WARC 1.1 records, each its own gzip member, from bytes or streams."""

    def __init__(self, out: IO[bytes], level: int = GZIP_LEVEL) -> None:
        self.out = out
        self.level = level
        self.count = 0

    def write(self, headers: list[tuple[str, str]], block: IO[bytes] | bytes, length: int,
              content_type: str, *, level: int | None = None) -> None:
        gz = zlib.compressobj(self.level if level is None else level, zlib.DEFLATED, 31)
        head = ["WARC/1.1", *(f"{k}: {v}" for k, v in headers),
                f"Content-Type: {content_type}", f"Content-Length: {length}"]
        self.out.write(gz.compress(("\r\n".join(head) + "\r\n\r\n").encode("utf-8")))
        stream = io.BytesIO(block) if isinstance(block, bytes) else block
        left = length
        while left > 0:
            chunk = stream.read(min(left, 1 << 16))
            if not chunk:
                raise ValueError("record block shorter than its length")
            left -= len(chunk)
            self.out.write(gz.compress(chunk))
        self.out.write(gz.compress(b"\r\n\r\n"))
        self.out.write(gz.flush())
        self.count += 1


def write_capture_warc(
    out: IO[bytes],
    session: CaptureSession,
    warcinfo: dict[str, str],
    *,
    capture_id: str,
    at: dt.datetime,
    page_url: str,
    resources: Iterable[CaptureResource] = (),
    capture_metadata: dict[str, object] | None = None,
) -> int:
    """Write the whole capture; returns the number of records."""
    w = WarcRecordWriter(out)
    info_id = record_id(f"{capture_id}/warcinfo")
    info = "".join(f"{k}: {_field(v)}\r\n" for k, v in warcinfo.items()).encode("utf-8")
    w.write([("WARC-Type", "warcinfo"), ("WARC-Record-ID", info_id),
             ("WARC-Date", isoformat(at)), ("WARC-Filename", f"{capture_id}.warc.gz"),
             ("WARC-Block-Digest", _sha(info))], info, len(info), "application/warc-fields")
    common = [("WARC-Warcinfo-ID", info_id)]
    page_response: str | None = None
    tls_first: dict[str, str] = {}
    for index, exchange in enumerate(session.exchanges):
        seed = f"{capture_id}/{index}"
        response_id = _write_exchange(w, exchange, seed, common)
        if response_id and exchange.tls_key:
            tls_first.setdefault(exchange.tls_key, response_id)
        if response_id and page_response is None and exchange.url == page_url:
            page_response = response_id
    for key, tls in session.tls.items():
        body = json.dumps(tls_json(tls), indent=1).encode("utf-8")
        headers = [("WARC-Type", "metadata"), ("WARC-Record-ID", record_id(f"{capture_id}/{key}")),
                   ("WARC-Date", isoformat(tls.at)),
                   ("WARC-Target-URI", f"urn:markwatch:{capture_id}:tls:{tls.host}:{tls.port}"),
                   ("WARC-Block-Digest", _sha(body)), *common]
        if key in tls_first:
            headers.append(("WARC-Refers-To", tls_first[key]))
        w.write(headers, body, len(body), "application/json")
    for res in resources:
        digest = _sha(res.data)
        headers = [("WARC-Type", res.record_type),
                   ("WARC-Record-ID", record_id(f"{capture_id}/{res.name}")),
                   ("WARC-Date", isoformat(at)),
                   ("WARC-Target-URI", f"urn:markwatch:{capture_id}:{res.name}"),
                   ("WARC-Block-Digest", digest), *common]
        if res.record_type == "resource":
            headers.append(("WARC-Payload-Digest", digest))
        if page_response:
            headers.append(("WARC-Refers-To", page_response))
        w.write(headers, res.data, len(res.data), res.media_type,
                level=PACKED_LEVEL if packed(res.media_type) else None)
    meta = {"limits_hit": session.limits_hit, "proxy_notes": session.notes,
            "exchanges": len(session.exchanges), "recorded_bytes": session.recorded_bytes,
            **(capture_metadata or {})}
    body = json.dumps(meta, indent=1, sort_keys=True, default=str).encode("utf-8")
    w.write([("WARC-Type", "metadata"), ("WARC-Record-ID", record_id(f"{capture_id}/capture")),
             ("WARC-Date", isoformat(at)),
             ("WARC-Target-URI", f"urn:markwatch:{capture_id}:capture.json"),
             ("WARC-Block-Digest", _sha(body)), *common], body, len(body), "application/json")
    return w.count


def _write_exchange(w: WarcRecordWriter, ex: RecordedExchange, seed: str,
                    common: list[tuple[str, str]]) -> str | None:
    date = isoformat(ex.started_at)
    response_id: str | None = None
    if ex.response is not None:
        response_id = record_id(seed + "/response")
        spool = ex.response
        headers = [("WARC-Type", "response"), ("WARC-Record-ID", response_id),
                   ("WARC-Date", date), ("WARC-Target-URI", ex.url)]
        if ex.remote_ip:
            headers.append(("WARC-IP-Address", ex.remote_ip))
        headers += [("WARC-Payload-Digest", spool.payload_digest),
                    ("WARC-Block-Digest", spool.block_digest), *common]
        if ex.truncated:
            headers.append(("WARC-Truncated", ex.truncated))
        level = PACKED_LEVEL if packed(ex.header("content-type"),
                                       ex.header("content-encoding")) else None
        w.write(headers, spool.open(), spool.size, "application/http; msgtype=response",
                level=level)
    req = ex.request
    headers = [("WARC-Type", "request"), ("WARC-Record-ID", record_id(seed + "/request")),
               ("WARC-Date", date), ("WARC-Target-URI", ex.url)]
    if ex.remote_ip:
        headers.append(("WARC-IP-Address", ex.remote_ip))
    headers += [("WARC-Block-Digest", req.block_digest), *common]
    if response_id:
        headers.append(("WARC-Concurrent-To", response_id))
    w.write(headers, req.open(), req.size, "application/http; msgtype=request")
    return response_id


def tls_json(tls: TlsSession) -> dict[str, object]:
    """An upstream TLS session as JSON: the chain (PEM, leaf first) and the verdict."""
    return {
        "host": tls.host,
        "port": tls.port,
        "remote_ip": tls.remote_ip,
        "protocol": tls.version,
        "cipher": tls.cipher,
        "verified_by_proxy": tls.verified,
        "verification_error": tls.error,
        "chain_sha256": [hashlib.sha256(c).hexdigest() for c in tls.chain_der],
        "chain_pem": [ssl.DER_cert_to_PEM_cert(c) for c in tls.chain_der],
    }


def _field(value: str) -> str:
    return " ".join(str(value).splitlines())
