"""Conditional fetches of static assets the run's store already holds (scripts, styles, fonts).

When a capture's page asks for a script, style sheet or font (Chromium's `Sec-Fetch-Dest`:
`script`, `style`, `font`; never `document`, `iframe`, `empty` (XHR/fetch), `image` or anything
else that shows the listing) whose payload an earlier capture of this run stored as a blob
(`crawler.recording.dedup`), the recording proxy asks the site whether it changed: it adds
`If-None-Match` / `If-Modified-Since` from the stored response's validators. On
`304 Not Modified` it serves the stored response (head and payload as first received) to the
browser, and the capture's WARC records the 304 as a WARC 1.1 `revisit` record
(server-not-modified profile, naming the original) plus the response the browser was served
as an identical-payload-digest revisit naming the payload blob (`WARC-Markwatch-Served`), which
exports restore to a full record. Any other answer is relayed and recorded as usual. With
`immutable` (`EVIDENCE_STATIC_REVALIDATE=immutable`, the default) a stored response marked
`Cache-Control: immutable` and still fresh (`max-age`) is served without asking the site at all,
and its revisit says so (`WARC-Markwatch-Fetch: not fetched: immutable, fresh until ...`).

`StaticIndex` is bounded: at most `max_entries` URLs (an LRU; heads over `MAX_HEAD` are not
kept), about 1 KiB each, so 4 MiB at the default 4,096. A payload is read from the store the
first time it is served and checked against its SHA-256; the checked payloads are then kept in
a second LRU of at most `max_payload_bytes` (8 MiB by default), so the style sheet every page
of a site loads is not read from the store again for each capture: on an S3 archive that read
was a GET on the render-blocking path of every page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from crawler.clock import isoformat
from crawler.recording import dedup
from crawler.recording.http1 import Head

STATIC_DESTS = frozenset({"script", "style", "font"})
"""The only `Sec-Fetch-Dest` values revalidated: what a page loads to run or look, never what
shows the listing."""
MODES = ("off", "conditional", "immutable")
MAX_HEAD = 8 * 1024
"""Largest stored response head kept to serve again."""
NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
SERVED = "WARC-Markwatch-Served"
"""On the revisit record of a response served from the store: why it was."""
FETCH = "WARC-Markwatch-Fetch"
"""On a response served without asking the site: `not fetched: immutable, fresh until ...`."""
_REQUEST_VALIDATORS = (b"if-none-match", b"if-modified-since", b"if-match",
                       b"if-unmodified-since", b"if-range", b"range")


@dataclass(frozen=True)
class StoredResponse:
    """A static asset's response as first recorded, its payload a stored blob."""

    url: str
    origin: str
    head: bytes
    """The response head as received (status line, headers, blank line)."""
    sha256: str
    payload_size: int
    payload_digest: str
    """`sha256:BASE32` of the payload (the WARC form)."""
    block_digest: str
    """`sha256:BASE32` of head and payload: the full record's block."""
    etag: str | None
    last_modified: str | None
    fresh_until: dt.datetime | None
    """When `Cache-Control: immutable, max-age=N`: the time it stops being fresh."""
    original: dedup.Original


@dataclass
class Served:
    """What the proxy did for one request it answered from the store."""

    stored: StoredResponse
    payload: bytes
    not_fetched: str | None = None
    """Set when the site was not asked at all (immutable and fresh)."""


def parse_head(head: bytes) -> Head:
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    return Head(lines[0], lines[1:])


def freshness(head: Head, received: dt.datetime) -> dt.datetime | None:
    """Until when an `immutable` response stays fresh (None: not immutable, or no max-age)."""
    tokens = head.tokens(b"cache-control")
    if "immutable" not in tokens or tokens & {"no-store", "no-cache", "private"}:
        return None
    for token in tokens:
        name, _, value = token.partition("=")
        if name.strip() == "max-age":
            try:
                seconds = int(value.strip().strip('"'))
            except ValueError:
                return None
            try:
                age = int((head.value(b"age") or "0").split(",")[0])
            except ValueError:
                age = 0
            if seconds - age > 0:
                return received + dt.timedelta(seconds=seconds - age)
    return None


def servable(head: Head, status: int | None) -> bool:
    """Whether a stored response can be served again as it was: 200, framed by length or
    chunks, no cookie set, no `Vary: *`, the connection kept open."""
    if status != 200 or head.value(b"set-cookie") is not None:
        return False
    if "*" in head.tokens(b"vary") or "close" in head.tokens(b"connection"):
        return False
    if head.first.startswith(b"HTTP/1.0"):
        return False
    return head.value(b"content-length") is not None or \
        "chunked" in head.tokens(b"transfer-encoding")


class StaticIndex:
    """Static assets of this run whose payload the store holds: (URL, Origin) -> response.

    An LRU of at most `max_entries`. `reader(sha256)` reads a payload blob from the store
    (None when it is not there yet: the capture that stored it may still be in the pipeline);
    payloads read and checked are kept, at most `max_payload_bytes` of them (an LRU by SHA-256).
    """

    def __init__(self, mode: str = "immutable", max_entries: int = 4096,
                 reader: Callable[[str], bytes | None] | None = None,
                 max_payload_bytes: int = 8 * 1024 * 1024) -> None:
        if mode not in MODES:
            raise ValueError(f"static revalidation mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.max_entries = max_entries
        self.reader = reader
        self.max_payload_bytes = max_payload_bytes
        self.payload_reads = 0
        """Payloads read from the store (not served from the checked ones kept)."""
        self._known: OrderedDict[tuple[str, str], StoredResponse] = OrderedDict()
        self._payloads: OrderedDict[str, bytes] = OrderedDict()
        self._payload_bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def remember(self, url: str, origin: str | None, dest: str | None, status: int | None,
                 head: bytes, sha256: str, payload_size: int, payload_digest: str,
                 block_digest: str, received: dt.datetime, original: dedup.Original) -> bool:
        """Keep a recorded response whose payload is a stored blob, if it can be revalidated."""
        if self.mode == "off" or dest not in STATIC_DESTS or len(head) > MAX_HEAD:
            return False
        parsed = parse_head(head)
        if not servable(parsed, status):
            return False
        etag = parsed.value(b"etag")
        modified = parsed.value(b"last-modified")
        fresh = freshness(parsed, received)
        if etag is None and modified is None and fresh is None:
            return False
        entry = StoredResponse(url, origin or "", head, sha256, payload_size, payload_digest,
                               block_digest, etag, modified, fresh, original)
        with self._lock:
            self._known[(url, origin or "")] = entry
            self._known.move_to_end((url, origin or ""))
            while len(self._known) > self.max_entries:
                self._known.popitem(last=False)
        return True

    def lookup(self, url: str, request: Head) -> StoredResponse | None:
        """The stored response a GET for `url` may be revalidated against, or None."""
        if self.mode == "off" or request.parts[0] != b"GET":
            return None
        dest = (request.value(b"sec-fetch-dest") or "").strip().lower()
        if dest not in STATIC_DESTS:
            return None
        if any(request.value(name) is not None for name in _REQUEST_VALIDATORS):
            return None  # the browser asks for something of its own: relayed as it is
        key = (url, request.value(b"origin") or "")
        with self._lock:
            found = self._known.get(key)
            if found is not None:
                self._known.move_to_end(key)
        return found

    def payload(self, stored: StoredResponse) -> bytes | None:
        """The stored payload, checked against its SHA-256 (None if unreadable or altered)."""
        with self._lock:
            kept = self._payloads.get(stored.sha256)
            if kept is not None:
                self._payloads.move_to_end(stored.sha256)
                return kept
            if self.reader is None:
                return None
            self.payload_reads += 1
        try:
            data = self.reader(stored.sha256)
        except (KeyError, OSError):
            return None
        if data is None or len(data) != stored.payload_size \
                or hashlib.sha256(data).hexdigest() != stored.sha256:
            return None
        self._keep(stored.sha256, data)
        return data

    def _keep(self, sha256: str, data: bytes) -> None:
        """Keep a checked payload, dropping the least recently served beyond the bound."""
        if len(data) > self.max_payload_bytes:
            return
        with self._lock:
            if sha256 in self._payloads:
                return
            self._payloads[sha256] = data
            self._payload_bytes += len(data)
            while self._payload_bytes > self.max_payload_bytes:
                _, dropped = self._payloads.popitem(last=False)
                self._payload_bytes -= len(dropped)

    @property
    def payloads_kept(self) -> int:
        """How many checked payloads are kept now."""
        return len(self._payloads)

    @property
    def payload_bytes(self) -> int:
        """Bytes of checked payloads kept now (at most `max_payload_bytes`)."""
        return self._payload_bytes

    def skip_network(self, stored: StoredResponse, now: dt.datetime) -> str | None:
        """The note for a response served without asking the site, or None to ask it."""
        if self.mode != "immutable" or stored.fresh_until is None or now >= stored.fresh_until:
            return None
        return f"not fetched: immutable, fresh until {isoformat(stored.fresh_until)}"


def conditional_lines(stored: StoredResponse) -> bytes:
    """The request header lines that ask whether `stored` changed."""
    out = b""
    if stored.etag is not None:
        out += b"If-None-Match: " + stored.etag.encode("latin-1") + b"\r\n"
    if stored.last_modified is not None:
        out += b"If-Modified-Since: " + stored.last_modified.encode("latin-1") + b"\r\n"
    return out
