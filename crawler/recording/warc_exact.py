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
from typing import IO, TYPE_CHECKING

from crawler.clock import isoformat
from crawler.recording import conditional, dedup
from crawler.recording.exchanges import RecordedExchange, TlsSession, digest_label

if TYPE_CHECKING:
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
    stored_apart: bool = False
    """Kept as its own blob: the WARC holds a revisit record naming it (`recording.dedup`)."""


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
    dedup_index: dedup.DedupIndex | None = None,
    payloads: list[tuple[str, bytes]] | None = None,
) -> int:
    """Write the whole capture; returns the number of records.

    With `dedup_index`, eligible response payloads are left out (revisit records) and appended
    to `payloads` as (SHA-256, bytes), for the caller to store as blobs before the WARC."""
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
        is_page = exchange.url == page_url
        response_id = _write_exchange(w, exchange, seed, common, capture_id, is_page,
                                      dedup_index, payloads)
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
        if res.stored_apart:
            _write_resource_revisit(w, res, capture_id, at, common, page_response)
            continue
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
    revalidated = {"static_revalidation": dict(session.revalidation)} \
        if session.revalidation else {}
    meta = {"limits_hit": session.limits_hit, "proxy_notes": session.notes, **revalidated,
            "egress_refused": session.refused,
            "exchanges": len(session.exchanges), "recorded_bytes": session.recorded_bytes,
            **(capture_metadata or {})}
    body = json.dumps(meta, indent=1, sort_keys=True, default=str).encode("utf-8")
    w.write([("WARC-Type", "metadata"), ("WARC-Record-ID", record_id(f"{capture_id}/capture")),
             ("WARC-Date", isoformat(at)),
             ("WARC-Target-URI", f"urn:markwatch:{capture_id}:capture.json"),
             ("WARC-Block-Digest", _sha(body)), *common], body, len(body), "application/json")
    return w.count


def _write_resource_revisit(w: WarcRecordWriter, res: CaptureResource, capture_id: str,
                            at: dt.datetime, common: list[tuple[str, str]],
                            page_response: str | None) -> None:
    """A capture artifact stored as its own blob: a revisit record naming that blob."""
    uri = f"urn:markwatch:{capture_id}:{res.name}"
    headers = [("WARC-Type", "revisit"), ("WARC-Record-ID", record_id(f"{capture_id}/{res.name}")),
               ("WARC-Date", isoformat(at)), ("WARC-Target-URI", uri),
               ("WARC-Profile", dedup.PROFILE), ("WARC-Refers-To-Target-URI", uri),
               ("WARC-Refers-To-Date", isoformat(at)),
               ("WARC-Payload-Digest", _sha(res.data)), ("WARC-Block-Digest", _sha(b"")),
               (dedup.PAYLOAD_SHA256, hashlib.sha256(res.data).hexdigest()),
               (dedup.PAYLOAD_LENGTH, str(len(res.data))),
               (dedup.MATERIALISE_AS, res.record_type),
               (dedup.MATERIALISE_TYPE, _field(res.media_type)), *common]
    if page_response:
        headers.append(("WARC-Refers-To", page_response))
    w.write(headers, b"", 0, res.media_type)


def _write_exchange(w: WarcRecordWriter, ex: RecordedExchange, seed: str,
                    common: list[tuple[str, str]], capture_id: str = "", is_page: bool = False,
                    dedup_index: dedup.DedupIndex | None = None,
                    payloads: list[tuple[str, bytes]] | None = None) -> str | None:
    date = isoformat(ex.started_at)
    response_id: str | None = None
    if ex.served is not None:
        return _write_served(w, ex, seed, common, capture_id)
    if (ex.response is not None and dedup_index is not None and payloads is not None
            and dedup.eligible(ex.status, ex.response.payload_size, ex.truncated, is_page)
            and sum(len(body) for _, body in payloads) + ex.response.payload_size
            <= dedup.MAX_CARRIED):
        response_id = record_id(seed + "/response")
        _write_revisit(w, ex, response_id, date, common, capture_id, dedup_index, payloads)
    elif ex.response is not None:
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
    _write_request(w, ex, seed, date, common, response_id)
    return response_id


def _write_revisit(w: WarcRecordWriter, ex: RecordedExchange, response_id: str, date: str,
                   common: list[tuple[str, str]], capture_id: str,
                   dedup_index: dedup.DedupIndex, payloads: list[tuple[str, bytes]]) -> None:
    """A response whose payload is stored as a blob: the head as received, and where the
    payload was first recorded (identical-payload-digest profile)."""
    spool = ex.response
    assert spool is not None
    payload = spool.read_payload(dedup.MAX_PAYLOAD) or b""
    sha = spool.payload_sha256
    payloads.append((sha, payload))
    first = dedup_index.first(sha, dedup.Original(ex.url, date, response_id, capture_id))
    head = spool.read_head()
    if dedup_index.static is not None:
        dedup_index.static.remember(ex.url, ex.origin, ex.fetch_dest, ex.status, head, sha,
                                    spool.payload_size, spool.payload_digest,
                                    spool.block_digest, ex.started_at, first)
    headers = [("WARC-Type", "revisit"), ("WARC-Record-ID", response_id),
               ("WARC-Date", date), ("WARC-Target-URI", ex.url)]
    if ex.remote_ip:
        headers.append(("WARC-IP-Address", ex.remote_ip))
    headers += [("WARC-Profile", dedup.PROFILE), ("WARC-Refers-To-Target-URI", first.uri),
                ("WARC-Refers-To-Date", first.date)]
    if first.record_id != response_id:
        headers += [("WARC-Refers-To", first.record_id),
                    (dedup.ORIGINAL_CAPTURE, first.capture_id)]
    headers += [("WARC-Payload-Digest", spool.payload_digest), ("WARC-Block-Digest", _sha(head)),
                (dedup.PAYLOAD_SHA256, sha), (dedup.PAYLOAD_LENGTH, str(spool.payload_size)),
                (dedup.ORIGINAL_BLOCK, spool.block_digest), (dedup.MATERIALISE_AS, "response"),
                *common]
    w.write(headers, head, len(head), "application/http; msgtype=response")


def _write_served(w: WarcRecordWriter, ex: RecordedExchange, seed: str,
                  common: list[tuple[str, str]], capture_id: str) -> str:
    """A static asset the browser was served from the store: the site's 304 as a
    server-not-modified revisit (with the request that asked), then what the browser got as an
    identical-payload-digest revisit naming the payload blob; without a 304 (immutable and
    fresh: the site was not asked) only the latter, saying so."""
    served = ex.served
    stored: conditional.StoredResponse = served.stored
    original = stored.original
    date = isoformat(ex.started_at)
    refers = [("WARC-Refers-To-Target-URI", original.uri), ("WARC-Refers-To-Date", original.date),
              ("WARC-Refers-To", original.record_id)]
    if original.capture_id != capture_id:
        refers.append((dedup.ORIGINAL_CAPTURE, original.capture_id))
    not_modified: str | None = None
    if ex.response is not None:
        not_modified = record_id(seed + "/response")
        spool = ex.response
        headers = [("WARC-Type", "revisit"), ("WARC-Record-ID", not_modified),
                   ("WARC-Date", date), ("WARC-Target-URI", ex.url)]
        if ex.remote_ip:
            headers.append(("WARC-IP-Address", ex.remote_ip))
        headers += [("WARC-Profile", conditional.NOT_MODIFIED), *refers,
                    ("WARC-Payload-Digest", stored.payload_digest),
                    ("WARC-Block-Digest", spool.block_digest), *common]
        w.write(headers, spool.open(), spool.size, "application/http; msgtype=response")
    served_id = record_id(seed + "/served")
    why = served.not_fetched or (f"from the store: the site answered {ex.status} Not Modified "
                                 "to a conditional request")
    headers = [("WARC-Type", "revisit"), ("WARC-Record-ID", served_id), ("WARC-Date", date),
               ("WARC-Target-URI", ex.url)]
    if ex.remote_ip:  # the site that answered 304 (none when it was not asked)
        headers.append(("WARC-IP-Address", ex.remote_ip))
    headers += [("WARC-Profile", dedup.PROFILE), *refers,
               ("WARC-Payload-Digest", stored.payload_digest),
               ("WARC-Block-Digest", _sha(stored.head)),
               (dedup.PAYLOAD_SHA256, stored.sha256),
               (dedup.PAYLOAD_LENGTH, str(stored.payload_size)),
               (dedup.ORIGINAL_BLOCK, stored.block_digest), (dedup.MATERIALISE_AS, "response"),
               (conditional.SERVED, why)]
    if served.not_fetched:
        headers.append((conditional.FETCH, served.not_fetched))
    if not_modified:
        headers.append(("WARC-Concurrent-To", not_modified))
    headers += common
    w.write(headers, stored.head, len(stored.head), "application/http; msgtype=response")
    if not_modified:  # the request that asked: concurrent to what the browser got and the 304
        _write_request(w, ex, seed, date, common, served_id, not_modified)
    return not_modified or served_id


def _write_request(w: WarcRecordWriter, ex: RecordedExchange, seed: str, date: str,
                   common: list[tuple[str, str]], response_id: str | None,
                   also: str | None = None) -> None:
    req = ex.request
    headers = [("WARC-Type", "request"), ("WARC-Record-ID", record_id(seed + "/request")),
               ("WARC-Date", date), ("WARC-Target-URI", ex.url)]
    if ex.remote_ip:
        headers.append(("WARC-IP-Address", ex.remote_ip))
    headers += [("WARC-Block-Digest", req.block_digest), *common]
    if response_id:
        headers.append(("WARC-Concurrent-To", response_id))
    if also:
        headers.append(("WARC-Concurrent-To", also))
    w.write(headers, req.open(), req.size, "application/http; msgtype=request")


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
