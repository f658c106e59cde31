"""Back-pressure by the bytes of captures not yet stored (crawler/evidence/budget.py).

The budget's own rules offline, then a real crawl (Chromium, the demo marketplace, an S3
archive on moto made slow by a proxy) with a budget smaller than any capture and one store
thread: requests wait for room, and every capture is still stored whole and verifies. No
timing is asserted.
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
from tests.servers import FaultProxy, S3Server
from tests.servers.moto import MotoS3


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
S3_DELAY = 0.05
"""Seconds every request to the archive is held back by the proxy: the slow archive the budget
is for. A capture is some twenty requests (objects, read-backs), so each takes about a
second to store, on one store thread."""


@pytest.mark.browser
@pytest.mark.s3
def test_a_slow_archive_holds_requests_back_and_loses_nothing(
        tmp_path: Path, demo_market: DemoMarketplace, chromium: str) -> None:
    """1 KiB of budget (less than any capture), one store thread, three requests at once, and
    an S3 archive (moto) behind a proxy that answers every request late. The listings a
    results page leads to are asked for while that page's capture is assembled and stored,
    about a second here, and its bytes count all that time (`MarketplaceSpider._assembling`, then
    the evidence pipeline), so they wait; later requests wait while listings are stored.
    (On a fast local store that window is a few milliseconds and whether a request falls in
    it is a race: this test once failed that way.) Every listing is still captured, stored
    exactly once and verifies (artifacts, payloads, manifest, seal)."""
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    with MotoS3() as moto:
        server = S3Server("moto", moto.endpoint_url, moto.access_key, moto.secret_key,
                          moto.region)
        bucket = server.new_bucket()
        env = {"AWS_ACCESS_KEY_ID": moto.access_key, "AWS_SECRET_ACCESS_KEY": moto.secret_key,
               "AWS_DEFAULT_REGION": moto.region, "AWS_EC2_METADATA_DISABLED": "true",
               "MARKWATCH_DEMO_URL": demo_market.base_url,
               "MARKWATCH_SPOOL_DIR": str(tmp_path / "spool")}
        catalog = f"sqlite:///{tmp_path}/catalog.db"
        with FaultProxy(moto.endpoint_url) as proxy:
            proxy.delay(S3_DELAY, None, window=600)
            slow = f"s3://{bucket}/evidence?endpoint_url={proxy.url}&addressing_style=path"
            result = run_markwatch(
                ["crawl", "-w", "watchlist.yaml", "--store", slow, "--catalog", catalog,
                 "--report-json", "report.json", "--log-level", "INFO",
                 "-s", "EVIDENCE_INFLIGHT_MB=0.001", "-s", "EVIDENCE_STORE_WORKERS=1",
                 "-s", "CONCURRENT_REQUESTS=3", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=3",
                 "-s", "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=3"],
                cwd=tmp_path, env=env)
        assert result.code == 0, result.err[-3000:]
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["counts"]["failures"] == 0 and not report.get("spooled")
        waits = re.search(r"'evidence/budget_waits': (\d+)", result.err)
        assert waits and int(waits.group(1)) >= 1, "no request was held back"
        peak = re.search(r"'evidence/inflight_bytes_peak': (\d+)", result.err)
        assert peak and int(peak.group(1)) > 1024
        store = f"s3://{bucket}/evidence?endpoint_url={moto.endpoint_url}&addressing_style=path"
        truth = {x.listing_id for x in demo_market.catalog.search("lumara handbag")
                 [:demo_market.page_size][:6]}
        listed = run_markwatch(["evidence", "list", "--kind", "listing", "--format", "json",
                                "--store", store, "--catalog", catalog], cwd=tmp_path, env=env)
        assert listed.code == 0, listed.err
        assert {r["listing_id"] for r in json.loads(listed.out)} == truth
        manifests = [key for page in server.client().get_paginator("list_objects_v2")
                     .paginate(Bucket=bucket) for key in
                     (o["Key"] for o in page.get("Contents", [])) if "/captures/" in key]
        captures = report["counts"]["captures"]
        assert len(manifests) == captures == len(truth) + 1  # each exactly once
        verified = run_markwatch(["verify", "--all", "--store", store, "--catalog", catalog],
                                 cwd=tmp_path, env=env)
        assert verified.code == 0, verified.out[-3000:]
        assert f"{captures} of {captures} captures verified" in verified.out
