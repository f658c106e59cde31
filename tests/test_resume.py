"""Resumable runs, end to end: a run stopped by SIGTERM (under the scheduler) or killed by
SIGKILL (a crawl and its browser) carries on under the same run id on the next start, and
captures every listing exactly once, losing nothing it had stored."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from crawler.demo import DemoMarketplace
from storage.catalog import Catalog
from tests.helpers import (
    env_for,
    manifests,
    run_markwatch,
    schedule_rows,
    start,
    wait_for,
    write_watchlist,
)


def expected_listing_ids(market: DemoMarketplace, max_listings: int) -> set[str]:
    out: set[str] = set()
    shown = market.page_size * 2
    for term, excluded in (("lumara handbag", ["case for"]), ("corvane watch", [])):
        hits = [x for x in market.catalog.search(term)[:shown]
                if not any(e in x.title.lower() for e in excluded)]
        out.update(x.listing_id for x in hits[:max_listings])
    return out


@pytest.mark.browser
def test_sigterm_mid_run_stops_cleanly_and_the_run_resumes(
        tmp_path: Path, demo_market: DemoMarketplace, chromium: str) -> None:
    max_listings = 6
    watchlist = write_watchlist(tmp_path, max_listings=max_listings)
    store = tmp_path / "store"
    proc = start(["schedule", "-w", str(watchlist), "--store", f"file://{store}", "--every",
                  "1", "--stop-timeout", "90"], tmp_path, env_for(demo_market))
    wait_for(lambda: len(manifests(store)) >= 3, 180)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 0, (tmp_path / "process.log").read_text()[-3000:]
    rows = schedule_rows(store)
    started = [r for r in rows if r["started_at"]]
    assert len(started) == 1 and started[0]["status"] == "interrupted"
    run_id = started[0]["run_id"]
    assert run_id and not (store / "runs" / run_id).exists()  # no record until it resumes
    before = {p.name for p in manifests(store)}
    result = run_markwatch(["crawl", "-w", str(watchlist), "--store", f"file://{store}",
                            "--report-json", "r.json"], cwd=tmp_path, env=env_for(demo_market))
    assert result.code == 0, result.err[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["run_id"] == run_id
    after = {p.name for p in manifests(store)}
    assert before <= after
    _check_run_complete(tmp_path, store, run_id, demo_market, max_listings)


@pytest.mark.browser
def test_sigkill_mid_run_then_restart_resumes_without_duplicates_or_losses(
        tmp_path: Path, demo_market: DemoMarketplace, chromium: str) -> None:
    max_listings = 8
    watchlist = write_watchlist(tmp_path, max_listings=max_listings)
    store = tmp_path / "store"
    args = ["crawl", "-w", str(watchlist), "--store", f"file://{store}", "--report-json",
            "r.json", "--log-level", "WARNING"]
    proc = start(args, tmp_path, env_for(demo_market))
    wait_for(lambda: len(manifests(store)) >= 5, 180, step=0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the crawl and its browser, mid-run
    proc.wait(30)
    killed_with = {p.name for p in manifests(store)}
    state = next((store / "state").glob("*.json"))
    run_id = json.loads(state.read_text())["run_id"]
    assert not (store / "runs" / run_id).exists()
    result = run_markwatch(args, cwd=tmp_path, env=env_for(demo_market))
    assert result.code == 0, result.err[-3000:]
    assert json.loads((tmp_path / "r.json").read_text())["run_id"] == run_id
    assert not state.exists()  # finished: nothing left to resume
    assert killed_with <= {p.name for p in manifests(store)}  # nothing lost
    _check_run_complete(tmp_path, store, run_id, demo_market, max_listings)
    # a new run now starts afresh
    again = run_markwatch([*args[:-2], "--max-listings", "1"], cwd=tmp_path,
                          env=env_for(demo_market))
    assert again.code == 0
    with Catalog(store / "catalog.db") as cat:
        assert len({r["run_id"] for r in cat.runs()}) == 2


def _check_run_complete(root: Path, store: Path, run_id: str, market: DemoMarketplace,
                        max_listings: int) -> None:
    with Catalog(store / "catalog.db") as cat:
        rows = cat.find_run(run_id)
    listings = [r["listing_id"] for r in rows if r["kind"] == "listing"]
    assert sorted(listings) == sorted(expected_listing_ids(market, max_listings))  # once each
    urls = [r["url"] for r in rows]
    assert len(urls) == len(set(urls))  # no page captured twice
    record = json.loads((store / "runs" / run_id / "demo.json").read_text())
    assert {c["capture_id"] for c in record["captures"]} == {r["capture_id"] for r in rows}
    assert len(list(manifests(store))) == len(rows)
    verified = run_markwatch(["verify", "--all", "--store", f"file://{store}"], cwd=root)
    assert verified.code == 0, verified.out[-3000:]
