"""Running one crawl run in this process: one spider per marketplace, one after another.

Each marketplace's spider runs alone with its own browser, so memory stays that of one
Chromium however many marketplaces a watchlist names. All share one run id; each writes its
own run record (`runs/<run_id>/<marketplace>.json`).

Not to be confused with `crawler.runs.ledger`, the record of what one marketplace's part of a
run did (kept by the evidence pipeline inside the crawl); this module starts and ends crawls.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.spiderloader import SpiderLoader
from twisted.internet import defer

from crawler.browser.chromium import find_chromium, launch_options
from crawler.clock import Clock, SystemClock, isoformat
from crawler.egress import parse_allow
from crawler.exceptions import ConfigError, StoreUnavailable
from crawler.ids import new_ulid
from crawler.registry import known_marketplaces
from crawler.runs.resume import crawler_stats, plan_run, stopped_by_signal
from crawler.sandbox import launch_options as sandbox_launch_options
from crawler.watchlist import Watchlist, load_watchlist
from storage.archive import preflight, settle
from storage.db import redact
from storage.uri import open_store

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURES, EXIT_CONFIG, EXIT_STORE = 0, 1, 2, 3


def project_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """markwatch's Scrapy settings with the browser filled in and `overrides` on top."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    chromium = find_chromium()
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS",
                 launch_options(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"), chromium),
                 priority="project")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", sandbox_launch_options(
        settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"), settings.get("EVIDENCE_BROWSER_SANDBOX")),
        priority=settings.getpriority("PLAYWRIGHT_LAUNCH_OPTIONS") or "project")
    return settings


@dataclass
class CrawlOptions:
    """What one `markwatch crawl` was asked to do."""

    watchlist: Path
    store: str
    catalog: str
    marketplaces: Sequence[str] = ()
    brands: Sequence[str] = ()
    max_listings: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    """Resume an unfinished run of the same watchlist and selection (see crawler.runs.resume)."""
    targets: Path | None = None
    """Listings to capture directly instead of searching (`crawler.takedown.targets`)."""


@dataclass
class CrawlReport:
    """The outcome of a run, as printed and written by `--report-json`."""

    run_id: str
    store: str
    catalog: str
    started_at: dt.datetime
    finished_at: dt.datetime
    runs: list[dict[str, Any]]
    errors: list[str]
    spooled: int = 0
    """Objects still waiting in the local spool for an unreachable archive."""
    seals: list[dict[str, Any]] = field(default_factory=list)
    """Per marketplace, what sealing did (`crawler.seal.runs.SealOutcome.to_json`)."""

    @property
    def exit_code(self) -> int:
        if self.spooled or any("unreachable" in e or "unavailable" in e for e in self.errors):
            return EXIT_STORE
        if self.errors and not self.runs and all(": configuration error: " in e
                                                 for e in self.errors):
            return EXIT_CONFIG  # nothing was crawled
        if self.errors or any(r["counts"]["failures"] for r in self.runs):
            return EXIT_FAILURES
        if any(s["problems"] or (s["status"] == "pending" and s["required"])
               for s in self.seals):
            return EXIT_FAILURES  # sealing failed: captures stored but unsealed
        if any((r.get("coverage") or {}).get("fail_run") for r in self.runs):
            return EXIT_FAILURES  # a coverage alarm with COVERAGE_ALARM_EXIT
        return EXIT_OK

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for record in self.runs:
            for key, value in record["counts"].items():
                out[key] = out.get(key, 0) + int(value)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "store": self.store,
            "catalog": redact(self.catalog),  # a PostgreSQL password never reaches it
            "started_at": isoformat(self.started_at),
            "finished_at": isoformat(self.finished_at),
            "duration_s": round((self.finished_at - self.started_at).total_seconds(), 3),
            "exit_code": self.exit_code,
            "counts": self.totals(),
            "marketplaces": [
                {"marketplace": r["marketplace"], "status": r["status"], "counts": r["counts"],
                 "finish_reason": r.get("finish_reason"), "failures": r["failures"],
                 "coverage": r.get("coverage")}
                for r in self.runs
            ],
            "errors": self.errors,
            "spooled": self.spooled,
            "seals": self.seals,
            "coverage_warnings": [w for r in self.runs
                                  for w in (r.get("coverage") or {}).get("warnings", [])],
        }


def select_marketplaces(watchlist: Watchlist, marketplaces: Sequence[str],
                        brands: Sequence[str]) -> list[str]:
    """Marketplaces with at least one selected watch, in watchlist order."""
    names: list[str] = []
    for watch in watchlist.watches(marketplaces=marketplaces, brands=brands):
        if watch.marketplace not in names:
            names.append(watch.marketplace)
    return names


def egress_settings(watchlist: Watchlist, overrides: dict[str, Any]) -> dict[str, Any]:
    """`EGRESS_ALLOW` from the watchlist's `settings.egress.allow` and any `EGRESS_ALLOW`
    given on the command line (both apply); logged, as every exception to the policy is."""
    allow = list(watchlist.settings.egress_allow)
    given = overrides.get("EGRESS_ALLOW")
    if given:
        allow += [a.text for a in parse_allow(given)] if isinstance(given, str) else list(given)
    if not allow:
        return {}
    logger.warning("egress: %s allows %s beyond the public internet", watchlist.path,
                   ", ".join(allow))
    return {"EGRESS_ALLOW": list(dict.fromkeys(allow))}


def run_crawl(options: CrawlOptions, clock: Clock | None = None) -> CrawlReport:
    """Run one crawl to the end and report. Raises ConfigError before crawling anything."""
    clock = clock or SystemClock()
    base = project_settings()
    watchlist = load_watchlist(options.watchlist, known_marketplaces(base))
    chosen = select_marketplaces(watchlist, options.marketplaces, options.brands)
    if options.targets is not None:
        from crawler.takedown.targets import read_targets

        chosen = list(dict.fromkeys(t.marketplace for t in read_targets(options.targets)))
        options.resume = False
        options.settings = {**options.settings, "MARKWATCH_TARGETS": str(options.targets)}
    if not chosen:
        raise ConfigError(f"{options.watchlist}: no watch matches the --marketplace/--brand given")
    spool = options.settings.get("STORAGE_SPOOL_DIR") or None
    preflight(options.store, spool)
    started = clock.now()
    plan = plan_run(options.watchlist, options.marketplaces, options.brands, chosen,
                    options.store, options.catalog, started, new_ulid(started), options.resume)
    run_id = plan.run_id
    settings = project_settings({
        "STORAGE_URI": options.store,
        "STORAGE_CATALOG_URI": options.catalog,
        "ROBOTSTXT_OBEY": watchlist.settings.obey_robots,
        **plan.settings,
        **options.settings,
        **egress_settings(watchlist, options.settings),
    })
    loader = SpiderLoader.from_settings(settings)
    process = CrawlerProcess(settings)
    crawlers: list[Crawler] = []
    errors: list[str] = []
    spider_args: dict[str, Any] = {"watchlist": str(options.watchlist)}
    if options.brands:
        spider_args["brand"] = ",".join(options.brands)
    if options.max_listings:
        spider_args["max_listings"] = options.max_listings

    @defer.inlineCallbacks
    def crawl_all():  # type: ignore[no-untyped-def]
        try:
            for name in plan.pending:
                # a recipe marketplace runs the generic spider, told which recipe to follow
                recipe = name in watchlist.recipes
                crawler = process.create_crawler(loader.load("recipe" if recipe else name))
                crawlers.append(crawler)
                args = {**spider_args, "marketplace": name} if recipe else spider_args
                try:
                    yield process.crawl(crawler, **args)
                except ConfigError as exc:
                    logger.error("marketplace %s is misconfigured: %s", name, exc)
                    errors.append(f"{name}: configuration error: {exc}")
                except Exception as exc:  # boundary: report the marketplace and go on
                    logger.error("marketplace %s failed: %s", name, exc)
                    errors.append(f"{name}: {exc}")
                if stopped_by_signal(crawler):
                    break  # stopped by a signal: leave the rest to the resumed run
        finally:
            yield process.stop()
            from twisted.internet import reactor

            if reactor.running:
                reactor.stop()
            else:  # everything failed before the reactor started: stop it as it starts
                reactor.callWhenRunning(reactor.stop)

    t0 = time.monotonic()
    crawl_all()
    process.start(stop_after_crawl=False)
    logger.debug("crawl took %.1f s", time.monotonic() - t0)
    records: list[dict[str, Any]] = []
    seals: list[dict[str, Any]] = []
    store = open_store(options.store, spool=spool)
    try:
        records.extend(plan.previous_records(store))
        for crawler in crawlers:
            stats = crawler_stats(crawler)
            key = stats.get("markwatch/run_record")
            if key:
                records.append(json.loads(store.read_document(key)))
            if stats.get("markwatch/run_interrupted"):
                errors.append(f"{crawler.spider.name if crawler.spider else '?'}: interrupted; "
                              f"run {run_id} resumes on the next start")
            if stats.get("markwatch/seal"):
                seals.append(stats["markwatch/seal"])
            elif stats.get("markwatch/run_record_error"):
                errors.append(f"store unavailable: {stats['markwatch/run_record_error']}")
    except StoreUnavailable as exc:
        errors.append(f"store unreachable: {exc}")
    finally:
        store.close()
    plan.close(complete=len(records) == len(chosen))
    archive = settle(options.store, spool)
    if archive.pending:
        errors.append(f"archive unreachable: {archive.pending} objects wait in the local spool; "
                      "run `markwatch sync` when it is back")
    report = CrawlReport(run_id, options.store, options.catalog, started, clock.now(),
                         records, errors, seals=seals, spooled=archive.pending)
    from crawler.takedown.observe import observe_run

    observe_run(report, clock)  # changes, removals, relistings of this run's captures
    return report
