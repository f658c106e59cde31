"""Prometheus metrics and a health endpoint for workers (and the seeding process).

A looping worker runs each run in a child process: it sets `PROMETHEUS_MULTIPROC_DIR` before
any metric exists, so its endpoint shows the children's metrics too (prometheus-client's
multiprocess mode), and it keeps beating while it waits for runs.

One HTTP server per process, on 127.0.0.1 unless told otherwise (`--metrics-host`), serves
`GET /metrics` (Prometheus text format) and `GET /healthz` (JSON: 200 while the heartbeat is
fresh, as `crawler.schedule.health`). A request whose Host header names another host is
refused (421), so a page in a browser on this machine cannot read it by DNS rebinding.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
CAPTURES = Counter("markwatch_captures", "Captures stored", ["marketplace", "kind"],
                   registry=REGISTRY)
FAILURES = Counter("markwatch_failures", "Pages that could not be captured", ["marketplace"],
                   registry=REGISTRY)
BLOCKS = Counter("markwatch_blocks", "Pages that came back blocked", ["marketplace"],
                 registry=REGISTRY)
LATENCY = Histogram("markwatch_capture_seconds", "From taking a request to its stored capture",
                    ["marketplace"], registry=REGISTRY,
                    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128))
SPOOLED = Gauge("markwatch_spool_depth", "Objects stored in the local spool, waiting for the "
                "archive", registry=REGISTRY, multiprocess_mode="max")
SEAL_FAILURES = Counter("markwatch_seal_failures", "Run records that could not be sealed",
                        registry=REGISTRY)
FRONTIER = Gauge("markwatch_frontier_depth", "Requests queued or leased in the frontier",
                 ["marketplace", "state"], registry=REGISTRY, multiprocess_mode="max")
HEARTBEAT = Gauge("markwatch_heartbeat_timestamp_seconds", "Last heartbeat", registry=REGISTRY,
                  multiprocess_mode="max")

_state: dict[str, Any] = {"status": "starting", "updated_at": None}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def serving_registry() -> CollectorRegistry:
    """What /metrics shows: this process's metrics, or, when `PROMETHEUS_MULTIPROC_DIR` is set
    (a looping worker and its per-run children), every process's together."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def beat(status: str = "running", **extra: Any) -> None:
    """Note that this process is alive (the health endpoint's heartbeat)."""
    now = dt.datetime.now(dt.UTC)
    _state.update(status=status, updated_at=now.isoformat().replace("+00:00", "Z"), **extra)
    HEARTBEAT.set(time.time())


class MetricsServer:
    """`/metrics` and `/healthz` in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_age: float = 60.0,
                 allowed_hosts: tuple[str, ...] = (),
                 snapshot: Callable[[], dict[str, Any]] | None = None) -> None:
        outer = self
        self.snapshot = snapshot or (lambda: dict(_state))
        self.allowed = {*LOCAL_HOSTS, host, *allowed_hosts}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
                if name not in outer.allowed:
                    self.send_error(421, "Misdirected Request")
                    return
                path = self.path.split("?")[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(serving_registry()))
                elif path in ("/healthz", "/health"):
                    ok = outer.healthy()
                    body = json.dumps(outer.snapshot(), indent=2, default=str).encode()
                    self._send(200 if ok else 503, "application/json", body)
                else:
                    self.send_error(404)

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("metrics: " + format, *args)

        self.max_age = max_age
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="markwatch-metrics")

    def healthy(self) -> bool:
        from crawler.schedule.health import is_healthy

        return is_healthy(self.snapshot(), dt.datetime.now(dt.UTC), self.max_age)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MetricsExtension:
    """Counts captures, failures and blocks per marketplace, capture latency, spool and
    frontier depth, for the process's metrics server."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MetricsExtension:
        if not crawler.settings.get("MARKWATCH_FRONTIER_URI"):
            raise NotConfigured("metrics are kept by frontier workers")
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def spider_opened(self, spider: Any) -> None:
        from crawler.frontier.leases import tracker_of

        tracker = tracker_of(self.crawler)
        tracker.on_done.append(self._done)
        beat()

    def _done(self, marketplace: str, payload: dict[str, Any], seconds: float) -> None:
        from crawler.frontier.leases import tracker_of

        LATENCY.labels(marketplace).observe(seconds)
        stats = self.crawler.stats
        if stats is not None:
            SPOOLED.set(stats.get_value("storage/spooled", 0))
        frontier = tracker_of(self.crawler).frontier
        queued, inflight = frontier.depth(marketplace)
        FRONTIER.labels(marketplace, "queued").set(queued)
        FRONTIER.labels(marketplace, "leased").set(inflight)
        beat()

    def item_scraped(self, item: Any, response: Any, spider: Any) -> None:
        if not isinstance(item, dict):
            return
        if "failure" in item:
            FAILURES.labels(spider.name).inc()
        elif item.get("kind"):
            CAPTURES.labels(spider.name, item["kind"]).inc()
            if item["kind"] == "blocked":
                BLOCKS.labels(spider.name).inc()
