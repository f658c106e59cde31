"""The document a capture's WARC recorded: the page's HTML read back from its response record,
for re-parsing captures that have no rendered DOM (`crawler.fields.reparse`).

A capture of a page fetched without a browser (an unrendered search or listing page) keeps
the body as received, not a DOM; a capture may also have no DOM at all, or a re-parse may be
asked to read what the server sent rather than what the browser made of it. Then the page is
read from the capture's `page.warc.gz`:

* the stored WARC is copied to a temporary file while its SHA-256 is checked against the
  manifest (a WARC altered in the store is refused, never parsed);
* the document's record is the `response` record whose target is the capture's final URL
  (else its request URL) and whose status is not a redirect; a deduplicated record (a
  `revisit` naming a payload blob, `crawler.recording.dedup`) has its payload read from that
  blob and checked against its digest, as `crawler.evidence.warc_refs` does;
* the payload is de-chunked and decoded from its Content-Encoding (gzip, deflate, brotli),
  each step bounded to `MAX_DOCUMENT_BYTES` of output; a record the fallback writer already
  decoded (`WARC-Markwatch-Body-Decoded`, `crawler.evidence.warc_decoded`) is taken as is;
* the bytes are decoded to text from the charset the response declares (Content-Type, BOM,
  `<meta charset>`) by Scrapy's own `HtmlResponse`, as a live fetch is.

The result names the record it came from (WARC-Record-ID, its payload digest, the WARC's
SHA-256), so the derived record says exactly what it parsed. Nothing stored is written.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scrapy.http import HtmlResponse
from warcio.archiveiterator import ArchiveIterator

from crawler.exceptions import MarkwatchError
from crawler.recording import dedup
from crawler.recording.handle import dechunk
from crawler.recording.http1 import decode_body
from storage.base import Store

MAX_WARC_BYTES = 512 * 1024 * 1024
"""A stored WARC larger than this is not read."""
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
"""The most bytes the document's payload may hold, compressed or decoded."""
DECODED_HEADER = "WARC-Markwatch-Body-Decoded"
"""Set by the fallback WARC writer on a record whose body it holds decoded already."""
_REDIRECTS = range(300, 400)


class WarcSourceError(MarkwatchError):
    """The capture's WARC cannot give its document (altered, unreadable, over a bound)."""


@dataclass(frozen=True)
class WarcDocument:
    """The page a capture's WARC recorded, decoded, and the record it was read from."""

    url: str
    status: int
    headers: dict[str, str]
    text: str
    record_id: str
    payload_digest: str | None
    warc_sha256: str
    deduplicated: bool
    """The payload was read from a blob a revisit record names."""

    def source(self) -> dict[str, Any]:
        """How the derived record names what it parsed."""
        return {"kind": "warc-response", "warc_sha256": self.warc_sha256,
                "record_id": self.record_id, "payload_digest": self.payload_digest,
                "target_uri": self.url, "deduplicated": self.deduplicated}


@dataclass(frozen=True)
class PageSource:
    """What a re-parse reads: the page and how the derived record names it."""

    html: str | bytes
    source: dict[str, Any]


SOURCES = ("auto", "dom", "warc")
"""`auto`: a rendered capture's DOM, an unrendered capture's WARC response (each falling back
to the other when missing); `dom` / `warc`: that source only."""


def read_page(store: Store, manifest: dict[str, Any], source: str,
              read_dom: Callable[[], bytes | None]) -> PageSource | str:
    """The page a re-parse of this capture reads, or why there is none (`source` in
    `SOURCES`; `read_dom` gives the stored DOM, checked, or None)."""
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    rendered = (manifest.get("browser") or {}).get("name") not in (None, "none")
    order = {"dom": ["dom"], "warc": ["warc"]}.get(
        source, ["dom", "warc"] if rendered else ["warc", "dom"])
    why: list[str] = []
    for kind in order:
        if kind == "dom":
            dom = read_dom()
            if dom is not None:
                return PageSource(dom, {"kind": "dom",
                                        "sha256": hashlib.sha256(dom).hexdigest()})
            why.append("no stored DOM within the size cap")
            continue
        try:
            doc = document(store, manifest)
        except WarcSourceError as exc:
            why.append(str(exc))
            continue
        if doc is not None:
            return PageSource(doc.text, doc.source())
        why.append("no response record for the page in its WARC")
    return "; ".join(why)


def warc_artifact(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's `page.warc.gz` artifact, if it has one."""
    return next((a for a in manifest.get("artifacts", []) if a.get("name") == "page.warc.gz"),
                None)


def document(store: Store, manifest: dict[str, Any]) -> WarcDocument | None:
    """The capture's document read from its WARC (see the module doc); None when its WARC
    holds no response record for the page. `WarcSourceError` when the WARC is altered,
    unreadable or over a bound."""
    artifact = warc_artifact(manifest)
    if artifact is None:
        return None
    if int(artifact.get("size") or 0) > MAX_WARC_BYTES:
        raise WarcSourceError(f"page.warc.gz is {artifact['size']} bytes, over the "
                              f"{MAX_WARC_BYTES} bytes read back")
    urls = [u for u in (manifest.get("final_url"), manifest.get("request_url")) if u]
    with tempfile.TemporaryDirectory(prefix="markwatch-reparse-") as tmp:
        path = Path(tmp) / "page.warc.gz"
        try:
            _copy_checked(store, artifact["sha256"], path)
        except KeyError as exc:
            raise WarcSourceError("page.warc.gz missing from the store") from exc
        with path.open("rb") as fh:
            try:
                return _find(store, fh, urls, artifact["sha256"])
            except WarcSourceError:
                raise
            except Exception as exc:  # warcio raises many kinds on a damaged file
                raise WarcSourceError(f"page.warc.gz unreadable: {exc}") from exc


def _copy_checked(store: Store, sha256: str, path: Path) -> None:
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        for chunk in store.iter_blob(sha256):
            size += len(chunk)
            if size > MAX_WARC_BYTES:
                raise WarcSourceError(f"page.warc.gz over {MAX_WARC_BYTES} bytes")
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise WarcSourceError(f"page.warc.gz altered in the store (sha256 {digest.hexdigest()})")


def _find(store: Store, fh: IO[bytes], urls: list[str], warc_sha256: str
          ) -> WarcDocument | None:
    """The first fitting response record for the first URL that has one."""
    found: dict[str, WarcDocument] = {}
    for record in ArchiveIterator(fh):
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        if uri not in urls or uri in found or record.http_headers is None:
            continue
        kind = record.rec_type
        blob = record.rec_headers.get_header(dedup.PAYLOAD_SHA256)
        if kind == "revisit" and blob and (record.rec_headers.get_header(
                dedup.MATERIALISE_AS) or "response") == "response":
            raw = _blob(store, blob.lower())
        elif kind == "response":
            raw = record.raw_stream.read(MAX_DOCUMENT_BYTES + 1)
        else:
            continue
        status = int(record.http_headers.get_statuscode() or 0)
        if status in _REDIRECTS:
            continue
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise WarcSourceError(f"the response of {uri} is over {MAX_DOCUMENT_BYTES} bytes")
        headers = {k.lower(): v for k, v in record.http_headers.headers}
        body = _decoded(raw, headers, record.rec_headers.get_header(DECODED_HEADER), uri)
        found[uri] = WarcDocument(
            url=uri, status=status, headers=headers, text=_text(uri, body, headers),
            record_id=record.rec_headers.get_header("WARC-Record-ID") or "",
            payload_digest=record.rec_headers.get_header("WARC-Payload-Digest"),
            warc_sha256=warc_sha256, deduplicated=kind == "revisit")
        if uri == urls[0]:
            break
    return next((found[u] for u in urls if u in found), None)


def _blob(store: Store, sha256: str) -> bytes:
    """A deduplicated payload, read from its blob and checked against its digest."""
    digest = hashlib.sha256()
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in store.iter_blob(sha256):
            size += len(chunk)
            if size > MAX_DOCUMENT_BYTES:
                raise WarcSourceError(f"payload blob {sha256} over {MAX_DOCUMENT_BYTES} bytes")
            digest.update(chunk)
            parts.append(chunk)
    except KeyError as exc:
        raise WarcSourceError(f"payload blob {sha256} missing from the store") from exc
    if digest.hexdigest() != sha256:
        raise WarcSourceError(f"payload blob {sha256} altered in the store")
    return b"".join(parts)


def _decoded(raw: bytes, headers: dict[str, str], decoded_already: str | None,
             uri: str) -> bytes:
    """The entity body: de-chunked and decoded from its Content-Encoding, bounded."""
    if decoded_already:
        return raw
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw = dechunk(raw)
    body: bytes | None = raw
    for encoding in reversed([e.strip().lower() for e in
                              headers.get("content-encoding", "").split(",") if e.strip()]):
        if body is None:
            break
        body = _unbrotli(body) if encoding == "br" else decode_body(
            body, encoding, MAX_DOCUMENT_BYTES)
    if body is None:
        raise WarcSourceError(f"the response of {uri} cannot be decoded from "
                              f"{headers.get('content-encoding')!r} within "
                              f"{MAX_DOCUMENT_BYTES} bytes")
    return body


def _unbrotli(data: bytes) -> bytes | None:
    import brotli

    decompressor = brotli.Decompressor()
    try:
        out: bytes = decompressor.process(data, output_buffer_limit=MAX_DOCUMENT_BYTES + 1)
    except brotli.error:
        return None
    if len(out) > MAX_DOCUMENT_BYTES or not decompressor.is_finished():
        return None
    return out


def _text(url: str, body: bytes, headers: dict[str, str]) -> str:
    """The body as text, its charset found as Scrapy finds a live response's."""
    content_type = headers.get("content-type", "text/html")
    return HtmlResponse(url=url, body=body, headers={"Content-Type": content_type}).text


__all__ = ["MAX_DOCUMENT_BYTES", "MAX_WARC_BYTES", "SOURCES", "PageSource", "WarcDocument",
           "WarcSourceError", "document", "read_page", "warc_artifact"]
