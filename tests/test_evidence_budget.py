"""Back-pressure by the bytes of captures not yet stored (crawler/evidence/budget.py).

The budget's own rules offline, then a real crawl (Chromium, the demo marketplace, the local
store) with a budget smaller than any capture and one store thread: requests wait for room,
and every capture is still stored whole and verifies. No timing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawler.demo import DemoMarketplace
from crawler.evidence.budget import (
    BudgetConfig,
    EvidenceBudget,
    EvidenceBudgetMiddleware,
    item_bytes,
)
from crawler.evidence.manifest import Artifact
from crawler.exceptions import ConfigError
from tests.helpers import run_markwatch


def test_room_waits_while_full_and_opens_on_release() -> None:
    async def scenario() -> list[str]:
        budget = EvidenceBudget(max_bytes=100, workers=1)
        events: list[str] = []
        await budget.room()  # empty: at once
        budget.hold("a", 60)
        await budget.room()  # under the limit: at once
        budget.hold("b", 60)  # over: taken in all the same (never refused)
        assert budget.held == 120 and budget.full()

        async def waiter() -> None:
            await budget.room()
            events.append("admitted")

        task = asyncio.create_task(waiter())
        for _ in range(5):
            await asyncio.sleep(0)
        events.append("still waiting" if not task.done() else "did not wait")
        budget.release("a")  # 60 held: under the limit again
        await task
        budget.release("b")
        budget.close()
        assert (budget.held, budget.peak, budget.waits) == (0, 120, 1)
        return events

    assert asyncio.run(scenario()) == ["still waiting", "admitted"]


def test_a_capture_larger_than_the_budget_is_taken_in_and_counted_once() -> None:
    budget = EvidenceBudget(max_bytes=10, workers=1)
    budget.hold("big", 1000)
    budget.hold("big", 1000)  # the same capture again counts once
    assert budget.held == 1000
    budget.release("big")
    budget.release("big")  # a second release changes nothing
    assert budget.held == 0 and not budget.full()
    budget.close()


def test_item_bytes_counts_memory_and_temporary_files(tmp_path: Path) -> None:
    warc = tmp_path / "page.warc.gz"
    warc.write_bytes(b"w" * 300)
    artifacts = [Artifact("dom.html", "text/html", b"d" * 50),
                 Artifact("page.warc.gz", "application/warc", warc)]
    payloads = [Artifact("payload-x", "application/octet-stream", b"p" * 7)]
    assert item_bytes(artifacts, payloads) == 357


def test_settings_are_checked() -> None:
    assert BudgetConfig.from_settings({"EVIDENCE_INFLIGHT_MB": "0.5"}).max_bytes == 512 * 1024
    with pytest.raises(ConfigError, match="EVIDENCE_INFLIGHT_MB"):
        BudgetConfig.from_settings({"EVIDENCE_INFLIGHT_MB": "-1"})
    with pytest.raises(ConfigError, match="EVIDENCE_STORE_WORKERS"):
        BudgetConfig.from_settings({"EVIDENCE_STORE_WORKERS": "0"})
    crawler = get_crawler(settings_dict={"EVIDENCE_ENABLED": True, "EVIDENCE_INFLIGHT_MB": 0})
    with pytest.raises(NotConfigured):
        EvidenceBudgetMiddleware.from_crawler(crawler)
    EvidenceBudget.for_crawler(crawler).close()


WATCHLIST = """\
version: 1
settings:
  max_pages: 1
  max_listings: 6
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    marketplaces: [demo]
"""


@pytest.mark.browser
def test_a_tiny_budget_holds_requests_back_and_loses_nothing(
        tmp_path: Path, demo_market: DemoMarketplace, chromium: str) -> None:
    """1 KiB of budget (less than any capture) and one store thread, three requests at once:
    the listings a results page leads to are asked for while that page's capture is assembled,
    and its bytes already count then (`MarketplaceSpider._assembling`), so they wait; so does
    every request after a capture is taken in, until it is stored. Every listing is still
    captured, and every capture verifies (artifacts, payloads, manifest, seal)."""
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    store = tmp_path / "store"
    result = run_markwatch(
        ["crawl", "-w", "watchlist.yaml", "--store", f"file://{store}",
         "--report-json", "report.json", "--log-level", "INFO",
         "-s", "EVIDENCE_INFLIGHT_MB=0.001", "-s", "EVIDENCE_STORE_WORKERS=1",
         "-s", "CONCURRENT_REQUESTS=3", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=3",
         "-s", "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=3"],
        cwd=tmp_path, env={"MARKWATCH_DEMO_URL": demo_market.base_url})
    assert result.code == 0, result.err[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["failures"] == 0
    truth = {x.listing_id for x in demo_market.catalog.search("lumara handbag")
             [:demo_market.page_size][:6]}
    listed = run_markwatch(["evidence", "list", "--kind", "listing", "--format", "json"],
                           cwd=tmp_path, env={"MARKWATCH_STORE": f"file://{store}"})
    assert listed.code == 0, listed.err
    assert {r["listing_id"] for r in json.loads(listed.out)} == truth
    waits = re.search(r"'evidence/budget_waits': (\d+)", result.err)
    assert waits and int(waits.group(1)) >= 1, "no request was held back"
    peak = re.search(r"'evidence/inflight_bytes_peak': (\d+)", result.err)
    assert peak and int(peak.group(1)) > 1024
    verified = run_markwatch(["verify", "--all"], cwd=tmp_path,
                             env={"MARKWATCH_STORE": f"file://{store}"})
    captures = report["counts"]["captures"]
    assert verified.code == 0, verified.out[-3000:]
    assert f"{captures} of {captures} captures verified" in verified.out
