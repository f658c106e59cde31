"""The `page.warc.gz` artifact of a capture made through the recording proxy."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crawler.evidence.manifest import Artifact, software_info
from crawler.evidence.warc_decoded import spooled_warc
from crawler.recording.proxy import CaptureSession
from crawler.recording.warc_exact import CaptureResource, write_capture_warc

_METADATA = {"listing.json", "results.json"}
"""Artifacts derived from the page (metadata records); the rest are resources."""


def recorded_warc(session: CaptureSession, warcinfo: dict[str, str], *, capture_id: str,
                  started: dt.datetime, page_url: str, artifacts: Iterable[Artifact],
                  limits_hit: list[str]) -> Artifact:
    """Write the capture's WARC (exchanges, TLS chains, capture records) and free the spools."""
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
                        "metadata" if a.name in _METADATA else "resource")
        for a in artifacts
    ]
    extra: dict[str, Any] = {"capture_id": capture_id, "page_url": page_url,
                             "limits_hit_capture": limits_hit}
    warc = spooled_warc()
    try:
        write_capture_warc(warc, session, info, capture_id=capture_id, at=started,
                           page_url=page_url, resources=resources, capture_metadata=extra)
        warc.seek(0)
        data = warc.read()
    finally:
        warc.close()
        session.discard()
    return Artifact("page.warc.gz", "application/warc", data)


def _bytes(data: bytes | Path) -> bytes:
    return data if isinstance(data, bytes) else Path(data).read_bytes()


def warcinfo_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
