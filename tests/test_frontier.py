"""Distributed runs: three `markwatch worker` processes share one Redis frontier (a real
redis-server) and crawl the demo marketplace in real Chromium into one local store and one
SQLite catalog; one of them is killed with SIGKILL in the second test."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from crawler.demo import DemoMarketplace
from storage.catalog import Catalog
from storage.uri import open_store
from tests.helpers import MARKWATCH, assert_same_catalogs, isolated_env, run_markwatch
from tests.servers.redis import PASSWORD, RedisServer, free_port

pytestmark = pytest.mark.browser

WATCHLIST = """\
version: 1
case: "CASE-FRONTIER"
settings:
  max_pages: 1
  max_listings: 3
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    exclude_terms: ["case for"]
    marketplaces: [demo]
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
"""
CONCURRENCY = 2


def expected_ids(market: DemoMarketplace) -> set[str]:
    out: set[str] = set()
    for term, excluded in (("lumara handbag", ["case for"]), ("corvane watch", [])):
        hits = [x for x in market.catalog.search(term)[:market.page_size]
                if not any(e in x.title.lower() for e in excluded)]
        out.update(x.listing_id for x in hits[:3])
    return out


@pytest.fixture
def market() -> Iterator[DemoMarketplace]:
    with DemoMarketplace() as demo:
        demo.page_delay = 0.4  # pages overlap unless politeness across workers holds
        yield demo


class Cluster:
    """Three workers, then a seeding crawl, all as subprocesses of the real CLI."""

    def __init__(self, root: Path, redis: RedisServer, market: DemoMarketplace,
                 catalog_uri: str | None = None, rebuilt_uri: str | None = None) -> None:
        self.root, self.redis, self.market = root, redis, market
        self.store = root / "store"
        self.catalog_uri = catalog_uri
        """The run's catalog (MARKWATCH_CATALOG of the seeder); None: SQLite in the store."""
        self.rebuilt_uri = rebuilt_uri
        """An empty catalog on the same engine, rebuilt from the store to compare."""
        (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
        self.env = isolated_env()
        self.env.update(MARKWATCH_PROGRESS="off", MARKWATCH_DEMO_URL=market.base_url,
                        MARKWATCH_FRONTIER=redis.uri)
        if catalog_uri:  # by environment only: the URI holds a password
            self.env["MARKWATCH_CATALOG"] = catalog_uri
        self.workers: list[subprocess.Popen[str]] = []
        self._logs: list[IO[str]] = []
        self.metrics_port = free_port()

    def start_workers(self, n: int = 3) -> None:
        for i in range(n):
            args = [MARKWATCH, "worker", "--once", "--log-level", "INFO"]
            if i == 0:
                args += ["--metrics-port", str(self.metrics_port), "--log-format", "json"]
            log = (self.root / f"worker{i}.log").open("w")
            self._logs.append(log)
            self.workers.append(subprocess.Popen(args, cwd=self.root, env=self.env, stdout=log,
                                                 stderr=subprocess.STDOUT, text=True))

    def seed(self) -> subprocess.Popen[str]:
        args = [MARKWATCH, "crawl", "-w", "watchlist.yaml", "--store", f"file://{self.store}",
                "--report-json", "report.json", "--log-level", "WARNING",
                "-s", f"FRONTIER_CONCURRENCY={CONCURRENCY}",
                "-s", "MARKWATCH_FRONTIER_LEASE=8"]
        return subprocess.Popen(args, cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def wait_workers(self) -> list[int | None]:
        codes = []
        for proc in self.workers:
            try:
                codes.append(proc.wait(timeout=120))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes

    def close(self) -> None:
        """Stop what still runs (after a failed assertion) and close the log files."""
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        for log in self._logs:
            log.close()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.root.glob("worker*.log")))

    def catalog(self) -> Catalog:
        if self.catalog_uri:
            return Catalog(self.catalog_uri)
        return Catalog(self.store / "catalog.db")

    def rebuilt(self) -> Catalog:
        """A new catalog rebuilt from the store alone."""
        fresh = Catalog(self.rebuilt_uri or self.root / "rebuilt.sqlite")
        store = open_store(f"file://{self.store}")
        try:
            fresh.rebuild(store)
        finally:
            store.close()
        return fresh


def _json_line(line: str) -> bool:
    try:
        return "level" in json.loads(line)
    except ValueError:
        return False


def _check_run(cluster: Cluster, seeder: subprocess.Popen[str],
               killed: bool = False) -> dict[str, object]:
    """Check a finished run; `killed`: a worker was killed mid-run, so a listing it had
    stored but not yet reported may have been captured again by another worker (both are
    kept: evidence is never deleted)."""
    out, err = seeder.communicate(timeout=600)
    assert seeder.returncode == 0, out + err + cluster.logs()[-4000:]
    report = json.loads((cluster.root / "report.json").read_text())
    with cluster.catalog() as cat:
        rows = cat.find_run(str(report["run_id"]))
    listings = Counter(r["listing_id"] for r in rows if r["kind"] == "listing")
    assert set(listings) == expected_ids(cluster.market)
    searches = sum(1 for r in rows if r["kind"] == "search")
    if killed:  # at most what the killed worker had in flight was captured a second time
        again = sum(n - 1 for n in listings.values()) + searches - 2
        assert searches >= 2 and again <= CONCURRENCY, (listings, searches)
    else:
        assert all(n == 1 for n in listings.values()), listings  # each captured exactly once
        assert searches == 2
    assert report["counts"]["listings"] == sum(listings.values())
    verified = run_markwatch(["verify", "--all", "--store", f"file://{cluster.store}"],
                             cwd=cluster.root)
    assert verified.code == 0, verified.out + verified.err
    # the catalog is only an index: one rebuilt from the store alone is the same
    with cluster.rebuilt() as fresh, cluster.catalog() as cat:
        assert_same_catalogs(cat, fresh)
    # politeness across the three workers together
    assert 1 <= cluster.market.max_pages_in_flight <= CONCURRENCY
    text = out + err + cluster.logs()
    assert PASSWORD not in text  # the frontier URI's password is never logged
    return report


def test_three_workers_capture_each_listing_once(tmp_path: Path, redis_server: RedisServer,
                                                 market: DemoMarketplace, chromium: str,
                                                 request: pytest.FixtureRequest) -> None:
    cluster = Cluster(tmp_path, redis_server, market)
    request.addfinalizer(cluster.close)
    cluster.start_workers()
    seeder = cluster.seed()
    request.addfinalizer(lambda: seeder.poll() is None and seeder.kill())
    # the metrics endpoint answers over real HTTP while the workers run
    body = ""
    for _ in range(600):
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=5) as resp:
                body = resp.read().decode()
            if "markwatch_heartbeat_timestamp_seconds " in body:
                break
        except OSError:
            pass
        time.sleep(0.2)
    for family in ("markwatch_captures_total", "markwatch_capture_seconds", "markwatch_blocks",
                   "markwatch_failures", "markwatch_spool_depth", "markwatch_frontier_depth"):
        assert f"# TYPE {family}" in body.replace("_total counter", " counter") or \
            f"# HELP {family}" in body, family
    assert "markwatch_heartbeat_timestamp_seconds " in body
    health = urllib.request.Request(f"http://127.0.0.1:{cluster.metrics_port}/healthz",
                                    headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(health, timeout=5)
    assert refused.value.code == 421  # a rebinding host name is refused
    report = _check_run(cluster, seeder)
    assert cluster.wait_workers() == [0, 0, 0], cluster.logs()[-4000:]
    again = run_markwatch(["runs", "finalize", str(report["run_id"])], cwd=cluster.root,
                          env={"MARKWATCH_FRONTIER": cluster.redis.uri})
    assert again.code == 2 and "already finalized" in again.err  # records are written once
    assert PASSWORD not in again.out + again.err
    first = (cluster.root / "worker0.log").read_text().splitlines()
    assert any(_json_line(line) for line in first)
    captured = [max([0, *map(int, re.findall(r"'evidence/captured': (\d+)", p.read_text()))])
                for p in sorted(cluster.root.glob("worker*.log"))]
    assert sum(c > 0 for c in captured) >= 2, captured  # the work was spread over workers


def test_a_worker_killed_mid_run_loses_nothing(tmp_path: Path, redis_server: RedisServer,
                                               market: DemoMarketplace, chromium: str,
                                               request: pytest.FixtureRequest) -> None:
    cluster = Cluster(tmp_path, redis_server, market)
    request.addfinalizer(cluster.close)
    cluster.start_workers()
    seeder = cluster.seed()
    request.addfinalizer(lambda: seeder.poll() is None and seeder.kill())
    victim = cluster.workers[0]
    for _ in range(1200):  # kill it as soon as it has fetched a page (mid-capture)
        if len([p for _, p in market.request_log if p.startswith("/item/")]) >= 1:
            break
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    _check_run(cluster, seeder, killed=True)
    codes = cluster.wait_workers()
    assert codes[0] == -signal.SIGKILL and codes[1:] == [0, 0], cluster.logs()[-4000:]
