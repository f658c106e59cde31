"""Distributed runs on PostgreSQL: three `markwatch worker` processes share one Redis frontier
(a real redis-server) and write one PostgreSQL catalog (a real PostgreSQL, Debian's), crawling
the demo marketplace in real Chromium; one of them is killed with SIGKILL in the second test.

The seeder alone is given the catalog (MARKWATCH_CATALOG, the URI holding a password); it
reaches every worker through the run's description in Redis. The catalog they wrote must equal
one rebuilt from the store into a fresh PostgreSQL database, table by table, and neither
password may reach a log, a report or the store.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from crawler.demo import DemoMarketplace
from tests.helpers import assert_same_catalogs, run_markwatch
from tests.servers.postgres import PASSWORD as PG_PASSWORD
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.test_frontier import Cluster, _check_run, market

pytestmark = pytest.mark.browser

__all__ = ["market"]  # the demo marketplace fixture of tests/test_frontier.py


def _cluster(root: Path, redis: RedisServer, demo: DemoMarketplace,
             postgres: PostgresServer, password_by_env: pytest.MonkeyPatch | None = None
             ) -> Cluster:
    """Three workers on a new database; with `password_by_env`, the catalog URI carries no
    password and every process (this one too) has PGPASSWORD, as docs/scaling.md advises."""
    uri = postgres.new_database()
    if password_by_env is not None:
        uri = uri.replace(f":{PG_PASSWORD}@", "@")
        password_by_env.setenv("PGPASSWORD", PG_PASSWORD)
    cluster = Cluster(root, redis, demo, catalog_uri=uri, rebuilt_uri=postgres.new_database())
    if password_by_env is not None:
        cluster.env["PGPASSWORD"] = PG_PASSWORD
    return cluster


def _no_password_anywhere(cluster: Cluster, *texts: str) -> None:
    """Neither the catalog's nor Redis's password in the logs, the report or the store."""
    shown = "\n".join(texts) + cluster.logs() + (cluster.root / "report.json").read_text()
    assert PG_PASSWORD not in shown
    for path in cluster.store.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".txt", ".log"):
            assert PG_PASSWORD.encode() not in path.read_bytes(), path


def test_three_workers_on_postgresql(tmp_path: Path, redis_server: RedisServer,
                                     postgres_server: PostgresServer, market: DemoMarketplace,
                                     chromium: str, request: pytest.FixtureRequest) -> None:
    cluster = _cluster(tmp_path, redis_server, market, postgres_server)
    request.addfinalizer(cluster.close)
    cluster.start_workers()
    seeder = cluster.seed()
    request.addfinalizer(lambda: seeder.poll() is None and seeder.kill())
    report = _check_run(cluster, seeder)  # exactly once, verify --all, rebuilt equal, politeness
    assert report["catalog"] == cluster.catalog_uri.replace(PG_PASSWORD, "***")
    assert cluster.wait_workers() == [0, 0, 0], cluster.logs()[-4000:]
    with cluster.catalog() as cat:
        assert cat.dialect == "postgresql"
        rows = cat.query("SELECT marketplace, captures FROM runs WHERE run_id = ?",
                         [report["run_id"]])
    assert rows == [{"marketplace": "demo", "captures": report["counts"]["captures"]}]
    # by hand, with the catalog named on the command line: refused, the run is finalized once
    again = run_markwatch(["runs", "finalize", str(report["run_id"]), "--catalog",
                           str(cluster.catalog_uri)], cwd=cluster.root,
                          env={"MARKWATCH_FRONTIER": cluster.redis.uri})
    assert again.code == 2 and "already finalized" in again.err, again.out + again.err
    _no_password_anywhere(cluster, again.out, again.err)


def test_a_worker_killed_mid_run_on_postgresql(tmp_path: Path, redis_server: RedisServer,
                                               postgres_server: PostgresServer,
                                               market: DemoMarketplace, chromium: str,
                                               request: pytest.FixtureRequest,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _cluster(tmp_path, redis_server, market, postgres_server, monkeypatch)
    assert cluster.catalog_uri is not None and PG_PASSWORD not in cluster.catalog_uri
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
    report = _check_run(cluster, seeder)
    codes = cluster.wait_workers()
    assert codes[0] == -signal.SIGKILL and codes[1:] == [0, 0], cluster.logs()[-4000:]
    _no_password_anywhere(cluster)
    # the run's description in Redis named the catalog without its password
    from crawler.frontier.queue import Frontier, connect

    meta = Frontier(connect(cluster.redis.uri), str(report["run_id"])).meta()
    assert meta["catalog"] == cluster.catalog_uri


def test_a_run_whose_seeder_died_is_finalized_by_hand(tmp_path: Path,
                                                      redis_server: RedisServer,
                                                      postgres_server: PostgresServer,
                                                      market: DemoMarketplace, chromium: str,
                                                      request: pytest.FixtureRequest) -> None:
    cluster = _cluster(tmp_path, redis_server, market, postgres_server)
    request.addfinalizer(cluster.close)
    cluster.start_workers()
    seeder = cluster.seed()
    request.addfinalizer(lambda: seeder.poll() is None and seeder.kill())
    assert seeder.stdout is not None
    line = seeder.stdout.readline()  # "run RUN_ID seeded into redis://***@...; waiting ..."
    run_id = line.split()[1]
    assert line.startswith("run ") and "seeded" in line, line
    seeder.send_signal(signal.SIGKILL)  # the seeder dies; the workers finish the frontier
    seeder.communicate(timeout=30)  # reaped, its pipes closed
    assert cluster.wait_workers() == [0, 0, 0], cluster.logs()[-4000:]
    done = run_markwatch(["runs", "finalize", run_id, "--catalog", str(cluster.catalog_uri),
                          "--report-json", "report.json"], cwd=cluster.root,
                         env={"MARKWATCH_FRONTIER": cluster.redis.uri})
    assert done.code == 0, done.out + done.err
    report = json.loads((cluster.root / "report.json").read_text())
    with cluster.catalog() as cat:
        runs = cat.runs(run_id)
        listings = [r for r in cat.find_run(run_id) if r["kind"] == "listing"]
    assert [r["marketplace"] for r in runs] == ["demo"]
    assert report["counts"]["listings"] == len(listings) == len({r["listing_id"]
                                                                for r in listings})
    with cluster.rebuilt() as fresh, cluster.catalog() as cat:
        assert_same_catalogs(cat, fresh)
    _no_password_anywhere(cluster, done.out, done.err)
