"""Coverage shares and alarms on a real SQLite catalog, runs indexed from manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from crawler.exceptions import ConfigError
from crawler.fields.coverage import CoverageSettings, run_coverage, run_shares
from storage.catalog import Catalog


def _manifest(run: str, n: int, seller: str | None, started: str) -> dict[str, Any]:
    return {
        "capture_id": f"{run}-{n}", "run_id": run, "kind": "listing",
        "watch": {"marketplace": "shopx", "brand": "B", "term": "t", "case": None},
        "listing": {"listing_id": str(n), "title": "T", "price": "1", "currency": "EUR",
                    "seller_name": seller, "images": ["i"], "field_sources": {}},
        "request_url": "http://x", "final_url": "http://x", "status": 200,
        "started_at": started, "finished_at": started, "artifacts": [],
    }


def _run(cat: Catalog, run: str, captures: int, sellers: int, when: str) -> None:
    for n in range(captures):
        cat.index_capture(_manifest(run, n, "S" if n < sellers else None, when), f"k/{run}/{n}",
                          "0" * 64)
    cat.index_run({"run_id": run, "marketplace": "shopx", "started_at": when,
                   "finished_at": when, "status": "finished", "counts": {}}, f"r/{run}", "0" * 64)


def test_shares_baseline_and_warning(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as cat:
        _run(cat, "r1", 4, 4, "2026-01-01T00:00:00Z")
        _run(cat, "r2", 4, 3, "2026-01-02T00:00:00Z")
        _run(cat, "r3", 4, 1, "2026-01-03T00:00:00Z")
        shares = run_shares(cat, "r3", "shopx")
        assert shares["listing"]["fields"]["seller_name"] == 0.25
        assert shares["listing"]["fields"]["title"] == 1.0
        report = run_coverage(cat, "r3", "shopx", CoverageSettings(drop=0.5))
        assert report["baseline"]["listing"]["seller_name"] == 0.875
        assert [w["field"] for w in report["warnings"]] == ["seller_name"]
        assert not report["fail_run"]
        quiet = run_coverage(cat, "r3", "shopx", CoverageSettings(drop=0.7))
        assert quiet["warnings"] == []
        strict = run_coverage(cat, "r3", "shopx", CoverageSettings(drop=0.5, fail_run=True))
        assert strict["fail_run"]


def test_too_few_captures_raise_no_alarm(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as cat:
        _run(cat, "r1", 2, 2, "2026-01-01T00:00:00Z")  # under min_captures: no baseline
        _run(cat, "r2", 4, 0, "2026-01-02T00:00:00Z")
        report = run_coverage(cat, "r2", "shopx", CoverageSettings(drop=0.3, min_captures=3))
        assert report["warnings"] == [] and report["baseline"] == {}


def test_settings_parsed_and_checked() -> None:
    parsed = CoverageSettings.from_settings(Settings({"COVERAGE_ALARM_DROP": "0.2",
                                                      "COVERAGE_ALARM_EXIT": "1"}))
    assert parsed.drop == 0.2 and parsed.fail_run
    with pytest.raises(ConfigError):
        CoverageSettings.from_settings(Settings({"COVERAGE_ALARM_DROP": "1.5"}))
