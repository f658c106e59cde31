"""Replay of a capture's WARC inside the portal, isolated from it.

Each recorded response is served at `/replay/<capture_id>/<ticket>/r/<n>` with its recorded body and
only a sanitised Content-Type (recorded Set-Cookie and every other header are dropped). The
page's links to recorded URLs are rewritten to those paths; anything not recorded is not
fetched: the replay CSP (`crawler.portal.security.REPLAY_CSP`) allows only the replay's own
origin and makes each replayed document a sandbox with an opaque origin, shown in an
`<iframe sandbox="allow-scripts">`, so replayed scripts run but cannot read the portal's
cookies, storage or API. Why not ReplayWeb.page or pywb: docs/portal.md.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator

from crawler.evidence.warc_refs import ReferenceError_, materialised_file
from storage.base import Store

MAX_WARC = 64 * 1024 * 1024
_CACHE = 8
_TYPE = re.compile(r"^[a-z0-9.+-]+/[a-z0-9.+-]+$")
_META_REFRESH = re.compile(r"<meta[^>]+http-equiv\s*=\s*[\"']?refresh[^>]*>", re.I)
_REWRITABLE = ("text/html", "text/css", "application/javascript", "text/javascript")


@dataclass(frozen=True)
class Recorded:
    """One recorded response."""

    url: str
    status: int
    media_type: str
    body: bytes


class ReplayError(Exception):
    """The WARC cannot be replayed (missing, too big, unreadable)."""


class Archive:
    """The responses of one capture's WARC, with the capture's page first."""

    def __init__(self, capture_id: str, responses: list[Recorded], page_url: str) -> None:
        self.capture_id = capture_id
        self.responses = responses
        self.index = {r.url: n for n, r in enumerate(responses)}
        self.page = self.index.get(page_url, 0 if responses else -1)

    def path(self, n: int, ticket: str) -> str:
        return f"/replay/{self.capture_id}/{ticket}/r/{n}"

    def body(self, n: int, ticket: str) -> tuple[Recorded, bytes]:
        """A response and its body with recorded URLs pointed at the replay."""
        rec = self.responses[n]
        if not rec.media_type.startswith(_REWRITABLE):
            return rec, rec.body
        text = rec.body.decode("utf-8", errors="replace")
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(rec.url))
        for url, m in sorted(self.index.items(), key=lambda kv: -len(kv[0])):
            target = self.path(m, ticket)
            text = text.replace(url, target)
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" == origin and parts.path:
                local = parts.path + (f"?{parts.query}" if parts.query else "")
                for quote in ('"', "'", "("):
                    text = text.replace(quote + local + (")" if quote == "(" else quote),
                                        quote + target + (")" if quote == "(" else quote))
        if rec.media_type == "text/html":  # no timed jump to the live site
            text = _META_REFRESH.sub("<!-- meta refresh removed by markwatch replay -->", text)
        return rec, text.encode("utf-8")


def load(store: Store, capture_id: str, warc_sha256: str, page_url: str) -> Archive:
    """Read the capture's WARC (bounded) into an `Archive`; cached for a few captures."""
    key = (capture_id, warc_sha256)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    buf = bytearray()
    try:
        for chunk in _full_warc(store, warc_sha256, capture_id):
            buf += chunk
            if len(buf) > MAX_WARC:
                raise ReplayError(f"WARC larger than {MAX_WARC} bytes")
    except KeyError as exc:
        raise ReplayError("WARC missing from the store") from exc
    responses: list[Recorded] = []
    try:
        for record in ArchiveIterator(io.BytesIO(bytes(buf))):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            status = int(record.http_headers.get_statuscode() or 200)
            media = (record.http_headers.get_header("Content-Type") or "").split(";")[0]
            media = media.strip().lower()
            responses.append(Recorded(url, status, media if _TYPE.match(media) else
                                      "application/octet-stream", record.content_stream().read()))
    except Exception as exc:  # warcio raises many kinds on a damaged file: a boundary
        raise ReplayError(f"WARC unreadable: {exc}") from exc
    archive = Archive(capture_id, responses, page_url)
    with _lock:
        _cache[key] = archive
        while len(_cache) > _CACHE:
            _cache.popitem(last=False)
    return archive


def _full_warc(store: Store, warc_sha256: str, capture_id: str) -> Iterator[bytes]:
    """The capture's WARC with its payload blobs restored (`crawler.evidence.warc_refs`)."""
    try:
        path = materialised_file(store, warc_sha256, capture_id)
    except ReferenceError_ as exc:
        raise ReplayError(str(exc)) from exc
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


_cache: OrderedDict[tuple[str, str], Archive] = OrderedDict()
_lock = threading.Lock()
