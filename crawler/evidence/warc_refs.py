"""Resolving a deduplicated WARC: the payload blobs its revisit records name, checked and restored.

A stored `page.warc.gz` may leave payloads out (`crawler.recording.dedup`): shared scripts,
styles and photos, and the artifacts kept as their own blobs (screenshot, DOM, fields). Every
reader that must see the capture whole goes through here:

* `materialise` writes the WARC with each such revisit record replaced by the full record it
  stands for (response, resource or metadata), its payload read from the blob and checked
  against the recorded digests; every other record is copied byte for byte. An export (WACZ,
  bundle) and the portal's replay are thereby complete and self-contained. A WARC without such
  records comes out identical to the stored one (stores written before deduplication).
* `check_references` re-hashes every blob a capture's WARC names, for `markwatch verify`.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator

from crawler.exceptions import MarkwatchError
from crawler.recording import dedup
from crawler.recording.exchanges import digest_label
from crawler.recording.warc_exact import PACKED_LEVEL, WarcRecordWriter, packed
from storage.base import Store

_DROP = {"warc-type", "warc-profile", "warc-refers-to-target-uri", "warc-refers-to-date",
         "warc-block-digest", "content-type", "content-length",
         *(h.lower() for h in (dedup.PAYLOAD_SHA256, dedup.PAYLOAD_LENGTH, dedup.ORIGINAL_BLOCK,
                               dedup.ORIGINAL_CAPTURE, dedup.MATERIALISE_AS,
                               dedup.MATERIALISE_TYPE))}


class ReferenceError_(MarkwatchError):
    """A payload a WARC names is missing from the store or altered."""


@dataclass(frozen=True)
class Reference:
    """One revisit record of a stored WARC and the blob it names."""

    uri: str
    sha256: str
    length: int
    original_capture: str | None

    def describe(self, capture_id: str) -> str:
        first = (f"first recorded by capture {self.original_capture}, "
                 if self.original_capture and self.original_capture != capture_id else "")
        return (f"payload of {self.uri} (blob {self.sha256}; {first}"
                f"referred to by capture {capture_id})")


def references(stream: IO[bytes]) -> Iterator[Reference]:
    """The references of a WARC read from `stream` (payload blobs its revisit records name)."""
    for record in ArchiveIterator(stream, no_record_parse=True):
        sha = record.rec_headers.get_header(dedup.PAYLOAD_SHA256)
        if record.rec_type == "revisit" and sha:
            yield Reference(record.rec_headers.get_header("WARC-Target-URI") or "", sha.lower(),
                            int(record.rec_headers.get_header(dedup.PAYLOAD_LENGTH) or -1),
                            record.rec_headers.get_header(dedup.ORIGINAL_CAPTURE))


def check_references(store: Store, capture_id: str, warc_sha256: str,
                     checked: set[str] | None = None) -> list[str]:
    """Problems with the payload blobs the capture's WARC names (none: all present, intact).
    Blobs in `checked` (the manifest's own artifacts, hashed already) are not read again."""
    problems: list[str] = []
    try:
        with store.open_blob(warc_sha256) as fh:
            refs = list(references(fh))
    except KeyError:
        return []  # the WARC itself is missing: the artifact check says so
    except Exception as exc:  # warcio raises many kinds on a damaged file: a boundary
        return [f"artifact page.warc.gz: unreadable ({exc})"]
    for ref in {r.sha256: r for r in refs}.values():
        if checked and ref.sha256 in checked:
            continue
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in store.iter_blob(ref.sha256):
                digest.update(chunk)
                size += len(chunk)
        except KeyError:
            problems.append(f"{ref.describe(capture_id)}: missing from the store")
            continue
        if digest.hexdigest() != ref.sha256:
            problems.append(f"{ref.describe(capture_id)}: altered (sha256 {digest.hexdigest()})")
        elif ref.length >= 0 and size != ref.length:
            problems.append(f"{ref.describe(capture_id)}: size {size}, WARC says {ref.length}")
    return problems


def referenced_payload_problems(store: Store, manifest: dict[str, Any]) -> list[str]:
    """`check_references` for a capture's manifest (nothing to check without a WARC)."""
    artifacts = manifest.get("artifacts", [])
    warc = next((a for a in artifacts if a.get("name") == "page.warc.gz"), None)
    if warc is None:
        return []
    return check_references(store, str(manifest.get("capture_id")), warc["sha256"],
                            {a["sha256"] for a in artifacts})


def referenced_blobs(store: Store, manifest: dict[str, Any]) -> list[str]:
    """SHA-256 of every payload blob the capture's WARC names (none for a WARC without)."""
    warc = next((a for a in manifest.get("artifacts", []) if a.get("name") == "page.warc.gz"),
                None)
    if warc is None:
        return []
    with store.open_blob(warc["sha256"]) as fh:
        return sorted({ref.sha256 for ref in references(fh)})


def materialise(store: Store, warc: Path, out: IO[bytes], capture_id: str) -> int:
    """Write `warc` to `out` with every revisit record naming a blob replaced by its full
    record; returns how many were restored. `ReferenceError_` if a blob is missing/altered."""
    restored = 0
    writer = WarcRecordWriter(out)
    with warc.open("rb") as parse, warc.open("rb") as raw:
        records = ArchiveIterator(parse, no_record_parse=True)
        for record in records:
            headers = record.rec_headers
            sha = headers.get_header(dedup.PAYLOAD_SHA256)
            if record.rec_type == "revisit" and sha:
                head = record.raw_stream.read()
                records.read_to_end(record)
                _write_full(store, writer, headers.headers, head, capture_id)
                restored += 1
                continue
            records.read_to_end(record)
            raw.seek(records.get_record_offset())
            _copy(raw, out, records.get_record_length())
    return restored


def materialised_file(store: Store, warc_sha256: str, capture_id: str) -> Path:
    """A temporary file holding the capture's WARC, materialised; the caller removes it."""
    with tempfile.TemporaryDirectory(prefix="markwatch-warc-") as tmp:
        stored = Path(tmp) / "stored.warc.gz"
        digest = hashlib.sha256()
        with stored.open("wb") as fh:
            for chunk in store.iter_blob(warc_sha256):
                digest.update(chunk)
                fh.write(chunk)
        if digest.hexdigest() != warc_sha256:
            raise ReferenceError_(f"capture {capture_id}: page.warc.gz altered in store")
        fd, name = tempfile.mkstemp(prefix="markwatch-", suffix=".warc.gz")
        try:
            with open(fd, "wb") as out:
                materialise(store, stored, out, capture_id)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
    return Path(name)


def write_materialised(store: Store, manifest: dict[str, Any], folder: Path) -> Path | None:
    """`folder/<capture_id>.warc.gz`, the capture's WARC materialised, when it names blobs."""
    if not referenced_blobs(store, manifest):
        return None
    warc = next(a for a in manifest["artifacts"] if a["name"] == "page.warc.gz")
    full = materialised_file(store, warc["sha256"], manifest["capture_id"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{manifest['capture_id']}.warc.gz"
    try:
        shutil.move(full, target)
    finally:
        full.unlink(missing_ok=True)
    return target


def _write_full(store: Store, writer: WarcRecordWriter, headers: list[tuple[str, str]],
                head: bytes, capture_id: str) -> None:
    fields = {k.lower(): v for k, v in headers}
    sha = fields[dedup.PAYLOAD_SHA256.lower()].lower()
    kind = fields.get(dedup.MATERIALISE_AS.lower(), "response")
    uri = fields.get("warc-target-uri", "")
    original = fields.get(dedup.ORIGINAL_CAPTURE.lower())
    ref = Reference(uri, sha, int(fields.get(dedup.PAYLOAD_LENGTH.lower(), "-1")), original)
    try:
        payload = b"".join(store.iter_blob(sha))
    except KeyError as exc:
        raise ReferenceError_(f"capture {capture_id}: {ref.describe(capture_id)}: missing "
                              "from the store") from exc
    if hashlib.sha256(payload).hexdigest() != sha:
        raise ReferenceError_(f"capture {capture_id}: {ref.describe(capture_id)}: altered")
    keep = [(k, v) for k, v in headers if k.lower() not in _DROP
            and not (kind == "response" and k.lower() == "warc-refers-to")]
    block = head + payload
    if kind == "response":
        block_digest = digest_label(hashlib.sha256(block))
        expected = fields.get(dedup.ORIGINAL_BLOCK.lower())
        if expected and expected != block_digest:
            raise ReferenceError_(f"capture {capture_id}: {ref.describe(capture_id)}: the "
                                  "restored record's block digest differs from the recorded one")
        content_type = "application/http; msgtype=response"
        media = _header(head, b"content-type")
        level = PACKED_LEVEL if packed(media, _header(head, b"content-encoding")) else None
    else:
        block_digest = digest_label(hashlib.sha256(block))
        content_type = fields.get(dedup.MATERIALISE_TYPE.lower(), "application/octet-stream")
        level = PACKED_LEVEL if packed(content_type) else None
    # WARC-Type first, as every writer of ours puts it
    writer.write([("WARC-Type", kind), *keep, ("WARC-Block-Digest", block_digest)],
                 io.BytesIO(block), len(block), content_type, level=level)


def _header(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def _copy(src: IO[bytes], out: IO[bytes], length: int) -> None:
    left = length
    while left > 0:
        chunk = src.read(min(left, 1 << 20))
        if not chunk:
            raise MarkwatchError("WARC shorter than its records")
        out.write(chunk)
        left -= len(chunk)


__all__ = [
    "Reference",
    "ReferenceError_",
    "check_references",
    "materialise",
    "materialised_file",
    "referenced_blobs",
    "referenced_payload_problems",
    "references",
    "write_materialised",
]
