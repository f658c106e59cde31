"""Assembling a capture: from a page the browser rendered (or a plain response) to a `CaptureItem`.

A spider decides what to request and which page object reads a page; it hands what it read to
a `CaptureAssembler`, which makes the evidence: the artifacts (DOM, screenshot, extracted
fields, listing images, the page's WARC), the browser description, the price triage note and
the capture's id and times. Storing it is the evidence pipeline's (`crawler.pipelines.evidence`).
A new marketplace spider never needs to know what a WARC is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from scrapy.http import Response

from crawler.browser.capture import RenderedPage
from crawler.config import MarkwatchConfig
from crawler.evidence import screenshot
from crawler.evidence.manifest import Artifact, CaptureItem, WatchRef, canonical_json
from crawler.evidence.plain_fetch import response_exchange
from crawler.evidence.warc_artifact import decoded_warc, recorded_warc
from crawler.ids import new_ulid
from crawler.items import Block, Listing, SearchResult
from crawler.middlewares.timing import STARTED_META
from crawler.recording.dedup import DedupIndex
from crawler.textsafe import scrub


@dataclass(frozen=True)
class CaptureAssembler:
    """Makes the `CaptureItem`s of one marketplace's crawl."""

    marketplace: str
    config: MarkwatchConfig
    robots_obeyed: bool
    """Whether the crawl obeys robots.txt (`ROBOTSTXT_OBEY`), as the WARC's warcinfo says."""
    sandbox: Callable[[], str] = lambda: "unknown"
    """The browser's sandbox state for provenance (`crawler.sandbox.browser_sandbox`)."""
    dedup: DedupIndex | None = field(default_factory=DedupIndex)
    """Where each payload was first recorded in this run (None: every payload in the WARC)."""
    build: str = "unknown"
    """Which headless Chromium draws the pages (`crawler.browser.chromium.browser_build`)."""

    async def capture(
        self,
        response: Response,
        rendered: RenderedPage,
        kind: str,
        watch: WatchRef,
        msrp: Any = None,
        *,
        listing: Listing | None = None,
        results: Iterable[SearchResult] = (),
        search_page: int | None = None,
        block: Block | None = None,
    ) -> CaptureItem:
        """The capture of `response` as `rendered`, made for `watch` (`msrp`: its brand's)."""
        clock = self.config.clock
        started = response.meta[STARTED_META]
        finished = clock.now()
        capture_id = new_ulid(started)
        browser = {
            "name": "chromium" if rendered.screenshot else "none",
            "version": rendered.browser_version,
            "build": self.build if rendered.screenshot else "none",
            "user_agent": rendered.user_agent,
            "viewport": rendered.viewport,
            "sandbox": self.sandbox() if rendered.screenshot else "none",
        }
        results = list(results)
        # the WARC is written and compressed off the event loop, which carries the browser
        payloads: list[tuple[str, bytes]] = []
        artifacts = await asyncio.to_thread(self.artifacts, capture_id, watch, rendered, kind,
                                            listing, results, started, browser, payloads)
        notes: dict[str, Any] = {}
        triage = price_triage(listing, msrp)
        if triage:
            notes["triage"] = triage
        if rendered.recording is not None and rendered.recording.refused:
            notes["egress_refused"] = list(rendered.recording.refused)
        if rendered.recording is not None and rendered.recording.revalidation:
            # static assets answered from the store (crawler.recording.conditional)
            notes["static_revalidation"] = dict(rendered.recording.revalidation)
        return CaptureItem(
            capture_id=capture_id,
            kind=kind,
            watch=watch,
            request_url=response.request.url if response.request else response.url,
            final_url=rendered.final_url,
            status=response.status,
            started_at=started,
            finished_at=finished,
            artifacts=artifacts,
            browser=browser,
            listing=listing,
            search_page=search_page,
            results=results,
            block=block,
            limits_hit=rendered.limits_hit,
            notes=notes,
            payloads=[Artifact(f"payload-{sha[:12]}", "application/octet-stream", body,
                               sha256=sha) for sha, body in dict(payloads).items()],
        )

    def artifacts(
        self,
        capture_id: str,
        watch: WatchRef,
        rendered: RenderedPage,
        kind: str,
        listing: Listing | None,
        results: Iterable[SearchResult],
        started: Any,
        browser: dict[str, Any],
        payloads: list[tuple[str, bytes]] | None = None,
    ) -> list[Artifact]:
        """Every artifact of a capture, its WARC first."""
        warcinfo = {
            "software": "markwatch",
            "format": "WARC File Format 1.1",
            "capture-id": capture_id,
            "browser": f"chromium {browser['version']}",
            "user-agent": browser["user_agent"],
            "viewport": json.dumps(browser["viewport"], sort_keys=True),
            "browser-sandbox": browser["sandbox"],
            "robots": "obeyed" if self.robots_obeyed else "ignored",
            "marketplace": self.marketplace,
        }
        if self.config.operator:
            warcinfo["operator"] = self.config.operator
        warcinfo.update(watch=f"{watch.brand} / {watch.term}", case=watch.case or "none")
        artifacts = [Artifact("dom.html", "text/html; charset=utf-8", rendered.dom)]
        if rendered.screenshot:  # re-encoded (if so) here, in the assembler's thread
            shot = screenshot.encode(rendered.screenshot, self.config.screenshot_format)
            browser["screenshot"] = shot.record
            artifacts.append(Artifact(shot.name, shot.media_type, shot.data))
        if listing is not None:
            artifacts.append(Artifact("listing.json", "application/json",
                                      canonical_json(listing.to_json())))
            wanted = set(listing.images)
            index = 0
            for url, media_type, body in rendered.images:
                if url in wanted:
                    index += 1
                    artifacts.append(Artifact(f"image-{index:02d}", media_type, body, url))
        elif kind == "search":
            rows = [{"position": r.position, "url": r.url, "listing_id": r.listing_id,
                     "title": r.title, "price": None if r.price is None else str(r.price),
                     "currency": r.currency, "sponsored": r.sponsored,
                     "placeholder": r.placeholder, "organic_position": r.organic_position}
                    for r in results]
            artifacts.append(Artifact("results.json", "application/json",
                                      canonical_json(scrub(rows))))
        if rendered.recording is not None:  # byte-exact exchanges from the recording proxy
            artifacts.insert(0, recorded_warc(
                rendered.recording, warcinfo, capture_id=capture_id, started=started,
                page_url=rendered.final_url, limits_hit=rendered.limits_hit,
                artifacts=[a for a in artifacts if not a.name.startswith("image-")],
                dedup_index=self.dedup if payloads is not None else None, payloads=payloads))
            return artifacts
        artifacts.insert(0, decoded_warc(rendered.exchanges, warcinfo, capture_id=capture_id,
                                         started=started))
        return artifacts


def unrendered(response: Response) -> RenderedPage:
    """A capture of a page fetched without a browser: the body as received is the DOM."""
    return RenderedPage(
        final_url=response.url,
        dom=response.body,
        screenshot=b"",
        exchanges=[response_exchange(response)],  # the WARC holds the response
        images=[],
        user_agent=(response.request.headers.get("User-Agent") or b"").decode("latin-1")
        if response.request else "",
        browser_version="none",
        viewport={},
    )


def price_triage(listing: Listing | None, msrp: Any) -> dict[str, Any] | None:
    """Price-based triage against the brand's MSRP, in the same currency only."""
    if listing is None or msrp is None or listing.price is None:
        return None
    if listing.currency != msrp.currency or msrp.min is None:
        return None
    below = listing.price < Decimal(msrp.min)
    return {"msrp_min": str(msrp.min), "currency": msrp.currency, "below_msrp": below}
