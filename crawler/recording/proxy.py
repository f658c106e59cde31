"""The recording proxy: an HTTP/1.1 proxy on 127.0.0.1 that keeps every exchange byte for byte.

One `RecordingProxy` runs per crawl, on its own thread and event loop. Each capture opens a
`CaptureSession`: a listening port of its own, which only that capture's browser context is
pointed at, so every exchange on that port belongs to that capture (no marker in the traffic,
nothing added to what the site sees). HTTPS is read by answering CONNECT with a certificate
from the run's own CA (`crawler.recording.ca`); the proxy then opens its own TLS connection
upstream, verifies it (the browser no longer can) and keeps the certificate chain it was shown.

Bytes are relayed as they arrive and written once, to a `HashingSpool`; nothing is decoded on
the way except to measure (not keep) the decoded size of a compressed body, so a compression
bomb is cut before the browser inflates it. Caps (exchanges, recorded bytes, decoded size,
idle upstream) end an exchange cleanly and are reported in `CaptureSession.limits_hit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

from crawler.clock import Clock, SystemClock
from crawler.config import CaptureLimits
from crawler.egress import EgressPolicy, EgressRefused
from crawler.recording.ca import RecordingCA
from crawler.recording.conditional import Served, StaticIndex, conditional_lines
from crawler.recording.exchanges import SPOOL_THRESHOLD, HashingSpool, RecordedExchange, TlsSession
from crawler.recording.http1 import (
    HOP_TO_PROXY,
    MAX_HEAD,
    DecodedSize,
    Head,
    ProtocolError,
    body_framing,
    iter_body,
    read_head,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
_HEAD_TIMEOUT = 120.0  # an idle keep-alive connection from the browser


class CaptureSession:
    """Everything one capture's browser context sent and received through the proxy."""

    def __init__(self, token: str, limits: CaptureLimits) -> None:
        self.token = token
        self.limits = limits
        self.port = 0
        self.exchanges: list[RecordedExchange] = []
        self.tls: dict[str, TlsSession] = {}
        self.egress_ips: set[str] = set()
        self.limits_hit: list[str] = []
        self.notes: list[str] = []
        self.refused: list[dict[str, str]] = []
        """Requests refused by the egress policy (or as WebSocket upgrades): url and rule;
        nothing of them is recorded as content."""

        self.recorded_bytes = 0
        self.revalidation: dict[str, int] = {}
        """Static assets answered from the store (`crawler.recording.conditional`), by what
        was done: conditional_sent, conditional_304, conditional_changed, immutable_skipped."""
        self.closed = False
        self.tagged = False
        """True when the capture's requests share a listener and are told apart by a tag."""
        self.context: Any = None
        """The Playwright browser context pointed at this session (set when its page opens)."""
        self.in_flight = 0
        """Requests of this capture the proxy is relaying right now."""
        self.changed = time.monotonic()
        """When `in_flight` last changed (monotonic clock): the capture waits on both for a
        quiet network without asking the browser about every request."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def refuse(self, url: str, rule: str) -> None:
        if len(self.refused) < 1000:
            self.refused.append({"url": url[:2000], "rule": rule})

    def hit(self, message: str) -> None:
        if message not in self.limits_hit:
            self.limits_hit.append(message)

    def count(self, what: str) -> None:
        self.revalidation[what] = self.revalidation.get(what, 0) + 1

    def note(self, message: str) -> None:
        if len(self.notes) < 100 and message not in self.notes:
            self.notes.append(message)

    def discard(self) -> None:
        """Free the spooled bytes (after the WARC is written)."""
        for exchange in self.exchanges:
            exchange.close()

    def __del__(self) -> None:
        # A session dropped without its WARC (a failed capture, a page answered with an error)
        # frees its spools here, rather than leaving each temporary file to the collector.
        for exchange in getattr(self, "exchanges", ()):
            exchange.close()


CAPTURE_HEADER = b"content-language"
"""The header that carries a capture's tag from the browser (`crawler.recording.headers`) to
the proxy, which files the exchange under that capture and strips the header: it is neither
recorded nor sent to the site. `Content-Language` because it is a CORS-safelisted request
header (an alphanumeric value adds no preflight) that browsers never send on their own for
GET; see docs/fidelity.md."""
TAG_PREFIX = "markwatch-"
"""A tag is `TAG_PREFIX` + the session's token (letters, digits and hyphens)."""
_DROP_TAGGED = (*HOP_TO_PROXY, CAPTURE_HEADER)
_PREFLIGHT = "preflight"


def tag_value(token: str) -> str:
    """The `CAPTURE_HEADER` value that claims a request for the capture `token`."""
    return TAG_PREFIX + token


def token_of(head: Head) -> str | None:
    """The capture token a request carries, if any."""
    value = head.value(CAPTURE_HEADER)
    if value is None or not value.startswith(TAG_PREFIX):
        return None
    return value[len(TAG_PREFIX):]


def peer_uid(peer: tuple[str, int] | None, local: tuple[str, int] | None) -> int | None:
    """The user id owning the local TCP socket at `peer` connected to `local` (Linux,
    /proc/net/tcp), or None if it cannot be told."""
    if not peer or not local:
        return None
    want_local = f"0100007F:{peer[1]:04X}"
    want_remote = f"0100007F:{local[1]:04X}"
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 7 and fields[1] == want_local and fields[2] == want_remote:
                    return int(fields[7])
    except OSError:
        return None
    return None


def _is_upgrade(head: Head) -> bool:
    return "upgrade" in head.tokens(b"connection") or head.value(b"upgrade") is not None


def _is_preflight(head: Head) -> bool:
    return head.parts[0] == b"OPTIONS" and head.value(b"access-control-request-method") is not None


class _Conn:
    """One browser connection to the proxy, and the upstream connection it is using."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.tunnel: tuple[str, int] | None = None
        self.up: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.up_key: tuple[str, str, int] | None = None
        self.up_tls: str | None = None
        self.up_ip: str | None = None
        self.up_session: CaptureSession | None = None
        """The capture the upstream connection last carried an exchange for."""
        self.up_egress: str | None = None
        self.up_tls_session: TlsSession | None = None

    def close_upstream(self) -> None:
        if self.up is not None:
            self.up[1].close()
        self.up = self.up_key = self.up_session = None
        self.up_egress = self.up_tls_session = None


class RecordingProxy:
    """The proxy: start once, open a session per capture, close it, stop at the end."""

    def __init__(self, ca: RecordingCA | None = None, *, verify_tls: bool = True,
                 ca_file: str | None = None, clock: Clock | None = None,
                 spool_threshold: int = SPOOL_THRESHOLD,
                 egress: EgressPolicy | None = None,
                 static: StaticIndex | None = None) -> None:
        self.ca = ca or RecordingCA()
        self.egress = egress if egress is not None else EgressPolicy()
        """Where the proxy may connect (`crawler.egress`): the public internet by default."""
        self.uid = os.getuid()
        """Only sockets of this user may use the proxy (other local users are refused)."""
        self.unauthorized = 0
        """Connections refused: another user's socket, or a request without a capture's
        token (407)."""
        self.refused_unclaimed: list[dict[str, str]] = []
        """Egress refusals of requests no capture claimed (CORS preflights)."""
        self.clock = clock or SystemClock()
        self.static = static
        """Static assets the store holds, revalidated rather than fetched again (None: off)."""
        self.verify_tls = verify_tls
        self.spool_threshold = spool_threshold
        self._verifying = ssl.create_default_context()
        if ca_file:
            self._verifying.load_verify_locations(ca_file)
        self._insecure = ssl.create_default_context()
        self._insecure.check_hostname = False
        self._insecure.verify_mode = ssl.CERT_NONE
        for context in (self._verifying, self._insecure):
            context.set_alpn_protocols(["http/1.1"])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._shared: asyncio.Server | None = None
        self._tagged: dict[str, CaptureSession] = {}
        self._connections: set[asyncio.Task[Any]] = set()
        self.unclaimed = 0
        """Requests no open capture claimed (untagged, or after their capture): refused."""
        self.preflights = 0
        """CORS preflights relayed for the browser but recorded in no capture: Chromium sends
        them without the page's headers, so no tag says whose they are (they carry no content,
        only the site's permission for the request that follows, which is recorded)."""

    # -- lifecycle (any thread) --------------------------------------------------------------

    def start(self) -> RecordingProxy:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="markwatch-recording-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and loop.is_running():
            # end the browser's connections on the proxy's loop, not by garbage collection
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            except (TimeoutError, RuntimeError) as exc:
                logger.debug("recording proxy: connections not all closed: %r", exc)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if loop is not None and not loop.is_running():
            loop.close()
        self.ca.close()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _on_proxy_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the recording proxy is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def open_session(self, token: str, limits: CaptureLimits) -> CaptureSession:
        """A new session listening on its own 127.0.0.1 port (call from any event loop)."""
        return await self._on_proxy_loop(self._open(token, limits))

    async def open_shared(self) -> int:
        """Start the shared listener (one port for a browser context whose pages are told
        apart by `CAPTURE_HEADER`); returns its port. Idempotent."""
        return await self._on_proxy_loop(self._open_shared())

    async def open_tagged_session(self, token: str, limits: CaptureLimits) -> CaptureSession:
        """A session receiving the shared listener's requests tagged with `token`."""
        return await self._on_proxy_loop(self._open_tagged(token, limits))

    async def close_session(self, session: CaptureSession) -> CaptureSession:
        """Stop the session: no new connections; exchanges still open are cut (`time`)."""
        return await self._on_proxy_loop(self._close(session))

    # -- on the proxy loop -------------------------------------------------------------------

    async def _open(self, token: str, limits: CaptureLimits) -> CaptureSession:
        session = CaptureSession(token, limits)

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # every connection on this port is the session's, for its whole life
            task = asyncio.current_task()
            if task is not None:
                session._tasks.add(task)
            try:
                await self._serve(reader, writer,
                                  lambda head: session if token_of(head) == session.token
                                  or _is_preflight(head) else None)
            finally:
                if task is not None:
                    session._tasks.discard(task)

        server = await asyncio.start_server(client, "127.0.0.1", 0, limit=MAX_HEAD)
        session._server = server
        session.port = server.sockets[0].getsockname()[1]
        return session

    async def _open_shared(self) -> int:
        if self._shared is None:
            self._shared = await asyncio.start_server(self._shared_client, "127.0.0.1", 0,
                                                      limit=MAX_HEAD)
        return int(self._shared.sockets[0].getsockname()[1])

    async def _open_tagged(self, token: str, limits: CaptureLimits) -> CaptureSession:
        session = CaptureSession(token, limits)
        session.tagged = True
        session.port = await self._open_shared()
        self._tagged[token] = session
        return session

    async def _shared_client(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        """A connection shared by a context's pages: requests go by their `CAPTURE_HEADER`."""
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve(reader, writer,
                              lambda head: self._tagged.get(token_of(head) or ""))
        finally:
            if task is not None:
                self._connections.discard(task)

    async def _shutdown(self) -> None:
        """Stop listening and end every connection still open (the browser's keep-alives)."""
        if self._shared is not None:
            self._shared.close()
        for session in list(self._tagged.values()):
            await self._close(session)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)

    async def _close(self, session: CaptureSession) -> CaptureSession:
        if session.closed:
            return session
        session.closed = True
        if self._tagged.get(session.token) is session:
            del self._tagged[session.token]
        if session._server is not None:
            session._server.close()
        for task in list(session._tasks):
            task.cancel()
        if session._tasks:
            await asyncio.wait(list(session._tasks), timeout=5)
        for exchange in session.exchanges:
            if not exchange.complete and exchange.response is not None:
                exchange.truncated = exchange.truncated or "time"
        if any(not x.complete for x in session.exchanges):
            session.hit("exchanges still open when the capture ended were cut")
        return session

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     pick: Callable[[Head], CaptureSession | None]) -> None:
        """One browser connection. Each request goes to the capture session `pick` names for
        it; a request no open capture claims is refused, never recorded into another capture.
        While a request is relayed, the connection's task belongs to that session, so ending
        the capture cuts it."""
        conn = _Conn(reader, writer)
        task = asyncio.current_task()
        uid = peer_uid(writer.get_extra_info("peername"), writer.get_extra_info("sockname"))
        if uid is not None and uid != self.uid:
            self.unauthorized += 1
            logger.warning("recording proxy: refused a connection from user id %d", uid)
            writer.close()
            return
        try:
            while True:
                got = await read_head(conn.reader, _HEAD_TIMEOUT)
                if got is None:
                    break
                head, _raw = got
                if head.parts[0] == b"CONNECT":
                    await self._connect(conn, head)
                    continue
                session = pick(head)
                if session is None and self._tagged and _is_preflight(head):
                    if not await self._preflight(conn, head):
                        break
                    continue
                if session is None or session.closed:
                    # no capture's token (a secret only the capture's own page is given)
                    self.unclaimed += 1
                    await _refuse(conn, 407, "no capture is recording this request")
                    break
                owned = task is not None and task not in session._tasks
                if owned:
                    session._tasks.add(task)  # type: ignore[arg-type]
                session.in_flight += 1
                session.changed = time.monotonic()
                try:
                    if not await self._exchange(session, conn, head):
                        break
                finally:
                    session.in_flight -= 1
                    session.changed = time.monotonic()
                    if owned:
                        session._tasks.discard(task)
        except asyncio.CancelledError:
            pass  # the capture this connection served ended: the connection goes with it
        except (ConnectionError, ProtocolError, ssl.SSLError, TimeoutError,
                asyncio.IncompleteReadError, OSError) as exc:
            logger.debug("recording proxy: connection ended: %r", exc)
        finally:
            conn.close_upstream()
            writer.close()

    async def _preflight(self, conn: _Conn, head: Head) -> bool:
        """Relay an untagged CORS preflight on a shared listener, recording it nowhere."""
        self.preflights += 1
        scratch = CaptureSession(_PREFLIGHT, CaptureLimits())
        try:
            return await self._exchange(scratch, conn, head)
        finally:
            conn.close_upstream()  # the scratch session's connection is nobody's to reuse
            scratch.discard()

    async def _connect(self, conn: _Conn, head: Head) -> None:
        parts = head.parts
        if len(parts) < 2 or conn.tunnel is not None:
            raise ProtocolError("bad CONNECT")
        host, port = _host_port(parts[1].decode("latin-1"), 443)
        conn.writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await conn.writer.drain()
        await conn.writer.start_tls(self.ca.server_context(host))
        conn.tunnel = (host, port)

    async def _exchange(self, session: CaptureSession, conn: _Conn, head: Head) -> bool:
        """Relay one request and its response; False when the browser connection must close."""
        parts = head.parts
        if len(parts) != 3:
            raise ProtocolError("bad request line")
        method, target = parts[0].decode("latin-1"), parts[1].decode("latin-1")
        if conn.tunnel is not None:
            scheme, (host, port), path = "https", conn.tunnel, target
        else:
            split = urlsplit(target)
            if split.scheme != "http" or not split.hostname:
                await _refuse(conn, 400, "only absolute http:// targets or CONNECT")
                return False
            scheme, host, port = "http", split.hostname, split.port or 80
            path = (split.path or "/") + (f"?{split.query}" if split.query else "")
        default = 443 if scheme == "https" else 80
        netloc = (f"[{host}]" if ":" in host else host) + ("" if port == default else f":{port}")
        url = f"{scheme}://{netloc}{path}"
        limits = session.limits
        if session.closed:
            await _refuse(conn, 503, "capture ended")
            return False
        if _is_upgrade(head):
            # a WebSocket (or any protocol switch) would leave HTTP and go unrecorded
            session.refuse(url, "websocket")
            await _refuse(conn, 403, "protocol upgrades (WebSocket) are not relayed")
            return False
        if len(session.exchanges) >= limits.max_exchanges:
            session.hit(f"exchange cap: {limits.max_exchanges} exchanges recorded, later ones "
                        f"refused")
            await _refuse(conn, 503, "markwatch exchange cap reached")
            return False
        if session.recorded_bytes >= limits.max_exchange_bytes:
            session.hit(f"byte cap: {limits.max_exchange_bytes} bytes recorded, later "
                        f"exchanges refused")
            await _refuse(conn, 503, "markwatch byte cap reached")
            return False

        request = HashingSpool(self.spool_threshold)
        exchange = RecordedExchange(url, method, self.clock.now(), request)
        exchange.fetch_dest = head.value(b"sec-fetch-dest")
        exchange.origin = head.value(b"origin")
        request_head = head.to_bytes(f"{method} {path} HTTP/1.1".encode("latin-1"),
                                     drop=_DROP_TAGGED)
        framing, length = body_framing(head, request=True)
        served = await self._stored(url, head, framing)
        if served is not None and served.not_fetched:
            request.write_head(request_head)  # what the browser asked; not sent to the site
            return await self._serve_stored(session, conn, exchange, served, "immutable_skipped")
        if served is not None:  # ask the site whether it changed
            request_head = request_head[:-2] + conditional_lines(served.stored) + b"\r\n"
            session.count("conditional_sent")
        request.write_head(request_head)
        if framing == "length" and length > limits.max_exchange_bytes - session.recorded_bytes:
            session.hit("byte cap: a request body was larger than the bytes left")
            await _refuse(conn, 413, "markwatch byte cap reached")
            return False
        async for raw, _data in iter_body(conn.reader, framing, length,
                                          limits.exchange_idle_timeout):
            request.write_payload(raw)
        session.recorded_bytes += request.size

        try:
            _reader, writer = await self._upstream(session, conn, scheme, host, port, url)
        except EgressRefused as exc:
            request.close()
            session.refuse(url, exc.rule)
            if session.token == _PREFLIGHT:
                self.refused_unclaimed.append({"url": url[:2000], "rule": exc.rule})
            await _refuse(conn, 403, f"egress refused ({exc.rule})")
            return False
        except (OSError, TimeoutError, ssl.SSLError, ProtocolError) as exc:
            request.close()
            session.note(f"{method} {url}: upstream failed: {exc}")
            await _refuse(conn, 502, f"upstream failed: {exc}")
            return False
        exchange.remote_ip, exchange.tls_key = conn.up_ip, conn.up_tls
        session.exchanges.append(exchange)
        stream = request.open()
        while chunk := stream.read(65536):
            writer.write(chunk)
        await writer.drain()
        return await self._response(session, conn, exchange, head, served)

    async def _stored(self, url: str, head: Head, framing: str) -> Served | None:
        """The stored response a static asset's request may be answered with, or None."""
        static = self.static
        if static is None or framing != "none":
            return None
        stored = static.lookup(url, head)
        if stored is None:
            return None
        note = static.skip_network(stored, self.clock.now())
        if note is None and stored.etag is None and stored.last_modified is None:
            return None  # nothing to ask the site with
        payload = await asyncio.to_thread(static.payload, stored)
        if payload is None:
            return None  # not in the store (yet), or altered: fetched in full
        return Served(stored, payload, note)

    async def _serve_stored(self, session: CaptureSession, conn: _Conn,
                            exchange: RecordedExchange, served: Served, what: str) -> bool:
        """Give the browser the stored response (head and payload as first received)."""
        exchange.served = served
        exchange.complete = True
        if exchange.response is None:  # the site was not asked: not recorded yet
            session.exchanges.append(exchange)
            session.recorded_bytes += exchange.request.size
        session.count(what)
        conn.writer.write(served.stored.head)
        conn.writer.write(served.payload)
        await conn.writer.drain()
        return True

    async def _response(self, session: CaptureSession, conn: _Conn, exchange: RecordedExchange,
                        request_head: Head, served: Served | None = None) -> bool:
        assert conn.up is not None
        reader = conn.up[0]
        limits = session.limits
        while True:
            got = await read_head(reader, limits.exchange_idle_timeout)
            if got is None:
                raise ProtocolError("upstream closed before answering")
            head, raw_head = got
            parts = head.parts
            try:
                status = int(parts[1])
            except (IndexError, ValueError) as exc:
                raise ProtocolError("bad status line") from exc
            if 100 <= status < 200 and status != 101:
                conn.writer.write(raw_head)  # interim answer: relayed, not recorded
                continue
            break
        response = HashingSpool(self.spool_threshold)
        exchange.response, exchange.status = response, status
        exchange.response_headers = head.headers()
        response.write_head(raw_head)
        session.recorded_bytes += len(raw_head)
        if served is not None and status == 304:  # not modified: the browser gets the stored
            if ("close" in head.tokens(b"connection") or parts[0] == b"HTTP/1.0"):
                conn.close_upstream()
            return await self._serve_stored(session, conn, exchange, served, "conditional_304")
        if served is not None:
            session.count("conditional_changed")
        conn.writer.write(raw_head)
        framing, length = body_framing(head, request=False, method=exchange.method,
                                       status=status)
        decoded = DecodedSize(head.value(b"content-encoding"), limits.max_decoded_bytes)
        keep = framing != "close"
        try:
            async for raw, data in iter_body(reader, framing, length,
                                             limits.exchange_idle_timeout):
                left = limits.max_exchange_bytes - session.recorded_bytes
                if len(raw) > left:
                    session.hit(f"byte cap: {limits.max_exchange_bytes} bytes recorded; "
                                f"{exchange.url} cut")
                    exchange.truncated = "length"
                    return False
                response.write_payload(raw)
                session.recorded_bytes += len(raw)
                if not decoded.feed(data):
                    session.hit(f"decoded-size cap: {exchange.url} inflates past "
                                f"{limits.max_decoded_bytes} bytes (compression bomb); cut")
                    exchange.truncated = "length"
                    return False
                conn.writer.write(raw)
                await conn.writer.drain()
        except TimeoutError:
            session.hit(f"idle upstream: {exchange.url} sent nothing for "
                        f"{limits.exchange_idle_timeout:g} s; cut")
            exchange.truncated = "time"
            return False
        except (ConnectionError, ProtocolError, asyncio.IncompleteReadError) as exc:
            exchange.truncated = "disconnect"
            session.note(f"{exchange.url}: {exc}")
            return False
        finally:
            if exchange.truncated:
                conn.close_upstream()
        exchange.complete = True
        await conn.writer.drain()
        if status == 101:  # never asked for (upgrades are refused above): not relayed
            conn.close_upstream()
            return False
        if ("close" in head.tokens(b"connection") or "close" in request_head.tokens(b"connection")
                or parts[0] == b"HTTP/1.0"):
            keep = False
        if not keep:
            conn.close_upstream()
        return keep

    async def _upstream(self, session: CaptureSession, conn: _Conn, scheme: str, host: str,
                        port: int, url: str
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        key = (scheme, host, port)
        if conn.up is not None and conn.up_key == key and not conn.up[1].is_closing():
            if conn.up_session is not session:
                # kept alive from an earlier capture on the same browser connection, as the
                # browser keeps its own: this capture records where it goes and its TLS peer
                if conn.up_egress:
                    session.egress_ips.add(conn.up_egress)
                if conn.up_tls_session is not None:
                    session.tls.setdefault(conn.up_tls_session.key, conn.up_tls_session)
                conn.up_session = session
            return conn.up
        conn.close_upstream()
        timeout = session.limits.exchange_idle_timeout
        # resolved once, checked, and connected to as checked (no second lookup: rebinding)
        async with asyncio.timeout(timeout):
            address = await asyncio.to_thread(self.egress.resolve, url, host, port)
        if scheme == "http":
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEAD)
            conn.up_tls = None
        else:
            reader, writer = await self._tls_upstream(session, conn, host, address, port,
                                                      timeout)
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        conn.up_ip = peer[0] if peer else None
        if local:
            session.egress_ips.add(local[0])
            conn.up_egress = local[0]
        conn.up, conn.up_key, conn.up_session = (reader, writer), key, session
        return reader, writer

    async def _tls_upstream(self, session: CaptureSession, conn: _Conn, host: str,
                            address: str, port: int, timeout: float
                            ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = self._verifying if self.verify_tls else self._insecure
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    address, port, ssl=context, server_hostname=host, limit=MAX_HEAD)
        except ssl.SSLCertVerificationError as exc:
            # Keep the chain we were shown, as evidence of why nothing was fetched.
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                async with asyncio.timeout(timeout):
                    _r, w = await asyncio.open_connection(
                        address, port, ssl=self._insecure, server_hostname=host,
                        limit=MAX_HEAD)
                self._keep_tls(session, conn, host, port, w, verified=False, error=str(exc))
                w.close()
            raise
        conn.up_tls = self._keep_tls(session, conn, host, port, writer, verified=self.verify_tls,
                                     error=None)
        return reader, writer

    def _keep_tls(self, session: CaptureSession, conn: _Conn, host: str, port: int,
                  writer: asyncio.StreamWriter, *, verified: bool, error: str | None) -> str:
        obj = writer.get_extra_info("ssl_object")
        chain: list[bytes] = []
        if obj is not None:
            chain = _peer_chain(obj)
        peer = writer.get_extra_info("peername")
        cipher = obj.cipher() if obj is not None else None
        tls = TlsSession(host, port, chain, verified, error,
                         obj.version() if obj is not None else None,
                         cipher[0] if cipher else None, peer[0] if peer else None,
                         self.clock.now())
        session.tls.setdefault(tls.key, tls)
        conn.up_tls_session = session.tls[tls.key]
        return tls.key


def _peer_chain(obj: ssl.SSLObject) -> list[bytes]:
    """The certificate chain the server sent (leaf first), DER."""
    inner = getattr(obj, "_sslobj", None)
    getter = getattr(obj, "get_unverified_chain", None) or getattr(
        inner, "get_unverified_chain", None)  # public from Python 3.13, private before
    if getter is not None:
        try:
            certs = getter() or []
            return [c if isinstance(c, bytes) else c.public_bytes(ssl.ENCODING_DER)  # type: ignore[attr-defined]
                    for c in certs]
        except (ssl.SSLError, ValueError, AttributeError):
            pass
    leaf = obj.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _host_port(authority: str, default: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default
    host, sep, port = authority.rpartition(":")
    if not sep:
        return authority, default
    return host, int(port)


async def _refuse(conn: _Conn, status: int, reason: str) -> None:
    body = f"markwatch recording proxy: {reason}\n".encode()
    phrase = {400: "Bad Request", 403: "Forbidden", 407: "Proxy Authentication Required",
              413: "Payload Too Large", 502: "Bad Gateway",
              503: "Service Unavailable"}.get(status, "Error")
    conn.writer.write(
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
        f"\r\nConnection: close\r\nX-Markwatch-Proxy: refused\r\n\r\n".encode() + body)
    with contextlib.suppress(ConnectionError):
        await conn.writer.drain()
