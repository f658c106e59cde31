"""Captures made without a browser, for scoring a page already in hand (tests, the triage
benchmark): the page is parsed by the marketplace's real page object and stored through the
real evidence pipeline, so the scorer sees exactly what it sees after a crawl."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.config import MarkwatchConfig
from crawler.evidence.manifest import Artifact, CaptureItem, WatchRef
from crawler.ids import new_ulid
from crawler.pipelines.evidence import EvidencePipeline
from crawler.runs.ledger import RunLedger
from crawler.triage.engine import Triage
from storage.base import Store


def offline_pipeline(store: Store, catalog: Any, triage: Triage, clock: Any,
                     marketplace: str = "demo") -> EvidencePipeline:
    """An evidence pipeline storing into `store`/`catalog` and scoring with `triage`."""
    config = MarkwatchConfig(clock=clock, run_id=new_ulid(clock.now()))
    pipeline = EvidencePipeline(store, catalog, config, MemoryStatsCollector(get_crawler()))
    pipeline.ledger = RunLedger(pipeline.run_id, marketplace, clock.now())
    pipeline.triage = triage
    return pipeline


def store_page(pipeline: EvidencePipeline, page_cls: type, html: bytes, url: str,
               images: dict[str, bytes], watch: WatchRef, started: dt.datetime) -> str:
    """Parse a listing page with `page_cls`, store it with its photos, score it; capture id."""
    listing = page_cls(url, html, 200).listing()
    artifacts = [Artifact("dom.html", "text/html; charset=utf-8", html)]
    index = 0
    for image_url in listing.images:
        if image_url in images:
            index += 1
            artifacts.append(Artifact(f"image-{index:02d}", "image/png", images[image_url],
                                      image_url))
    capture_id = new_ulid(started)
    item = CaptureItem(capture_id=capture_id, kind="listing", watch=watch, request_url=url,
                       final_url=url, status=200, started_at=started, finished_at=started,
                       artifacts=artifacts, browser={"name": "none"}, listing=listing)
    pipeline._store_capture(item)  # the pipeline's own storage step, as after a crawl
    return capture_id
