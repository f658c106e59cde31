"""A fault-injecting HTTP reverse proxy on 127.0.0.1, put between a store and its S3 server.

Told what to break, it answers 503 or SlowDown, resets connections, delays responses, flips one
byte of a PUT body on the way, or stops accepting connections (server down) and comes back.
Each fault holds for the next N matching requests or for a time window. Thread-based: one
accept thread, one thread per client connection (bounded), one upstream connection each.
Plain HTTP/1.1 with keep-alive; the Host header is passed through so SigV4 signatures hold.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "expect",
                        "proxy-connection", "te", "upgrade"})
MAX_BODY = 256 * 1024 * 1024
MAX_DELAY = 30.0
SLOWDOWN_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                b"<Message>Please reduce your request rate.</Message></Error>")


@dataclass
class Fault:
    """One fault rule: what to do, to which requests, for how long."""

    action: str
    """'503', 'slowdown', 'reset', 'delay' or 'flip'."""
    remaining: int | None = 1
    """How many more matching requests it applies to (None: until `until`)."""
    until: float | None = None
    """time.monotonic() after which it no longer applies (None: until `remaining` is 0)."""
    seconds: float = 0.0
    """For 'delay': how long to hold the response."""

    def active(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.remaining is None or self.remaining > 0

    def matches(self, method: str, body: bytes) -> bool:
        return self.action != "flip" or (method == "PUT" and len(body) > 0)


class FaultProxy:
    """Reverse proxy to `upstream` (http://host:port) with injectable faults."""

    def __init__(self, upstream: str, *, max_connections: int = 64) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.port = 0
        self.applied: collections.Counter[str] = collections.Counter()
        self.log: collections.deque[tuple[str, str, int]] = collections.deque(maxlen=2000)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._accept_thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start listening (on a free port the first time, the same port after `down`)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._accept_thread = threading.Thread(target=self._accept, args=(sock,),
                                               name=f"faultproxy-{self.port}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._timer is not None:
            self._timer.cancel()
        self.down()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def down(self, seconds: float | None = None) -> None:
        """Stop accepting (connections are refused) and reset open ones; back after `seconds`."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            _reset(client, wake=True)
        if seconds is not None:
            self._timer = threading.Timer(min(seconds, MAX_DELAY), self.up)
            self._timer.daemon = True
            self._timer.start()

    def up(self) -> None:
        """Accept connections again, on the same port."""
        if self._listener is None:
            self.start()

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def add(self, action: str, n: int | None = 1, *, window: float | None = None,
            seconds: float = 0.0) -> None:
        """Apply `action` to the next `n` matching requests, or to all within `window` seconds."""
        if n is None and window is None:
            raise ValueError("a fault needs a count or a time window")
        until = time.monotonic() + window if window is not None else None
        fault = Fault(action, None if n is None else n, until, min(seconds, MAX_DELAY))
        with self._lock:
            self._faults.append(fault)

    def fail_503(self, n: int | None = 1, *, window: float | None = None) -> None:
        self.add("503", n, window=window)

    def slowdown(self, n: int | None = 1, *, window: float | None = None) -> None:
        self.add("slowdown", n, window=window)

    def reset(self, n: int | None = 1, *, window: float | None = None) -> None:
        self.add("reset", n, window=window)

    def delay(self, seconds: float, n: int | None = 1, *, window: float | None = None) -> None:
        self.add("delay", n, window=window, seconds=seconds)

    def flip_byte(self, n: int | None = 1, *, window: float | None = None) -> None:
        self.add("flip", n, window=window)

    def pending(self) -> int:
        """Faults that still apply to some future request."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for f in self._faults if f.active(now))

    # -- serving ---------------------------------------------------------------------------

    def _take(self, method: str, body: bytes) -> Fault | None:
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if f.active(now)]
            for fault in self._faults:
                if fault.matches(method, body):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    self.applied[fault.action] += 1
                    return fault
        return None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed: down() or stop()
            if not self._slots.acquire(timeout=5):
                _reset(client, wake=False)
                continue
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        client.settimeout(60)
        rfile = client.makefile("rb")
        try:
            while self._handle_one(client, rfile, upstream):
                pass
        except OSError:
            pass  # client went away or was reset on purpose
        finally:
            upstream.close()
            rfile.close()
            with self._lock:
                self._clients.discard(client)
            client.close()
            self._slots.release()

    def _handle_one(self, client: socket.socket, rfile: BinaryIO,
                    upstream: http.client.HTTPConnection) -> bool:
        request = _read_request(client, rfile)
        if request is None:
            return False
        method, target, headers, body = request
        fault = self._take(method, body)
        action = fault.action if fault else None
        if action == "reset":
            self.log.append((method, target, 0))
            rfile.close()  # the socket only really closes once its file is closed too
            _reset(client, wake=False)
            return False
        if action in ("503", "slowdown"):
            payload = SLOWDOWN_XML if action == "slowdown" else b""
            extra = [("Content-Type", "application/xml")] if payload else []
            self.log.append((method, target, 503))
            _respond(client, 503, "Service Unavailable", extra, payload, method)
            return True
        if action == "flip" and body:
            index = len(body) // 2
            body = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1:]
        upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                upstream.putheader(name, value)
        if body or method in ("PUT", "POST"):
            upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders(body or None)
        resp = upstream.getresponse()
        payload = resp.read()
        if fault is not None and action == "delay":
            time.sleep(fault.seconds)
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        if method != "HEAD":
            out = [(k, v) for k, v in out if k.lower() != "content-length"]
            out.append(("Content-Length", str(len(payload))))
        self.log.append((method, target, resp.status))
        _respond(client, resp.status, resp.reason, out, payload, method)
        return True


def _read_request(client: socket.socket, rfile: BinaryIO
                  ) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    line = rfile.readline(65537)
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        raw = rfile.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    if lower.get("expect", "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if lower.get("transfer-encoding", "").lower() == "chunked":
        body = _read_chunked(rfile)
    else:
        length = int(lower.get("content-length", "0") or 0)
        if length > MAX_BODY:
            raise OSError("request body too large for the fault proxy")
        body = rfile.read(length) if length else b""
    return method, target, headers, body


def _read_chunked(rfile: BinaryIO) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > MAX_BODY:
            raise OSError("request body too large for the fault proxy")
        parts.append(rfile.read(size))
        rfile.readline()


def _respond(client: socket.socket, status: int, reason: str, headers: list[tuple[str, str]],
             payload: bytes, method: str) -> None:
    head = [f"HTTP/1.1 {status} {reason}"]
    names = {k.lower() for k, _ in headers}
    if method != "HEAD" and "content-length" not in names:
        headers = [*headers, ("Content-Length", str(len(payload)))]
    head += [f"{k}: {v}" for k, v in headers]
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    client.sendall(data + (payload if method != "HEAD" else b""))


def _reset(sock: socket.socket, *, wake: bool) -> None:
    """Close with RST instead of FIN, like a crashed peer or a dropped NAT entry.

    `wake` also shuts the socket down, to unblock a thread reading it in another thread.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if wake:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
