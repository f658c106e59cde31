"""What the browser cache being off costs a bare Playwright loop, by process (issue 20).

markwatch turns the browser cache off for every evidence page, so that every resource reaches
the recording proxy; the plain baseline (`bench/baseline.py`) keeps it on: scripts, styles,
fonts and shared images are fetched, parsed and compiled once. This runs the plain loop over
the same demo listing pages with the cache on and off (`--cache-off`), alternating, in the
same run, and prints CPU seconds per page by kind of process and the ratio off / on.

    python bench/cache_cost.py --pages 60 --concurrency 4 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proctree import run_sampled  # noqa: E402
from bench.run import DEMO_CONSENT_COOKIE  # noqa: E402
from crawler.browser.chromium import find_chromium  # noqa: E402
from crawler.demo import DemoMarketplace, build_catalog  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    chromium = find_chromium()
    catalog = build_catalog(listings=max(opts.pages, 1))
    totals: dict[str, dict[str, float]] = {"on": {}, "off": {}}
    with DemoMarketplace(catalog) as market, tempfile.TemporaryDirectory() as work:
        urls = Path(work) / "urls.txt"
        urls.write_text("".join(f"{market.base_url}{item.url}\n"
                                for item in catalog.listings[:opts.pages]), encoding="utf-8")
        for _ in range(opts.rounds):
            for label in ("on", "off"):
                cmd = [sys.executable, str(ROOT / "bench" / "baseline.py"), "--urls", str(urls),
                       "--concurrency", str(opts.concurrency), "--cookie", DEMO_CONSENT_COOKIE]
                if chromium:
                    cmd += ["--chromium", chromium]
                if label == "off":
                    cmd.append("--cache-off")
                stats = run_sampled(cmd, cwd=work, log=os.path.join(work, f"{label}.log"))
                if stats.returncode != 0:
                    raise SystemExit(f"baseline.py failed: {Path(work, label + '.log')}")
                for kind, cpu in stats.cpu_by_kind.items():
                    totals[label][kind] = totals[label].get(kind, 0.0) + cpu
                totals[label]["total"] = totals[label].get("total", 0.0) + stats.cpu_s
    pages = opts.pages * opts.rounds
    kinds = sorted(set(totals["on"]) | set(totals["off"]), key=lambda k: -totals["off"].get(k, 0))
    print(f"CPU s per page, {opts.pages} listing pages x {opts.rounds} rounds, concurrency "
          f"{opts.concurrency}, load {os.getloadavg()[0]:.1f}")
    print(f"{'process':22} {'cache on':>9} {'cache off':>9} {'off/on':>7}")
    for kind in kinds:
        on, off = totals["on"].get(kind, 0.0) / pages, totals["off"].get(kind, 0.0) / pages
        ratio = f"{off / on:.2f}" if on else ""
        print(f"{kind:22} {on:>9.3f} {off:>9.3f} {ratio:>7}")


if __name__ == "__main__":
    main()
