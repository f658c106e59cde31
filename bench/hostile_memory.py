"""Peak memory of a crawl over hostile pages next to an ordinary crawl.

Run: `.venv/bin/python -m bench.hostile_memory`.

Crawls Trapdoor (tests/sites/attacker.py: forbidden destinations, an endless redirect, a
512 MiB gzip bomb, a DOM bomb, a download, WebSockets, a fake user agent) and then the demo
marketplace for about as many captures, each with a whole `markwatch crawl`, sampling the PSS
of the whole process tree (browser included). Prints both peaks and their ratio (goal: 1.5 x
at most). No assertion: machines are noisy; the figures are for docs/performance.md.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proctree import TreeStats, run_sampled  # noqa: E402
from crawler.demo import DemoMarketplace  # noqa: E402
from tests.sites.attacker import MARKER, Trapdoor  # noqa: E402
from tests.test_hostile_crawl import WATCHLIST  # noqa: E402

BIN = Path(sys.executable).parent
EXTRA = [a for pair in sys.argv[1:] for a in ("-s", pair)]
"""`NAME=VALUE` settings from the command line, given to both crawls (experiments)."""
ORDINARY = """\
version: 1
settings:
  max_pages: 2
  max_listings: {listings}
  egress: {{allow: ["{netloc}"]}}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    marketplaces: [demo]
"""


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKWATCH_")}
    env.update(MARKWATCH_PROGRESS="off", **extra)
    return env


def _crawl(work: Path, watchlist: str, env: dict[str, str]) -> tuple[TreeStats, dict[str, int]]:
    (work / "watchlist.yaml").write_text(watchlist, encoding="utf-8")
    cmd = [str(BIN / "markwatch"), "crawl", "-w", "watchlist.yaml", "--store",
           f"file://{work}/store", "--report-json", "report.json", "--log-level", "ERROR",
           "-s", "EVIDENCE_CAPTURE_TIMEOUT=40", *EXTRA]
    stats = run_sampled(cmd, env=_env(env), cwd=str(work), interval=0.2,
                        log=str(work / "crawl.log"))
    report = json.loads((work / "report.json").read_text())
    return stats, report["counts"]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="markwatch-hostile-") as tmp:
        root = Path(tmp)
        (root / "hostile").mkdir()
        secret = root / "secret.pem"
        secret.write_text(MARKER, encoding="utf-8")
        with Trapdoor(secret, bomb_mib=512) as site:
            hostile, h_counts = _crawl(root / "hostile", WATCHLIST.format(
                netloc=site.netloc, base=site.base_url), {})
            hits = site.forbidden.hits
        (root / "ordinary").mkdir()
        with DemoMarketplace() as market:
            netloc = market.base_url.split("//", 1)[1].rstrip("/")
            ordinary, o_counts = _crawl(root / "ordinary", ORDINARY.format(
                listings=max(h_counts.get("captures", 6), 6), netloc=netloc),
                {"MARKWATCH_DEMO_URL": market.base_url})
    ratio = hostile.peak_pss_mib / ordinary.peak_pss_mib if ordinary.peak_pss_mib else 0.0
    print(f"{'crawl':<10} {'captures':>8} {'failures':>8} {'wall s':>7} {'peak PSS MiB':>12}")
    for name, stats, counts in (("hostile", hostile, h_counts),
                                ("ordinary", ordinary, o_counts)):
        print(f"{name:<10} {counts.get('captures', 0):>8} {counts.get('failures', 0):>8} "
              f"{stats.wall_s:>7.1f} {stats.peak_pss_mib:>12.0f}")
    print(f"hostile / ordinary peak PSS: {ratio:.2f} x (goal <= 1.5 x); "
          f"forbidden destinations reached: {sum(hits.values())}")


if __name__ == "__main__":
    main()
