"""Points each rendered capture's own browser context at its own recording-proxy session.

Runs the crawl's `RecordingProxy` (started when the spider opens, stopped when it closes). For
every Playwright request it opens a session on a fresh 127.0.0.1 port and asks
scrapy-playwright for a browser context of the capture's own, proxied through that port, so
exchanges are attributed by connection. The context is closed when the capture ends
(`crawler.recording.release_page`) or, on a download error, here.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request

from crawler.config import CaptureLimits, MarkwatchConfig
from crawler.recording import RECORDING_META, CaptureRecording, RecordingProxy

logger = logging.getLogger(__name__)


class RecordingProxyMiddleware:
    """Downloader middleware: one recording session and one browser context per capture."""

    def __init__(self, limits: CaptureLimits, proxy: RecordingProxy, stats: Any = None) -> None:
        self.limits = limits
        self.proxy = proxy
        self.stats = stats
        self._ids = itertools.count(1)
        self._running = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordingProxyMiddleware:
        settings = crawler.settings
        if not settings.getbool("EVIDENCE_RECORDING_PROXY"):
            raise NotConfigured  # EVIDENCE_RECORDING_PROXY is off
        config = MarkwatchConfig.from_settings(settings)
        proxy = RecordingProxy(verify_tls=settings.getbool("EVIDENCE_TLS_VERIFY", True),
                               ca_file=settings.get("EVIDENCE_TLS_CA_FILE") or None,
                               clock=config.clock)
        middleware = cls(config.limits, proxy, crawler.stats)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_closed(self) -> None:
        if self._running:
            self.proxy.stop()
            self._running = False

    async def process_request(self, request: Request) -> None:
        if not request.meta.get("playwright") or RECORDING_META in request.meta:
            return
        if not self._running:
            self.proxy.start()
            self._running = True
        session = await self.proxy.open_session(f"capture-{next(self._ids)}", self.limits)
        request.meta[RECORDING_META] = CaptureRecording(self.proxy, session)
        kwargs = dict(request.meta.get("playwright_context_kwargs") or {})
        kwargs["proxy"] = {"server": session.proxy_url}
        # The browser's only TLS peer is the proxy, which verifies the real site (see
        # docs/fidelity.md); the browser accepts the proxy's per-run certificates.
        kwargs["ignore_https_errors"] = True
        request.meta["playwright_context"] = f"markwatch-{session.token}-{session.port}"
        request.meta["playwright_context_kwargs"] = kwargs
        if self.stats is not None:
            self.stats.inc_value("evidence/recording/sessions")

    async def process_exception(self, request: Request, exception: BaseException) -> None:
        recording = request.meta.pop(RECORDING_META, None)
        if isinstance(recording, CaptureRecording):
            hit = await recording.release()
            if hit:
                request.meta["markwatch_limits_hit"] = hit
        return None
