"""Captures/s of one plain crawl against 1, 2 and 3 workers sharing a Redis frontier.

Starts the demo marketplace and a real redis-server (Debian's) on 127.0.0.1, then times, on the
same pages: a plain `markwatch crawl`, and `markwatch crawl --frontier` with N `markwatch
worker --once` processes started first (wall time from seeding to the finalized run, browser
launches included in both). On a 2-core machine more workers cannot go faster (CPU-bound);
the figure that matters is one worker through Redis against the plain crawl (goal >= 0.95).

    .venv/bin/python bench/workers.py [--listings 12] [--workers 1,2,3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def one(root: Path, env: dict[str, str], workers: int) -> tuple[float, int]:
    """(seconds, captures) of one run with `workers` frontier workers (0: a plain crawl)."""
    root.mkdir(parents=True)
    args = [MARKWATCH, "crawl", "-w", str(root.parent / "watchlist.yaml"), "--store",
            f"file://{root / 'store'}", "--report-json", str(root / "r.json"),
            "--log-level", "ERROR"]
    run_env = dict(env)
    procs = []
    if workers:
        for i in range(workers):
            log = (root / f"w{i}.log").open("w")
            procs.append(subprocess.Popen([MARKWATCH, "worker", "--once", "--log-level",
                                           "ERROR"], env=run_env, stdout=log,
                                          stderr=subprocess.STDOUT))
        time.sleep(1.0)  # workers waiting for a run, as in production
    else:
        run_env.pop("MARKWATCH_FRONTIER")
    began = time.monotonic()
    done = subprocess.run(args, env=run_env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - began
    for proc in procs:
        proc.wait(120)
    if done.returncode:
        raise SystemExit(f"crawl failed ({workers} workers): {done.stdout}{done.stderr}")
    report = json.loads((root / "r.json").read_text())
    return seconds, int(report["counts"]["captures"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=12)
    parser.add_argument("--workers", default="1,2,3")
    opts = parser.parse_args()
    if (why := ensure_redis()) is not None:
        raise SystemExit(why)
    counts = [int(n) for n in opts.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="markwatch-bench-workers-") as tmp, \
            RedisServer() as redis, DemoMarketplace() as market:
        base = Path(tmp)
        (base / "watchlist.yaml").write_text(WATCHLIST.format(n=opts.listings), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARKWATCH_")}
        env.update(MARKWATCH_PROGRESS="off", MARKWATCH_DEMO_URL=market.base_url,
                   MARKWATCH_FRONTIER=redis.uri)
        plain_s, plain_n = one(base / "plain", env, 0)
        plain_rate = plain_n / plain_s
        print(f"{'setup':<22} {'captures':>8} {'seconds':>8} {'captures/s':>10} {'vs plain':>8}")
        print(f"{'plain crawl':<22} {plain_n:>8} {plain_s:>8.1f} {plain_rate:>10.2f} "
              f"{1.0:>8.2f}")
        for n in counts:
            secs, got = one(base / f"w{n}", env, n)
            rate = got / secs
            print(f"{f'{n} worker(s) via Redis':<22} {got:>8} {secs:>8.1f} {rate:>10.2f} "
                  f"{rate / plain_rate:>8.2f}")


if __name__ == "__main__":
    main()
