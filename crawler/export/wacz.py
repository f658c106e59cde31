"""`markwatch evidence export --format wacz`: captures as one WACZ, for pywb or ReplayWeb.page.

The package holds each capture's `page.warc.gz` as stored (its SHA-256 is checked against the
manifest while it is copied), with every revisit record that names a payload blob restored to
the full record it stands for, so the package is complete on its own (docs/fidelity.md); a CDXJ
index over them, `pages/pages.jsonl` with one page per capture, and `datapackage.json` with a
SHA-256 per file (plus `datapackage-digest.json`). Everything is stored uncompressed in the ZIP,
as WACZ requires for WARCs, so a replay tool can read records by offset. Nothing is held in
memory whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from warcio.archiveiterator import ArchiveIterator

from crawler import __version__
from crawler.clock import Clock, isoformat
from crawler.evidence.verify import Verifier
from crawler.evidence.warc_refs import materialised_file
from crawler.exceptions import ConfigError, MarkwatchError
from crawler.export.bundle import ExportResult
from crawler.recording.conditional import NOT_MODIFIED
from crawler.seal import custody
from crawler.seal.config import SealConfig
from storage.base import Store
from storage.catalog import Catalog

__all__ = ["WACZ_VERSION", "export_wacz"]

WACZ_VERSION = "1.1.1"
"""The `wacz_version` written. The layout follows WACZ 1.2.0 too, but py-wacz's `wacz validate`
(0.6.0, the reference validator) rejects any version other than 1.1.1; see docs/fidelity.md."""

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_INDEXED = {"response", "resource", "metadata", "revisit"}


def export_wacz(store: Store, catalog: Catalog | None, capture_ids: Sequence[str],
                output: Path, *, seal_config: SealConfig, clock: Clock,
                pdf: bool = True) -> ExportResult:
    """Write `capture_ids` as one WACZ at `output` (new file); MarkwatchError if unable."""
    if output.exists():
        raise ConfigError(f"{output} already exists; not overwriting it")
    ids = list(dict.fromkeys(capture_ids))
    verifier = Verifier(store, catalog)
    bad = [f"{v.capture_id}: {p}" for v in map(verifier.verify, ids) for p in v.problems]
    if bad:
        raise MarkwatchError("refusing to export evidence that does not verify: "
                             + "; ".join(bad[:10]))
    result = ExportResult(output, ids)
    with tempfile.TemporaryDirectory(prefix="markwatch-wacz-") as tmp:
        root = Path(tmp)
        (root / "archive").mkdir()
        pages: list[dict[str, Any]] = []
        index: list[str] = []
        for cid in ids:
            manifest = _manifest(store, verifier, cid)
            name = f"{cid}.warc.gz"
            warc = root / "archive" / name
            _copy_warc(store, manifest, warc)
            index += cdxj_lines(warc, name)
            pages.append(_page(manifest))
        index.sort()
        (root / "indexes").mkdir()
        (root / "indexes" / "index.cdx").write_text("".join(index), encoding="utf-8")
        (root / "pages").mkdir()
        header = {"format": "json-pages-1.0", "id": "pages", "title": "markwatch captures"}
        (root / "pages" / "pages.jsonl").write_text(
            "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in [header, *pages]),
            encoding="utf-8")
        files = [f"archive/{cid}.warc.gz" for cid in ids] + ["indexes/index.cdx",
                                                             "pages/pages.jsonl"]
        package = {
            "profile": "data-package",
            "wacz_version": WACZ_VERSION,
            "title": f"markwatch export of {len(ids)} capture(s)",
            "created": isoformat(clock.now()),
            "modified": isoformat(clock.now()),
            "software": f"markwatch {__version__}",
            "mainPageURL": pages[0]["url"] if pages else None,
            "mainPageDate": pages[0]["ts"] if pages else None,
            "resources": [_resource(root, path) for path in files],
        }
        data = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
        (root / "datapackage.json").write_bytes(data)
        digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
        (root / "datapackage-digest.json").write_text(json.dumps(digest, indent=2) + "\n",
                                                      encoding="utf-8")
        _zip(root, [*files, "datapackage.json", "datapackage-digest.json"], output)
    result.files = len(files) + 2
    custody.append(store, "exported", clock=clock, actor=seal_config.actor, capture_ids=ids,
                   details={"bundle": output.name, "format": "wacz"})
    return result


def _manifest(store: Store, verifier: Verifier, capture_id: str) -> dict[str, Any]:
    key = verifier.manifest_key(capture_id)
    if key is None:
        raise MarkwatchError(f"no capture {capture_id} in the store")
    manifest: dict[str, Any] = json.loads(store.read_document(key))
    return manifest


def _copy_warc(store: Store, manifest: dict[str, Any], dest: Path) -> None:
    """The capture's WARC, complete: revisit records naming payload blobs are restored to full
    records (`crawler.evidence.warc_refs`); a WARC without them is copied as stored."""
    entry = next((a for a in manifest["artifacts"] if a["name"] == "page.warc.gz"), None)
    if entry is None:
        raise MarkwatchError(f"capture {manifest['capture_id']} has no page.warc.gz")
    full = materialised_file(store, entry["sha256"], manifest["capture_id"])
    try:
        shutil.move(full, dest)
    finally:
        full.unlink(missing_ok=True)


def _page(manifest: dict[str, Any]) -> dict[str, Any]:
    listing = manifest.get("listing") or {}
    title = listing.get("title") or f"{manifest['kind']}: {manifest['final_url']}"
    return {"id": manifest["capture_id"], "url": manifest["final_url"],
            "ts": manifest["started_at"], "title": title}


def cdxj_lines(warc: Path, filename: str) -> list[str]:
    """One CDXJ line (`SURT TIMESTAMP JSON`) per replayable record of `warc`."""
    out = []
    with warc.open("rb") as stream:
        records = ArchiveIterator(stream)
        for record in records:
            if record.rec_type not in _INDEXED or record.rec_headers.get_header(
                    "WARC-Profile") == NOT_MODIFIED:
                # a site's 304 stays in the WARC as evidence; replay serves the response the
                # browser was given (crawler/recording/conditional.py)
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date") or ""
            entry: dict[str, Any] = {"url": url}
            if record.rec_type == "response" and record.http_headers is not None:
                entry["mime"] = _mime(record.http_headers.get_header("Content-Type"))
                entry["status"] = record.http_headers.get_statuscode()
            else:
                entry["mime"] = _mime(record.rec_headers.get_header("Content-Type"))
                entry["status"] = "200"
            entry["digest"] = (record.rec_headers.get_header("WARC-Payload-Digest")
                               or record.rec_headers.get_header("WARC-Block-Digest"))
            records.read_to_end(record)  # in chunks; the length is known after it
            entry["length"] = str(records.get_record_length())
            entry["offset"] = str(records.get_record_offset())
            entry["filename"] = filename
            if record.rec_type != "response":
                entry["recordType"] = record.rec_type
            out.append(f"{surt(url)} {_timestamp(date)} {json.dumps(entry)}\n")
    return out


def surt(url: str) -> str:
    """Sort-friendly URI Reordering Transform, as pywb and the `surt` package make it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url.lower()
    host = parts.hostname.lower()
    labels = host.split(".")
    if labels[0].startswith("www") and labels[0][3:].isdigit() and len(labels) > 2:
        labels = labels[1:]
    default = 443 if parts.scheme == "https" else 80
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    path = (parts.path or "/") + (f"?{query}" if query else "")
    return ",".join(reversed(labels)) + port + ")" + path.lower()


def _timestamp(warc_date: str) -> str:
    return "".join(ch for ch in warc_date if ch.isdigit())[:14]


def _mime(value: str | None) -> str:
    return (value or "unk").split(";")[0].strip().lower() or "unk"


def _resource(root: Path, path: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with (root / path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"name": Path(path).name.lower(), "path": path, "hash": f"sha256:{digest.hexdigest()}",
            "bytes": size}


def _zip(root: Path, files: list[str], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in files:
            info = zipfile.ZipInfo(path, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            with (root / path).open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    partial.replace(output)
