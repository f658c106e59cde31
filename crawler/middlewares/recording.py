"""Points each rendered capture at a recording-proxy session.

Runs the crawl's `RecordingProxy` (started with the first rendered request, stopped when the
spider closes). Two ways to tell captures apart (`EVIDENCE_RECORDING_CONTEXTS`):

* `shared` (default): the pages of many captures share one browser context proxied through one
  127.0.0.1 port; every request of a capture's page is tagged with the capture's token
  (`crawler.recording.headers`), the proxy records it into that capture and strips the tag.
  Pages of one site share a renderer, its caches and its cookies (consent), which is what keeps
  recording cheap; the context is replaced every `EVIDENCE_CONTEXT_PAGES` captures.
* `per-capture`: every capture gets a browser context and a proxy port of its own (attribution
  by connection, nothing shared between captures), at about three times the browser CPU.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request

from crawler.config import CaptureLimits, MarkwatchConfig
from crawler.egress import EgressPolicy
from crawler.exceptions import ConfigError
from crawler.middlewares.contexts import ContextRecycler
from crawler.recording import RECORDING_META, CaptureRecording, RecordingProxy
from crawler.recording.crawl_dedup import crawl_dedup

logger = logging.getLogger(__name__)


class RecordingProxyMiddleware:
    """Downloader middleware: one recording session and one browser context per capture."""

    def __init__(self, limits: CaptureLimits, proxy: RecordingProxy, stats: Any = None, *,
                 shared: bool = True, pages_per_context: int = 100) -> None:
        self.limits = limits
        self.proxy = proxy
        self.stats = stats
        self.shared = shared
        self.recycler = ContextRecycler(max(pages_per_context, 1), prefix="markwatch-shared-")
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
                               clock=config.clock,
                               egress=EgressPolicy.from_settings(settings))
        mode = settings.get("EVIDENCE_RECORDING_CONTEXTS", "shared")
        if mode not in ("shared", "per-capture"):
            raise ConfigError(f"EVIDENCE_RECORDING_CONTEXTS must be shared or per-capture, "
                              f"not {mode!r}")
        middleware = cls(config.limits, proxy, crawler.stats, shared=mode == "shared",
                         pages_per_context=config.context_pages)
        dedup = crawl_dedup(crawler)  # the WARC writer's: static assets revalidated by it
        proxy.static = dedup.static if dedup is not None else None
        crawler.markwatch_contexts = middleware.recycler  # type: ignore[attr-defined]
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
        token = f"capture-{next(self._ids)}-{secrets.token_hex(8)}"
        if self.shared:
            session = await self.proxy.open_tagged_session(token, self.limits)
            request.meta[RECORDING_META] = CaptureRecording(self.proxy, session,
                                                            close_context=False)
            context = self.recycler.assign(request.meta)
        else:
            session = await self.proxy.open_session(token, self.limits)
            request.meta[RECORDING_META] = CaptureRecording(self.proxy, session)
            context = f"markwatch-{session.token}-{session.port}"
        kwargs = dict(request.meta.get("playwright_context_kwargs") or {})
        kwargs["proxy"] = {"server": session.proxy_url}
        # The browser's only TLS peer is the proxy, which verifies the real site (see
        # docs/fidelity.md); the browser accepts the proxy's per-run certificates.
        kwargs["ignore_https_errors"] = True
        request.meta["playwright_context"] = context
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
