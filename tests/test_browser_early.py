"""A short crawl's start and ramp-up, in real Chromium on the demo marketplace: the browser is
started beside the first requests (`EVIDENCE_BROWSER_EARLY`), and a results page's listings are
asked for before its evidence is assembled. Asserted on the order of the crawl's timeline
events (`crawler.extensions.timeline`), never on durations."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from crawler.demo import DemoMarketplace
from crawler.demo.server import Response
from storage.catalog import Catalog
from tests.helpers import run_markwatch

pytestmark = pytest.mark.browser

WATCHLIST = """\
version: 1
settings:
  max_pages: 2
  max_listings: 3
  egress: {allow: [127.0.0.1]}
brands:
  - {name: Lumara, terms: ["lumara handbag"], marketplaces: [demo]}
"""


class GatedMarketplace(DemoMarketplace):
    """The demo marketplace, answering robots.txt only once the crawl's timeline shows the
    browser launched (or, at the latest, after `bound` seconds, so a crawl that would launch
    it only later still ends). The crawl's first page needs robots.txt first: a browser
    launched behind this gate was launched before any page was asked of it."""

    def __init__(self, timeline: Path, bound: float) -> None:
        super().__init__()
        self.timeline, self.bound = timeline, bound
        self.released_by: str | None = None
        self._wake = threading.Event()

    def handle(self, target: str, cookie_header: str = "", base_url: str = "") -> Response:
        if target.startswith("/robots.txt") and self.released_by is None:
            for _ in range(int(self.bound * 10)):
                if self.timeline.exists() and '"browser_launched"' in self.timeline.read_text():
                    self.released_by = "browser launched"
                    break
                self._wake.wait(0.1)
            else:
                self.released_by = "bound"
        return super().handle(target, cookie_header, base_url)


def crawl(tmp_path: Path, market: DemoMarketplace, timeline: Path,
          *settings: str) -> list[dict[str, Any]]:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    args = ["crawl", "-w", "watchlist.yaml", "--store", f"file://{tmp_path / 'store'}",
            "-s", f"MARKWATCH_TIMELINE={timeline}"]
    for pair in settings:
        args += ["-s", pair]
    result = run_markwatch(args, cwd=tmp_path, env={"MARKWATCH_DEMO_URL": market.base_url})
    assert result.code == 0, result.err[-3000:]
    with Catalog(tmp_path / "store" / "catalog.db") as catalog:
        kinds = [row["kind"] for row in catalog.query("SELECT kind FROM captures")]
    assert kinds.count("listing") == 3 and kinds.count("search") == 1, kinds
    return [json.loads(line) for line in timeline.read_text().splitlines()]


def index(events: list[dict[str, Any]], event: str, kind: str | None = None) -> int:
    """Position of the first `event` (of page `kind`) on the timeline."""
    for i, e in enumerate(events):
        if e["event"] == event and (kind is None or e.get("kind") == kind):
            return i
    raise AssertionError(f"no {event} {kind or ''} on the timeline: {events}")


def test_browser_launched_before_the_first_page_is_asked_for(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    market = GatedMarketplace(timeline, bound=120)
    with market:
        events = crawl(tmp_path, market, timeline)
    assert market.released_by == "browser launched"
    launched = index(events, "browser_launched")
    assert launched < index(events, "response", "robots")
    assert launched < index(events, "downloading", "search")
    # one driver and one browser: the https handler, which no page needs, starts neither
    names = [e["event"] for e in events]
    assert names.count("driver_starting") == 1 and names.count("browser_launching") == 1


def test_lazy_start_keeps_scrapy_playwrights_order(tmp_path: Path) -> None:
    """`EVIDENCE_BROWSER_EARLY=False`: the driver is started before the first request and
    the browser by the first rendered one, as scrapy-playwright does."""
    timeline = tmp_path / "timeline.jsonl"
    with DemoMarketplace() as market:
        events = crawl(tmp_path, market, timeline, "EVIDENCE_BROWSER_EARLY=False")
    assert index(events, "driver_started") < index(events, "downloading", "robots")
    assert index(events, "downloading", "search") < index(events, "browser_launching")


def test_listings_asked_for_before_the_results_page_is_assembled(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    with DemoMarketplace() as market:
        events = crawl(tmp_path, market, timeline)
    assembled = index(events, "assembled", "search")
    assert index(events, "scheduled", "listing") < assembled
    scheduled = [e["url"] for e in events[:assembled] if e["event"] == "scheduled"
                 and e.get("kind") == "listing"]
    assert len(scheduled) == 3  # every listing of the page, before its evidence is made
