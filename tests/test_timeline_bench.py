"""`bench/timeline.py`'s reading of a crawl's timeline, and the timeline's file format
(`crawler.extensions.timeline`), without a crawl: the phases, the tabs busy, the CPU between
samples."""

from __future__ import annotations

import io
import json

from scrapy import Request
from scrapy.settings import Settings

from bench.timeline import Sampled, busy_intervals, cpu_at, mean_busy, phases, tail_start
from crawler.extensions.timeline import Timeline, TimelineConfig, kind_of


def ev(event: str, t: float, kind: str | None = None, url: str = "") -> dict[str, object]:
    out: dict[str, object] = {"event": event, "t": t, "url": url}
    if kind:
        out["kind"] = kind
    return out


def crawl_events() -> list[dict[str, object]]:
    """Two page slots: one search page, then three listings, the last alone at the end."""
    return [
        ev("engine_started", 1.0),
        ev("downloading", 2.0, "robots", "/robots.txt"), ev("downloaded", 2.1, "robots"),
        ev("downloading", 2.2, "search", "s1"), ev("rendered", 4.0, "search", "s1"),
        ev("scheduled", 4.1, "listing", "a"),
        ev("downloading", 4.2, "listing", "a"), ev("downloading", 4.2, "listing", "b"),
        ev("stored", 4.5, "search", "s1"),
        ev("rendered", 6.0, "listing", "a"), ev("stored", 6.2, "listing", "a"),
        ev("downloading", 6.0, "listing", "c"),
        ev("rendered", 7.0, "listing", "b"), ev("stored", 7.1, "listing", "b"),
        ev("rendered", 9.0, "listing", "c"), ev("stored", 9.5, "listing", "c"),
        ev("engine_stopped", 9.6),
    ]


def test_tabs_busy_from_downloader_to_tab_given_back() -> None:
    spans = sorted(busy_intervals(crawl_events(), "rendered"))
    assert spans == [(2.2, 4.0), (4.2, 6.0), (4.2, 7.0), (6.0, 9.0)]
    assert sorted(busy_intervals(crawl_events(), "stored"))[0] == (2.2, 4.5)
    assert mean_busy(spans, 4.2, 6.0) == 2.0
    assert tail_start(spans, 2, 9.5) == 7.0  # both slots busy last from 6.0 to 7.0


def test_phases_cut_where_the_timeline_says() -> None:
    s = Sampled(0.0, 10.0, samples=[(0.0, 0.0), (5.0, 4.0), (10.0, 10.0)],
                events=crawl_events())
    names = [(name, a, b) for name, a, b in phases(s, 2)]
    assert names == [("start-up", 0.0, 2.2), ("search only", 2.2, 4.2),
                     ("steady", 4.2, 7.0), ("tail", 7.0, 9.5), ("shutdown", 9.5, 10.0)]
    assert cpu_at(s.samples, 2.5) == 2.0 and cpu_at(s.samples, 7.5) == 7.0


def test_timeline_lines_and_kinds() -> None:
    assert TimelineConfig.from_settings(Settings()).path == ""
    assert TimelineConfig.from_settings(Settings({"MARKWATCH_TIMELINE": "/x"})).path == "/x"
    assert kind_of(Request("http://h/robots.txt")) == "robots"
    assert kind_of(Request("http://h/s", meta={"page_kind": "search"})) == "search"
    out = io.StringIO()
    timeline = Timeline(out)
    timeline.note("browser_launched")
    timeline.item_scraped({"kind": "listing", "url": "http://h/a"}, None, None)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["browser_launched", "stored"]
    assert lines[1]["kind"] == "listing" and lines[1]["url"] == "http://h/a"
    assert all(isinstance(e["t"], float) for e in lines)
