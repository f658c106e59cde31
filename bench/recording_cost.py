"""Cost of the recording proxy: captures/s and CPU per capture, with and without it, one run.

Crawls the bundled demo marketplace alternately with `EVIDENCE_RECORDING_PROXY` on and off
(each crawl a fresh process into a fresh store; CPU is that process plus its children, i.e.
Chromium too) and prints medians. Usage: python bench/recording_cost.py [--listings N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from crawler.demo import DemoMarketplace

CRAWL = """
import json, sys
from crawler.cli.demo import demo_watchlist
from crawler.runs.runner import CrawlOptions, run_crawl
store, base, listings, proxy = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "on"
opts = CrawlOptions(demo_watchlist(), f"file://{store}", f"sqlite:///{store}/catalog.db",
                    max_listings=listings, settings={"DEMO_BASE_URL": base, "LOG_LEVEL": "ERROR",
                                                     "EVIDENCE_RECORDING_PROXY": proxy})
print(json.dumps(run_crawl(opts).to_json()))
"""


def crawl(base: str, listings: int, proxy: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-c", CRAWL, f"{tmp}/store", base, str(listings),
                               "on" if proxy else "off"], capture_output=True, text=True,
                              check=True)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    captures = report["counts"]["captures"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"captures": captures, "wall_s": wall, "captures_per_s": captures / wall,
            "cpu_s_per_capture": cpu / captures, "failures": report["counts"]["failures"],
            "stored_mb": report["counts"].get("new_bytes", 0) / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    with DemoMarketplace() as market:
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                results[mode].append(crawl(market.base_url, args.listings, mode == "on"))
                print(mode, json.dumps(results[mode][-1]), flush=True)
    for mode, rows in results.items():
        summary = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
        print(f"proxy {mode}: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
