"""Captures/s of one plain crawl against 1, 2 and 3 workers sharing a Redis frontier.

Starts the demo marketplace and a real redis-server (Debian's) on 127.0.0.1, then times, on the
same pages: a plain `markwatch crawl`, and `markwatch crawl --frontier` with N `markwatch
worker --once` processes started first (wall time from seeding to the finalized run, browser
launches included in both). On a 2-core machine more workers cannot go faster (CPU-bound);
the figure that matters is one worker through Redis against the plain crawl (goal >= 0.95).
Each worker's process tree (its Chromium included) is sampled from /proc (bench/proctree.py):
peak PSS and CPU seconds per worker, the figures docs/scaling.md sizes workers by.

With `--catalog postgresql` every run writes its catalog into a new database of a throwaway
PostgreSQL server (Debian's, on 127.0.0.1, started for the bench); the seeder's `--catalog`
reaches the workers through the run's description in Redis. The default is SQLite next to the
store.

    .venv/bin/python bench/workers.py [--listings 12] [--workers 1,2,3] [--catalog postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proctree import TreeStats, run_sampled  # noqa: E402
from crawler.demo import DemoMarketplace  # noqa: E402
from tests.servers.redis import RedisServer, ensure_redis  # noqa: E402

MARKWATCH = str(Path(sys.executable).with_name("markwatch"))
WATCHLIST = """\
version: 1
case: "BENCH"
settings: {{max_pages: 1, max_listings: {n}, egress: {{allow: [127.0.0.1]}}}}
brands:
  - {{name: Lumara, terms: ["lumara handbag"], marketplaces: [demo]}}
  - {{name: Corvane, terms: ["corvane watch"], marketplaces: [demo]}}
"""


def one(root: Path, env: dict[str, str], workers: int,
        catalog: str | None = None) -> tuple[float, int, list[TreeStats]]:
    """(seconds, captures, per-process stats) of one run with `workers` frontier workers (0: a
    plain crawl, its own process tree sampled)."""
    root.mkdir(parents=True)
    args = [MARKWATCH, "crawl", "-w", str(root.parent / "watchlist.yaml"), "--store",
            f"file://{root / 'store'}", "--report-json", str(root / "r.json"),
            "--log-level", "ERROR"]
    run_env = dict(env)
    if catalog:
        run_env["MARKWATCH_CATALOG"] = catalog  # by environment: the URI holds a password
    stats: list[TreeStats] = []
    threads: list[threading.Thread] = []

    def sampled(cmd: list[str], log: Path) -> Callable[[], None]:
        def run() -> None:
            stats.append(run_sampled(cmd, env=run_env, log=str(log), timeout=600))
        return run

    if workers:
        for i in range(workers):
            threads.append(threading.Thread(target=sampled(
                [MARKWATCH, "worker", "--once", "--log-level", "ERROR"], root / f"w{i}.log")))
            threads[-1].start()
        time.sleep(1.0)  # workers waiting for a run, as in production
        began = time.monotonic()
        done = subprocess.run(args, env=run_env, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - began
        for thread in threads:
            thread.join(600)
        failed = done.returncode != 0 or any(s.returncode for s in stats)
        output = done.stdout + done.stderr
    else:
        run_env.pop("MARKWATCH_FRONTIER")
        began = time.monotonic()
        sampled(args, root / "crawl.log")()
        seconds = time.monotonic() - began
        failed = stats[0].returncode != 0
        output = (root / "crawl.log").read_text(errors="replace")
    if failed:
        raise SystemExit(f"crawl failed ({workers} workers): {output[-3000:]}")
    report = json.loads((root / "r.json").read_text())
    return seconds, int(report["counts"]["captures"]), stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=12)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--catalog", choices=["sqlite", "postgresql"], default="sqlite",
                        help="The catalog every run writes (postgresql: a throwaway server).")
    opts = parser.parse_args()
    if (why := ensure_redis()) is not None:
        raise SystemExit(why)
    counts = [int(n) for n in opts.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="markwatch-bench-workers-") as tmp, \
            RedisServer() as redis, DemoMarketplace() as market, ExitStack() as stack:
        new_catalog: Callable[[], str | None] = lambda: None  # noqa: E731 - SQLite by default
        if opts.catalog == "postgresql":
            from tests.servers.postgres import PostgresServer, ensure_postgres

            if (why := ensure_postgres()) is not None:
                raise SystemExit(why)
            pg = stack.enter_context(PostgresServer())
            new_catalog = pg.new_database
        base = Path(tmp)
        (base / "watchlist.yaml").write_text(WATCHLIST.format(n=opts.listings), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARKWATCH_")}
        env.update(MARKWATCH_PROGRESS="off", MARKWATCH_DEMO_URL=market.base_url,
                   MARKWATCH_FRONTIER=redis.uri)
        print(f"catalog: {opts.catalog}; load average {os.getloadavg()[0]:.1f} at start")
        plain_s, plain_n, plain_stats = one(base / "plain", env, 0, new_catalog())
        plain_rate = plain_n / plain_s
        print(f"{'setup':<22} {'captures':>8} {'seconds':>8} {'captures/s':>10} {'vs plain':>8} "
              f"{'peak PSS MiB/proc':>17} {'CPU s/proc':>10}")

        def row(name: str, n: int, secs: float, rate: float, stats: list[TreeStats]) -> None:
            pss = max(s.peak_pss_mib for s in stats)
            cpu = sum(s.cpu_s for s in stats) / len(stats)
            print(f"{name:<22} {n:>8} {secs:>8.1f} {rate:>10.2f} {rate / plain_rate:>8.2f} "
                  f"{pss:>17.0f} {cpu:>10.1f}")

        row("plain crawl", plain_n, plain_s, plain_rate, plain_stats)
        for n in counts:
            secs, got, stats = one(base / f"w{n}", env, n, new_catalog())
            row(f"{n} worker(s) via Redis", got, secs, got / secs, stats)
        print(f"load average {os.getloadavg()[0]:.1f} at the end (2 cores: above 2 means the "
              "runs waited for a core)")


if __name__ == "__main__":
    main()
