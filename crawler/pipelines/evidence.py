"""The evidence pipeline: store artifacts by hash, write the manifest, index it, record the run.

Order per capture: every artifact first (content-addressed, write-once), then the manifest that
names them (write-once), then the catalog row. A crash leaves at worst unreferenced blobs, never
a manifest naming a missing artifact. Blocking I/O runs in threads, off the crawl's event loop:
a bounded pool of its own (`EVIDENCE_STORE_WORKERS`), with the bytes of captures not yet
stored counted against `EVIDENCE_INFLIGHT_MB` (`crawler.evidence.budget`: back-pressure on new
requests, never a dropped capture).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

from crawler.config import MarkwatchConfig
from crawler.evidence.budget import EvidenceBudget, item_bytes
from crawler.evidence.manifest import (
    CaptureItem,
    FailureItem,
    StoredArtifact,
    build_manifest,
    canonical_json,
)
from crawler.exceptions import IntegrityError, StoreError
from crawler.fields.coverage import coverage_of_run
from crawler.ids import new_ulid
from crawler.pipelines.catalog_outage import CATALOG_DOWN, DEFAULT_RETRY_SECONDS, with_retries
from crawler.pipelines.payloads import StoredDigests, store_payloads
from crawler.runs.ledger import CaptureEntry, RunLedger
from crawler.runs.resume import preload_ledger
from crawler.seal.config import SealConfig
from crawler.seal.runs import RunSealer
from storage.base import Store
from storage.catalog import Catalog
from storage.layout import manifest_key, run_record_key
from storage.uri import open_store

logger = logging.getLogger(__name__)
T = TypeVar("T")


class EvidencePipeline:
    """Turns `CaptureItem`s into stored, indexed evidence and `FailureItem`s into the report."""

    def __init__(self, store: Store, catalog: Catalog, config: MarkwatchConfig,
                 stats: StatsCollector, crawler: Crawler | None = None,
                 seal_config: SealConfig | None = None,
                 triage_config: Any = None) -> None:
        self.store = store
        self.sealer = RunSealer(store, seal_config or SealConfig(), config.clock)
        self.catalog = catalog
        self.config = config
        self.stats = stats
        self.crawler = crawler
        self.run_id = config.run_id or new_ulid(config.clock.now())
        self.ledger: RunLedger | None = None
        self.triage_config = triage_config
        self.triage: Any = None  # crawler.triage.engine.Triage, made when the spider opens
        self.catalog_retry = DEFAULT_RETRY_SECONDS
        """Seconds a catalog call is retried while the catalog is down (catalog_outage)."""
        self.unindexed: set[str] = set()
        """Captures stored but not indexed (the catalog was down); their ids."""
        self.catalog_pause: Any = time.sleep
        """How a retried catalog call waits (injectable, as the clock is)."""
        self.payloads = StoredDigests()  # payload blobs known stored: skip putting them again
        self.budget: EvidenceBudget | None = None  # the crawl's (from_crawler): pool and bytes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidencePipeline:
        if not crawler.settings.getbool("EVIDENCE_ENABLED"):
            raise NotConfigured("EVIDENCE_ENABLED is off")
        config = MarkwatchConfig.from_settings(crawler.settings)
        assert crawler.stats is not None
        stats = crawler.stats

        def count_retry(event: Any) -> None:
            stats.inc_value("storage/put/retry")
            stats.inc_value(f"storage/put/retry/reason_count/{event.reason}")

        store = open_store(config.store_uri, spool=config.spool_dir or None,
                           on_retry=count_retry)
        seal_config = SealConfig.from_settings(crawler.settings)
        catalog = Catalog(config.catalog_uri)
        from crawler.triage.config import TriageConfig

        pipeline = cls(store, catalog, config, crawler.stats, crawler, seal_config,
                       TriageConfig.from_settings(crawler.settings))
        pipeline.budget = EvidenceBudget.for_crawler(crawler)
        pipeline.catalog_retry = crawler.settings.getfloat("MARKWATCH_CATALOG_RETRY",
                                                           DEFAULT_RETRY_SECONDS)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        assert self.crawler is not None and self.crawler.spider is not None
        spider: Spider = self.crawler.spider
        watchlist = getattr(spider, "watchlist_path", None)
        info: dict[str, Any] = {}
        if watchlist:
            data = _read_bytes(watchlist)
            info = {"path": str(watchlist), "sha256": hashlib.sha256(data).hexdigest()}
        states = getattr(spider, "states", [])
        self.ledger = RunLedger(
            run_id=self.run_id,
            marketplace=spider.name,
            started_at=self.config.clock.now(),
            case=states[0].watch.case if states else None,
            watchlist=info,
        )
        if self.crawler.settings.getbool("MARKWATCH_RESUME"):
            preload_ledger(self.ledger, self.catalog)
        self._open_triage(spider)
        self.stats.set_value("markwatch/run_id", self.run_id)
        self.stats.set_value("markwatch/store", self.store.uri)

    async def process_item(self, item: Any) -> Any:
        assert self.ledger is not None
        if isinstance(item, FailureItem):
            self.ledger.failures.append(item)
            self.stats.inc_value("evidence/failed")
            self.stats.inc_value(f"evidence/failed/{item.page_kind}")
            return {"failure": item.reason, "url": item.url}
        if not isinstance(item, CaptureItem):
            return item
        budget = self.budget
        if budget is not None:  # released below once stored or failed, whatever happens
            budget.hold(item.capture_id, item_bytes(item.artifacts, item.payloads))
        try:
            entry = await self._in_pool(self._store_capture, item)
        except StoreError as exc:
            logger.error("could not store capture %s of %s: %s", item.capture_id,
                         item.request_url, exc)
            self.ledger.failures.append(
                FailureItem(item.request_url, item.kind, item.watch, f"store: {exc}",
                            self.config.clock.now()))
            self.stats.inc_value("evidence/failed")
            self.stats.inc_value("evidence/failed/store")
            return {"failure": str(exc), "url": item.request_url}
        finally:
            if budget is not None:
                budget.release(item.capture_id)
                self.stats.max_value("evidence/inflight_bytes_peak", budget.peak)
        self.ledger.captures.append(entry)
        self.stats.inc_value("evidence/captured")
        self.stats.inc_value(f"evidence/captured/{item.kind}")
        for what, count in (item.notes.get("static_revalidation") or {}).items():
            self.stats.inc_value(f"recording/{what}", count)  # e.g. recording/conditional_304
        out = {"capture_id": entry.capture_id, "kind": entry.kind, "url": entry.url,
               "manifest_sha256": entry.manifest_sha256}
        if entry.capture_id in self.unindexed:  # for the frontier (UnindexedPipeline)
            out["unindexed"] = entry.manifest_key
        return out

    async def _in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the store pool (`EVIDENCE_STORE_WORKERS`), else a default thread."""
        if self.budget is None:
            return await asyncio.to_thread(fn, *args)
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self.budget.executor, context.run, fn, *args)

    def _store_capture(self, item: CaptureItem) -> CaptureEntry:
        assert self.ledger is not None
        stored: list[StoredArtifact] = []
        store_payloads(self.store, item, self.payloads, self.stats)  # before the WARC naming them
        for artifact in item.artifacts:
            obj = self.store.put_blob(artifact.data, artifact.media_type)
            if artifact.sha256 is not None and obj.sha256 != artifact.sha256:
                raise IntegrityError(f"{artifact.name} of {item.capture_id} was written with "
                                     f"SHA-256 {artifact.sha256} but stored as {obj.sha256}")
            self._count_spooled(obj)
            if obj.created:
                self.ledger.new_blobs += 1
                self.ledger.new_bytes += obj.size
                self.stats.inc_value("evidence/blobs_new")
                self.stats.inc_value("evidence/bytes_new", obj.size)
            else:
                self.ledger.reused_blobs += 1
                self.stats.inc_value("evidence/blobs_reused")
            stored.append(StoredArtifact(artifact.name, artifact.media_type, obj.size,
                                         obj.sha256, obj.key, artifact.source_url,
                                         obj.version_id))
        pending = self._triage_collect(item, stored)
        item.artifacts.clear()  # the bytes are stored; drop them (and any temporary file)
        previous = None
        if item.listing is not None and item.listing.listing_id:
            from crawler.clock import isoformat

            listing_id, before = item.listing.listing_id, isoformat(item.started_at)
            try:
                previous = with_retries(lambda: self.catalog.previous_capture(
                    item.watch.marketplace, listing_id, before), "looking up the previous "
                    "capture", self.catalog_retry, self.catalog_pause)
            except CATALOG_DOWN:  # the link is a convenience: the capture goes on without it
                logger.error("catalog unavailable: capture %s names no previous capture",
                             item.capture_id)
        manifest = build_manifest(item, run_id=self.run_id, artifacts=stored,
                                  previous_capture=previous, operator=self.config.operator)
        data = canonical_json(manifest)
        key = manifest_key(item.capture_id, item.started_at)
        doc = self.store.put_document(key, data, "application/json")
        self._count_spooled(doc)
        try:
            with_retries(lambda: self.catalog.index_capture(manifest, key, doc.sha256),
                         "indexing the capture", self.catalog_retry, self.catalog_pause)
        except CATALOG_DOWN:  # stored all the same: a rebuild (or the run's finalize) indexes it
            logger.error("catalog unavailable: capture %s is stored (%s) but not indexed; "
                         "`markwatch catalog rebuild` indexes it", item.capture_id, key)
            self.stats.inc_value("evidence/unindexed")
            self.unindexed.add(item.capture_id)
            return CaptureEntry(item.capture_id, item.kind, item.request_url, key, doc.sha256)
        self._triage_score(manifest, pending)
        return CaptureEntry(item.capture_id, item.kind, item.request_url, key, doc.sha256)

    def _open_triage(self, spider: Spider) -> None:
        """Scores for listing captures (crawler/triage), when on and the spider has a watchlist."""
        watchlist = getattr(spider, "watchlist", None)
        if self.triage_config is None or not self.triage_config.enabled or watchlist is None:
            return
        from crawler.triage.engine import Triage

        self.triage = Triage.from_watchlist(watchlist, self.store, self.catalog,
                                            self.triage_config, self.config.clock)

    def _triage_collect(self, item: CaptureItem, stored: list[StoredArtifact]) -> Any:
        if self.triage is None or item.kind != "listing":
            return None
        try:
            return self.triage.collect(item.capture_id, list(zip(item.artifacts, stored,
                                                                 strict=True)))
        except Exception:  # a boundary: triage must never cost the evidence
            logger.exception("triage: could not read capture %s", item.capture_id)
            self.stats.inc_value("triage/failed")
            return None

    def _triage_score(self, manifest: dict[str, Any], pending: Any) -> None:
        if self.triage is None or pending is None:
            return
        try:
            score = self.triage.after_store(manifest, pending)
        except Exception:  # a boundary: the capture is stored; its score can be made later
            logger.exception("triage: could not score capture %s", manifest["capture_id"])
            self.stats.inc_value("triage/failed")
            return
        if score is not None:
            self.stats.inc_value("triage/scored")
            if score >= self.triage.config.threshold:
                self.stats.inc_value("triage/suspicious")

    def _count_spooled(self, obj: Any) -> None:
        if getattr(obj, "spooled", False):
            self.stats.inc_value("storage/spooled")

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        """Write the run record once the close reason is known (Scrapy gives it to this signal,
        after pipelines' `close_spider`), then seal it."""
        if self.budget is not None:  # every item is through the pipeline by now
            self.stats.set_value("evidence/budget_waits_total", self.budget.waits)
            self.budget.close()
        if self.ledger is None:  # the spider never opened
            return
        # pages found but never asked for because the marketplace stopped (spiders.backoff)
        for failure in getattr(spider, "not_sent", ()):
            self.ledger.failures.append(failure)
            self.stats.inc_value("evidence/failed")
            self.stats.inc_value(f"evidence/failed/{failure.page_kind}")
        try:
            await self._write_run_record(reason)
        finally:
            self.ledger.close()

    async def _write_run_record(self, reason: str) -> None:
        assert self.ledger is not None
        # Stopped by a signal: the run resumes under the same id and writes its record then
        if reason == "shutdown" and self.crawler and self.crawler.settings.getbool(
                "MARKWATCH_RESUMABLE"):
            logger.warning("run %s interrupted; its record is written when it resumes",
                           self.run_id)
            self.stats.set_value("markwatch/run_interrupted", True)
            self.catalog.close()
            self.store.close()
            return
        if self.crawler and self.crawler.settings.get("MARKWATCH_FRONTIER_URI"):
            # a frontier worker: the run's record is written once, when the run is finalized
            self.catalog.close()
            self.store.close()
            return
        key = run_record_key(self.run_id, self.ledger.marketplace)
        try:
            record = self.ledger.record(self.config.clock.now(), reason)
            record["coverage"] = coverage_of_run(self.catalog, record, self.crawler)
            data = canonical_json(record)
            doc = await asyncio.to_thread(self.store.put_document, key, data, "application/json")
            self.catalog.index_run(record, key, doc.sha256)
            self.stats.set_value("markwatch/run_record", key)
            # seal the run (or mark it pending) and log custody: see crawler/seal/runs.py
            outcome = await asyncio.to_thread(self.sealer.after_run, record, key, doc.sha256)
            self.stats.set_value("markwatch/seal", outcome.to_json())
            self.stats.set_value(f"seal/{outcome.status}", 1)
        except (StoreError, OSError) as exc:  # OSError: the ledger's file could not be read
            logger.error("could not write the run record %s: %s", key, exc)
            self.stats.set_value("markwatch/run_record_error", str(exc))
        finally:
            self.catalog.close()
            self.store.close()


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
