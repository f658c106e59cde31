"""What one worker's spider holds of the frontier: its leases, renewed while it lives.

A lease ends (`ack`) once Scrapy's scraper is done with the response of its request: the
capture stored, the requests it led to queued. That moment has no Scrapy signal, so the
scraper's `_scrape` is wrapped (`wrap_scraper`); a change there is caught by the frontier tests.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from scrapy.crawler import Crawler

from crawler.frontier.codec import LEASE_META, PAYLOAD_META
from crawler.frontier.queue import Frontier, connect

logger = logging.getLogger(__name__)

ATTR = "markwatch_frontier"


@dataclass
class LeaseTracker:
    """One spider's leases and the frontier they come from."""

    frontier: Frontier
    catalog_uri: str = ""
    marketplace: str = ""
    leases: dict[str, float] = field(default_factory=dict)
    worker: str = field(default_factory=lambda: uuid.uuid4().hex)
    on_done: list[Any] = field(default_factory=list)
    """Called as f(marketplace, payload, seconds) when a lease ends after a fetch."""

    def open(self, marketplace: str) -> None:
        self.marketplace = marketplace

    def push(self, payload: dict[str, Any], dedupe: bool = True) -> bool:
        """Queue a request the spider made; with `dedupe`, a listing queued before is not."""
        if dedupe:
            return self.frontier.push(self.marketplace, payload)
        return self.frontier.push(self.marketplace, payload, dedupe=False)

    def take(self, concurrency: int, delay: float) -> tuple[str, dict[str, Any]] | float | None:
        """`Frontier.take` for this marketplace, the lease kept to renew and end."""
        taken = self.frontier.take(self.marketplace, concurrency, delay, self.worker,
                                   len(self.leases))
        if isinstance(taken, tuple):
            self.leases[taken[0]] = time.monotonic()
        return taken

    def already_captured(self, payload: dict[str, Any]) -> bool:
        """A listing back from an expired lease whose capture the catalog holds already."""
        if not payload.get("attempt") or payload.get("kind") != "listing" or not self.catalog_uri:
            return False
        from crawler.pipelines.catalog_outage import CATALOG_DOWN, with_retries
        from storage.catalog import Catalog

        def look() -> bool:
            with Catalog(self.catalog_uri) as cat:
                url = str(payload["url"])
                # through the URL prefix index (captures_url), not every capture of the run;
                # `|| ''`: see crawler.takedown.records.listing_for_url
                return bool(cat.query(
                    "SELECT 1 FROM captures WHERE substr(url, 1, 200) = ? AND url || '' = ? "
                    "AND run_id = ? LIMIT 1", (url[:200], url, self.frontier.run_id)))

        try:
            return with_retries(look, "checking a returned listing", 2.0)  # on the reactor
        except CATALOG_DOWN:  # capture it again rather than risk losing it
            logger.error("catalog unavailable: %s may be captured a second time",
                         payload["url"])
            return False

    def ack(self, lease: str, payload: dict[str, Any] | None = None) -> None:
        started = self.leases.pop(lease, None)
        claim = (payload or {}).get("claim")
        self.frontier.ack(self.marketplace, lease, claim)
        if payload is not None and started is not None:
            for call in self.on_done:
                call(self.marketplace, payload, time.monotonic() - started)

    def handoff(self, lease: str) -> None:
        """The request of `lease` was queued again (retry): end the lease, no claim."""
        self.leases.pop(lease, None)
        self.frontier.ack(self.marketplace, lease)

    def renew(self) -> None:
        self.frontier.renew(self.marketplace, list(self.leases))
        returned = self.frontier.reap(self.marketplace)
        if returned:
            logger.warning("frontier: %d request(s) of %s came back from expired leases",
                           returned, self.marketplace)


def tracker_of(crawler: Crawler) -> LeaseTracker:
    """The crawler's tracker, made on first use from its settings."""
    tracker = getattr(crawler, ATTR, None)
    if tracker is None:
        settings = crawler.settings
        frontier = Frontier(connect(settings["MARKWATCH_FRONTIER_URI"]),
                            settings["MARKWATCH_RUN_ID"],
                            settings.getfloat("MARKWATCH_FRONTIER_LEASE", 60.0))
        tracker = LeaseTracker(frontier, settings.get("STORAGE_CATALOG_URI", ""))
        setattr(crawler, ATTR, tracker)
    return tracker


def wrap_scraper(crawler: Crawler, tracker: LeaseTracker) -> None:
    """End a request's lease when the scraper has handled its response or failure."""
    assert crawler.engine is not None
    scraper = crawler.engine.scraper
    inner = scraper._scrape

    async def scrape(result: Any, request: Any) -> None:
        try:
            await inner(result, request)
        finally:
            lease = request.meta.get(LEASE_META)
            if lease is not None and lease in tracker.leases:
                try:
                    tracker.ack(lease, request.meta.get(PAYLOAD_META))
                except Exception:  # the lease expires and the request comes back
                    logger.exception("frontier: could not end lease %s", lease)

    scraper._scrape = scrape  # type: ignore[method-assign]
