"""Just enough HTTP/1.1 to relay messages byte for byte: heads, framing, bounded decoding."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from crawler.exceptions import MarkwatchError

MAX_HEAD = 64 * 1024
READ_SIZE = 64 * 1024
HOP_TO_PROXY = (b"proxy-connection", b"proxy-authorization")


class ProtocolError(MarkwatchError):
    """A peer of the recording proxy broke HTTP/1.1."""


@dataclass
class Head:
    """A request or response head: the first line and header lines, raw."""

    first: bytes
    lines: list[bytes]
    _index: dict[bytes, list[str]] | None = field(default=None, init=False, repr=False,
                                                   compare=False)
    """The values by lower-cased name, built at the first look-up (a proxied exchange asks
    its heads some fifteen times): `lines` is not changed after a head is read."""

    @property
    def parts(self) -> list[bytes]:
        return self.first.split(b" ", 2)

    def values(self, name: bytes) -> list[str]:
        if self._index is None:
            index: dict[bytes, list[str]] = {}
            for line in self.lines:
                key, _, value = line.partition(b":")
                index.setdefault(key.strip().lower(), []).append(
                    value.strip().decode("latin-1"))
            self._index = index
        return list(self._index.get(name.lower(), ()))

    def value(self, name: bytes) -> str | None:
        found = self.values(name)
        return ", ".join(found) if found else None

    def headers(self) -> list[tuple[str, str]]:
        out = []
        for line in self.lines:
            key, _, value = line.partition(b":")
            out.append((key.strip().decode("latin-1"), value.strip().decode("latin-1")))
        return out

    def to_bytes(self, first: bytes | None = None, drop: tuple[bytes, ...] = ()) -> bytes:
        kept = [ln for ln in self.lines if ln.partition(b":")[0].strip().lower() not in drop]
        return b"\r\n".join([first or self.first, *kept]) + b"\r\n\r\n"

    def tokens(self, name: bytes) -> set[str]:
        return {t.strip().lower() for v in self.values(name) for t in v.split(",")}


async def read_head(reader: asyncio.StreamReader,
                    timeout: float | None) -> tuple[Head, bytes] | None:
    """The next head and its raw bytes, or None at a clean end of stream."""
    try:
        async with asyncio.timeout(timeout):
            raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise ProtocolError("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"message head over {MAX_HEAD} bytes") from exc
    lines = raw[:-4].split(b"\r\n")
    while lines and not lines[0]:  # tolerate stray CRLF between messages
        lines.pop(0)
    if not lines:
        return None
    return Head(lines[0], lines[1:]), raw


def body_framing(head: Head, *, request: bool, method: str = "GET",
                 status: int = 200) -> tuple[str, int]:
    """How a message body is delimited: ("none"|"length"|"chunked"|"close", length)."""
    if not request and (method == "HEAD" or status in (204, 304) or 100 <= status < 200):
        return "none", 0
    if "chunked" in head.tokens(b"transfer-encoding"):
        return "chunked", 0
    length = head.value(b"content-length")
    if length is not None:
        try:
            n = int(length.split(",")[0])
        except ValueError as exc:
            raise ProtocolError(f"bad Content-Length {length!r}") from exc
        return "length", n
    return ("none", 0) if request else ("close", 0)


async def iter_body(reader: asyncio.StreamReader, framing: str, length: int,
                    timeout: float | None) -> AsyncIterator[tuple[bytes, bytes]]:
    """(raw bytes as received, payload bytes after de-chunking) until the body ends."""

    async def read(n: int) -> bytes:
        async with asyncio.timeout(timeout):
            return await reader.read(n)

    async def line() -> bytes:
        async with asyncio.timeout(timeout):
            return await reader.readuntil(b"\r\n")

    if framing == "length":
        left = length
        while left > 0:
            data = await read(min(left, READ_SIZE))
            if not data:
                raise ProtocolError("connection closed inside a body")
            left -= len(data)
            yield data, data
    elif framing == "close":
        while data := await read(READ_SIZE):
            yield data, data
    elif framing == "chunked":
        while True:
            size_line = await line()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError as exc:
                raise ProtocolError("bad chunk size") from exc
            if size == 0:
                raw = size_line
                while (trailer := await line()) != b"\r\n":
                    raw += trailer
                yield raw + trailer, b""
                return
            yield size_line, b""
            left = size
            while left > 0:
                data = await read(min(left, READ_SIZE))
                if not data:
                    raise ProtocolError("connection closed inside a chunk")
                left -= len(data)
                yield data, data
            async with asyncio.timeout(timeout):
                yield await reader.readexactly(2), b""


class DecodedSize:
    """Counts the decoded size of a content-encoded body without keeping it (bomb detection)."""

    def __init__(self, encoding: str | None, limit: int) -> None:
        self.limit = limit
        self.size = 0
        enc = (encoding or "").strip().lower()
        self._zlib = zlib.decompressobj(47) if enc in ("gzip", "x-gzip", "deflate") else None
        self.failed = False

    def feed(self, data: bytes) -> bool:
        """Add payload bytes; False once the decoded size passes the limit."""
        if self._zlib is None or self.failed or not data:
            return True
        try:
            chunk = self._zlib.decompress(data, READ_SIZE)
            self.size += len(chunk)
            while self._zlib.unconsumed_tail and self.size <= self.limit:
                chunk = self._zlib.decompress(self._zlib.unconsumed_tail, READ_SIZE)
                self.size += len(chunk)
        except zlib.error:
            self.failed = True  # not ours to judge: the browser will show what it makes of it
        return self.size <= self.limit


def decode_body(data: bytes, encoding: str | None, limit: int) -> bytes | None:
    """`data` decoded from its Content-Encoding, or None if unknown or over `limit` bytes."""
    enc = (encoding or "identity").strip().lower()
    if enc == "identity":
        return data
    if enc not in ("gzip", "x-gzip", "deflate"):
        return None  # brotli and zstd cannot be decoded with a bound here: not kept decoded
    try:
        out = zlib.decompressobj(47).decompress(data, limit + 1)
    except zlib.error:
        return None
    return None if len(out) > limit else out
