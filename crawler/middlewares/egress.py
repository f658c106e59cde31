"""Refuses every request the egress policy (`crawler.egress`) does not allow, before it is sent.

First in the downloader chain, so robots.txt fetches, redirects and meta refreshes (each a new
request through the whole chain) are checked like the first request, rendered and unrendered
alike. The host is resolved once here and the checked address pinned; the downloader's
resolver (`crawler.egress_resolver`) connects to that address and never resolves the name
again. A refused request fails with `EgressRefused` (an `IgnoreRequest`): the spider records
it as a failure naming the rule, nothing of it is stored, and the stats count it under
`egress/refused/<rule>`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

from crawler.egress import EgressPolicy, EgressRefused

logger = logging.getLogger(__name__)
REFUSED_META = "markwatch_egress_refused"


class EgressRefusedRequest(IgnoreRequest):
    """A request the egress policy refused (`rule` names why)."""

    def __init__(self, refused: EgressRefused) -> None:
        self.refused = refused
        self.rule = refused.rule
        super().__init__(str(refused))


class EgressMiddleware:
    """Downloader middleware: every request checked against the crawl's `EgressPolicy`."""

    def __init__(self, policy: EgressPolicy, stats: Any = None) -> None:
        self.policy = policy
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EgressMiddleware:
        return cls(EgressPolicy.from_settings(crawler.settings), crawler.stats)

    async def process_request(self, request: Request) -> None:
        try:
            host, port = self.policy.check_url(request.url)
            await asyncio.to_thread(self.policy.resolve, request.url, host, port)
        except EgressRefused as refused:
            self.refuse(request, refused)
        if self.stats is not None:
            self.stats.inc_value("egress/allowed")

    def refuse(self, request: Request, refused: EgressRefused) -> None:
        if self.stats is not None:
            self.stats.inc_value("egress/refused")
            self.stats.inc_value(f"egress/refused/{refused.rule}")
        request.meta[REFUSED_META] = {"url": refused.url, "rule": refused.rule}
        logger.warning("%s", refused)
        raise EgressRefusedRequest(refused)
