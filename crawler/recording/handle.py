"""One capture's recording as the spider sees it: the proxy session and its browser context."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from playwright.async_api import Error as PlaywrightError

from crawler.browser.closing import close_tab
from crawler.browser.tabs import TAB_META
from crawler.recording.exchanges import RecordedExchange
from crawler.recording.http1 import decode_body
from crawler.recording.proxy import CaptureSession, RecordingProxy

logger = logging.getLogger(__name__)

RECORDING_META = "markwatch_recording"


class CaptureRecording:
    """A capture's proxy session; `finish` ends recording, `release` frees everything."""

    def __init__(self, proxy: RecordingProxy, session: CaptureSession, *,
                 close_context: bool = True,
                 on_release: Callable[[], None] | None = None) -> None:
        self.proxy = proxy
        self.session = session
        self.context: Any = None
        self.close_context = close_context
        """Close the browser context on release (a context of its own, or a retired slot's)."""
        self.on_release = on_release
        """Called once when everything is released (gives a context slot back)."""

    async def finish(self, hit: list[str] | None = None) -> CaptureSession:
        """Stop recording (open exchanges are cut) and add the caps hit to `hit`."""
        session = await self.proxy.close_session(self.session)
        if hit is not None:
            hit.extend(x for x in session.limits_hit if x not in hit)
        return session

    async def release(self) -> list[str]:
        """Stop recording if still running, close the capture's browser context."""
        try:
            if not self.session.closed:
                await self.finish()
            context, self.context = self.context, None
            if context is not None and self.close_context:
                with contextlib.suppress(PlaywrightError):
                    await context.close()
        finally:
            callback, self.on_release = self.on_release, None
            if callback is not None:
                callback()
        return list(self.session.limits_hit)

    def images(self, media_types: set[str], limit: int) -> list[tuple[str, str, bytes]]:
        """(url, media type, decoded bytes) of every complete image response."""
        out = []
        for exchange in self.session.exchanges:
            media_type = (exchange.header("content-type") or "").split(";")[0].strip().lower()
            if media_type not in media_types or not exchange.complete or exchange.status != 200:
                continue
            body = payload_of(exchange, limit)
            if body is not None:
                out.append((exchange.url, media_type, body))
        return out


def payload_of(exchange: RecordedExchange, limit: int) -> bytes | None:
    """The entity body (de-chunked, decoded), or None if over `limit` or not decodable."""
    if exchange.response is None:
        return None
    raw = exchange.response.read_payload(limit)
    if raw is None:
        return None
    if "chunked" in (exchange.header("transfer-encoding") or "").lower():
        raw = dechunk(raw)
    return decode_body(raw, exchange.header("content-encoding"), limit)


def dechunk(raw: bytes) -> bytes:
    """The data of a chunked body (complete or cut)."""
    out, pos = bytearray(), 0
    while pos < len(raw):
        end = raw.find(b"\r\n", pos)
        if end < 0:
            break
        try:
            size = int(raw[pos:end].split(b";")[0].strip(), 16)
        except ValueError:
            break
        if size == 0:
            break
        out += raw[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
    return bytes(out)


async def release_page(page: Any, meta: dict[str, Any], tabs: Any = None,
                       reusable: bool = False) -> list[str]:
    """Close a capture's page (or give it back to `tabs`, a `crawler.browser.tabs.TabPool`, when
    `reusable`), then its recording and browser context; the caps hit.

    A tab is given back only when its capture was recorded by the proxy in a shared context
    and the recording is over, so nothing the tab does later is recorded into this capture."""
    recording = meta.get(RECORDING_META)
    if page is not None:
        if (tabs is not None and reusable and meta.get(TAB_META)
                and isinstance(recording, CaptureRecording) and recording.session.closed
                and not recording.close_context):
            await tabs.give_back(page, reusable=True)
        elif tabs is not None:
            await tabs.give_back(page, reusable=False)  # closed
        else:
            await close_tab(page)
    if isinstance(recording, CaptureRecording):
        return await recording.release()
    return []
