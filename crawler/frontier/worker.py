"""`markwatch worker`: take requests of open runs from the frontier until they drain.

A worker waits for an open run, then crawls it in this process: one spider per marketplace of
the run, all at once, each fed by the frontier (`FrontierScheduler`). A Twisted reactor runs
once per process, so a worker that serves more than one run runs each in a child process
(`markwatch worker --once --run RUN_ID`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crawler.frontier.queue import PREFIX, Frontier, connect
from crawler.frontier.uri import redact

logger = logging.getLogger(__name__)

COMPONENTS: dict[str, dict[str, int]] = {
    "ITEM_PIPELINES": {"crawler.frontier.components.FailurePipeline": 400,
                       "crawler.frontier.components.UnindexedPipeline": 510},
    "EXTENSIONS": {"crawler.frontier.components.FrontierExtension": 400,
                   "crawler.frontier.metrics.MetricsExtension": 410},
}


def _beat(status: str) -> None:
    """The health heartbeat, when this process serves metrics (imported only then)."""
    metrics = sys.modules.get("crawler.frontier.metrics")
    if metrics is not None:
        metrics.beat(status)


def wait_for_run(uri: str, poll: float = 0.2, timeout: float | None = None) -> str | None:
    """The oldest open run in the frontier (waiting for one), or None after `timeout`."""
    client = connect(uri)
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        _beat("running")
        runs = sorted(r.decode() if isinstance(r, bytes) else str(r)
                      for r in client.smembers(PREFIX + "runs"))
        if runs:
            return runs[0]
        time.sleep(poll)
    return None


def worker_settings(uri: str, meta: dict[str, Any], watchlist: Path) -> dict[str, Any]:
    """The Scrapy settings of one worker crawling one run."""
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import egress_settings, project_settings
    from crawler.watchlist import load_watchlist

    base = project_settings()
    given = meta.get("settings", {})
    # the run's watchlist may allow destinations beyond the public internet (logged)
    allowed = egress_settings(load_watchlist(watchlist, known_marketplaces(base)), given)
    out: dict[str, Any] = {
        "STORAGE_URI": meta["store"], "STORAGE_CATALOG_URI": meta["catalog"],
        "ROBOTSTXT_OBEY": meta.get("obey_robots", True), "MARKWATCH_RUN_ID": meta["run_id"],
        "MARKWATCH_FRONTIER_URI": uri, "MARKWATCH_WATCHLIST": str(watchlist),
        "SCHEDULER": "crawler.frontier.scheduler.FrontierScheduler",
        **given, **allowed,
    }
    for name, added in COMPONENTS.items():
        out[name] = {**base.getdict(name), **added}
    return out


def serve_run(uri: str, run_id: str, overrides: dict[str, Any] | None = None) -> int:
    """Crawl one run's share in this process; 0 when every spider ended cleanly."""
    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import CrawlerProcess
    from scrapy.spiderloader import SpiderLoader

    from crawler.runs.runner import project_settings

    frontier = Frontier(connect(uri), run_id)
    meta = frontier.meta()
    # An idle worker asks the frontier for work twice a second, not every 5 s (Scrapy's pace).
    ExecutionEngine._SLOT_HEARTBEAT_INTERVAL = 0.5
    with tempfile.TemporaryDirectory(prefix="markwatch-worker-") as tmp:
        watchlist = Path(tmp) / "watchlist.yaml"
        watchlist.write_text(meta["watchlist"]["text"], encoding="utf-8")
        settings = project_settings({**worker_settings(uri, meta, watchlist),
                                     **(overrides or {})})
        loader = SpiderLoader.from_settings(settings)
        process = CrawlerProcess(settings)
        if settings.get("MARKWATCH_LOG_FORMAT") == "json":
            from crawler.frontier.logjson import use_json_logs

            use_json_logs()
        args: dict[str, Any] = {"watchlist": str(watchlist)}
        if meta.get("brands"):
            args["brand"] = ",".join(meta["brands"])
        if meta.get("max_listings"):
            args["max_listings"] = meta["max_listings"]
        for name in meta["marketplaces"]:
            recipe = name in meta.get("recipes", [])
            spider = loader.load("recipe" if recipe else name)
            process.crawl(spider, **({**args, "marketplace": name} if recipe else args))
        logger.info("worker serving run %s from %s", run_id, redact(uri))
        process.start()
    return 0


def run_worker(uri: str, once: bool, run_id: str | None, overrides: dict[str, Any],
               extra_args: list[str]) -> int:
    """Serve runs: this one (`--run`), the next open one (`--once`), or each in turn."""
    if once or run_id:
        chosen = run_id or wait_for_run(uri)
        assert chosen is not None
        return serve_run(uri, chosen, overrides)
    while True:  # one child process per run: a reactor starts once per process
        chosen = wait_for_run(uri)
        assert chosen is not None
        # the URI (it may hold a password) goes by environment, never on a command line
        child = subprocess.Popen([sys.executable, "-m", "crawler", "worker", "--run", chosen,
                                  *extra_args], env={**os.environ, "MARKWATCH_FRONTIER": uri})
        while (code := child.poll()) is None:
            _beat("running")
            time.sleep(1.0)
        if code:
            logger.error("worker for run %s exited with %d", chosen, code)
        while Frontier(connect(uri), chosen).r.sismember(PREFIX + "runs", chosen):
            _beat("running")
            time.sleep(1.0)  # wait until its seeder closes it before looking again
