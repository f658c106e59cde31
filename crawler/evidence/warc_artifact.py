"""The `page.warc.gz` artifact of a capture, written to a temporary file and stored from it.

Two writers make a capture's WARC: `crawler.recording.warc_exact` from what the recording
proxy kept (byte-exact, the default) and `crawler.evidence.warc_decoded` from the exchanges
Playwright reported (the fallback when the proxy is off, or a page fetched without a browser).
Either way the WARC goes straight to a temporary file, hashed (SHA-256) as it is written, and
the artifact names that file: the store reads it from there in chunks, so a 64 MiB WARC is never
held in memory, let alone twice. The pipeline checks that the store saw the bytes that were
written (`Artifact.sha256`), and the file is removed once the artifact is dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, cast

from crawler.evidence.manifest import Artifact, software_info
from crawler.evidence.warc_decoded import Exchange, write_warc
from crawler.recording.dedup import DedupIndex
from crawler.recording.proxy import CaptureSession
from crawler.recording.warc_exact import CaptureResource, write_capture_warc

_METADATA = {"listing.json", "results.json"}
"""Artifacts derived from the page (metadata records); the rest are resources."""


class HashingWriter:
    """A file opened for writing that hashes (SHA-256) and counts every byte written to it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()

    def tell(self) -> int:
        return self.size


def warc_file_artifact(write: Callable[[IO[bytes]], object]) -> Artifact:
    """`page.warc.gz` as `write` writes it, in a temporary file removed with the artifact."""
    fd, name = tempfile.mkstemp(prefix="markwatch-", suffix=".warc.gz")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            out = HashingWriter(fh)
            write(cast("IO[bytes]", out))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    artifact = Artifact("page.warc.gz", "application/warc", path,
                        sha256=out.digest.hexdigest())
    weakref.finalize(artifact, _remove, path)
    return artifact


def recorded_warc(session: CaptureSession, warcinfo: dict[str, str], *, capture_id: str,
                  started: dt.datetime, page_url: str, artifacts: Iterable[Artifact],
                  limits_hit: list[str], dedup_index: DedupIndex | None = None,
                  payloads: list[tuple[str, bytes]] | None = None) -> Artifact:
    """Write the capture's WARC (exchanges, TLS chains, capture records) and free the spools.

    With `dedup_index` (and a `payloads` list to fill), the `artifacts` and eligible response
    payloads are stored apart, as blobs, and the WARC holds revisit records naming them
    (`crawler.recording.dedup`); the caller stores `payloads` before the WARC."""
    software = software_info()
    info = {
        **warcinfo,
        "software": f"markwatch/{software['version']} (scrapy {software['scrapy']}, "
                    f"scrapy-playwright {software['scrapy_playwright']}, "
                    f"playwright {software['playwright']})",
        "recorder": "markwatch recording proxy (HTTP/1.1 to site and browser; TLS verified "
                    "by the proxy; " + (
                        "requests told apart by a per-capture tag the proxy strips)"
                        if session.tagged else "one listening port per capture)"),
        "egress-ip": ", ".join(sorted(session.egress_ips)) or "none",
        "limits-hit": "; ".join(limits_hit) or "none",
    }
    resources = [
        CaptureResource(a.name, a.media_type, _bytes(a.data),
                        "metadata" if a.name in _METADATA else "resource",
                        stored_apart=dedup_index is not None and payloads is not None)
        for a in artifacts
    ]
    extra: dict[str, Any] = {"capture_id": capture_id, "page_url": page_url,
                             "limits_hit_capture": limits_hit}
    try:
        return warc_file_artifact(lambda out: write_capture_warc(
            out, session, info, capture_id=capture_id, at=started, page_url=page_url,
            resources=resources, capture_metadata=extra, dedup_index=dedup_index,
            payloads=payloads))
    finally:
        session.discard()


def decoded_warc(exchanges: Iterable[Exchange], warcinfo: dict[str, str], *, capture_id: str,
                 started: dt.datetime) -> Artifact:
    """Write the WARC of a capture made without the recording proxy (decoded bodies)."""
    return warc_file_artifact(lambda out: write_warc(out, exchanges, warcinfo,
                                                     capture_id=capture_id, at=started))


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _bytes(data: bytes | Path) -> bytes:
    return data if isinstance(data, bytes) else Path(data).read_bytes()
