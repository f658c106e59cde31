"""`kill -USR2` on a running crawl logs what it is doing (`crawler.extensions.status_dump`):
the engine's state, the requests in flight, the browser contexts' page slots and the asyncio
tasks with the lines they wait on, and the crawl goes on to finish. A real crawl of the demo
marketplace in real Chromium."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from crawler.demo import DemoMarketplace
from tests.helpers import MARKWATCH, isolated_env

pytestmark = pytest.mark.browser

WATCHLIST = """\
version: 1
case: "CASE-DUMP"
settings:
  max_pages: 1
  max_listings: 3
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    marketplaces: [demo]
"""


def test_sigusr2_logs_the_crawls_state_and_the_crawl_goes_on(
        tmp_path: Path, demo_market: DemoMarketplace, chromium: str) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    env = isolated_env()
    env.update(MARKWATCH_DEMO_URL=demo_market.base_url, MARKWATCH_PROGRESS="off")
    log = tmp_path / "crawl.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [MARKWATCH, "crawl", "-w", "watchlist.yaml", "--store", f"file://{tmp_path}/store",
             "--log-level", "WARNING", "-s", "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=1"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            # the first capture is under way once the store holds its first object
            for _ in range(1200):
                if proc.poll() is not None or any((tmp_path / "store").glob("blobs/sha256/*")):
                    break
                time.sleep(0.1)
            assert proc.poll() is None, log.read_text()[-3000:]
            proc.send_signal(signal.SIGUSR2)
            assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    dump = text[text.index("Status on request (SIGUSR2)"):]
    for part in ("Execution engine status", "Requests in flight:", "Browser contexts:",
                 "free slots", "asyncio tasks pending:", "ExecutionEngine.start_async"):
        assert part in dump, (part, dump[:3000])
