"""The scheduler and run history, end to end against the demo marketplace (resumable runs:
tests/test_resume.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from crawler.demo import DemoMarketplace
from crawler.schedule.records import ScheduleLog
from storage.catalog import Catalog
from tests.helpers import (
    WATCHLIST,
    env_for,
    run_markwatch,
    schedule_rows,
    start,
    wait_for,
    write_watchlist,
)

# -- without a browser -----------------------------------------------------------------------

def test_changed_watchlist_is_picked_up_without_restart(tmp_path: Path) -> None:
    watchlist = write_watchlist(tmp_path)
    store = tmp_path / "store"
    health = tmp_path / "health.json"
    proc = start(["schedule", "-w", str(watchlist), "--store", f"file://{store}",
                  "--health-file", str(health), "--health-port", "0"], tmp_path, env_for())
    try:
        def jobs() -> list[str]:
            if not health.exists():
                return []
            data = json.loads(health.read_text())
            return [j["name"] for j in data["jobs"]] if data["status"] == "running" else []

        assert wait_for(jobs, 60) == ["all"]
        # Corvane gets its own schedule: two jobs now, no restart
        text = watchlist.read_text().replace(
            '    terms: ["corvane watch"]\n',
            '    terms: ["corvane watch"]\n    schedule: "15 4 * * 1-5"\n')
        watchlist.write_text(text, encoding="utf-8")
        assert wait_for(lambda: jobs() if jobs() != ["all"] else [], 30) == ["lumara",
                                                                              "corvane"]
        data = json.loads(health.read_text())
        corvane = next(j for j in data["jobs"] if j["name"] == "corvane")
        assert corvane["cron"] == "15 4 * * 1-5" and corvane["brands"] == ["Corvane"]
        # a broken watchlist is reported and the jobs are kept
        watchlist.write_text(text.replace("version: 1", "version: 7"), encoding="utf-8")
        wait_for(lambda: json.loads(health.read_text())["watchlist"]["reload_error"], 30)
        assert jobs() == ["lumara", "corvane"]
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert json.loads(health.read_text())["status"] == "stopped"


def test_missed_runs_are_recorded_with_skip_policy(tmp_path: Path) -> None:
    watchlist = write_watchlist(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    # the watchlist fires daily at 03:00 UTC: last fired three firings ago, so exactly two
    # firings (not counting a third that today's time of day may or may not have passed) are due
    now = dt.datetime.now(dt.UTC)
    newest = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if newest > now:
        newest -= dt.timedelta(days=1)
    two_days_ago = newest - dt.timedelta(days=2)
    with ScheduleLog(store / "catalog.db") as log:
        log.add("all", str(watchlist.resolve()), (), two_days_ago, "cron", "finished")
    health = tmp_path / "health.json"
    proc = start(["schedule", "-w", str(watchlist), "--store", f"file://{store}",
                  "--missed", "skip", "--health-file", str(health)], tmp_path, env_for())
    try:
        wait_for(lambda: health.exists() and json.loads(health.read_text())["status"]
                 == "running", 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    rows = schedule_rows(store)
    missed = [r for r in rows if r["status"] == "missed"]
    assert len(missed) == 1
    assert missed[0]["reason"].startswith("2 run(s) missed")
    assert not any(r["status"] in ("running", "scheduled") for r in rows)
    out = run_markwatch(["runs", "list", "--scheduled", "--format", "json", "--store",
                         f"file://{store}"], cwd=tmp_path)
    assert out.code == 0 and json.loads(out.out)[0]["status"] == "missed"


def test_schedule_refuses_a_watchlist_without_schedules(tmp_path: Path) -> None:
    watchlist = tmp_path / "wl.yaml"
    watchlist.write_text(WATCHLIST.format(max_listings=3, extra="").replace(
        '  schedule: "0 3 * * *"\n', ""), encoding="utf-8")
    out = run_markwatch(["schedule", "-w", str(watchlist), "--store",
                         f"file://{tmp_path}/s"], cwd=tmp_path)
    assert out.code == 2 and "no brand has a schedule" in out.err


# -- with the demo marketplace in Chromium ---------------------------------------------------

@pytest.mark.browser
def test_schedule_runs_on_time_never_overlapping_and_records_each_run(
        tmp_path: Path, demo_market: DemoMarketplace, chromium: str) -> None:
    watchlist = write_watchlist(tmp_path, max_listings=2)
    store = tmp_path / "store"
    health = tmp_path / "health.json"
    proc = start(["schedule", "-w", str(watchlist), "--store", f"file://{store}", "--every",
                  "1", "--max-runs", "3", "--health-file", str(health), "--health-port", "0"],
                 tmp_path, env_for(demo_market))
    seen_health = False
    while proc.poll() is None:
        if health.exists():
            data = json.loads(health.read_text())
            running = [j for j in data["jobs"] if j["running"]]
            assert len(running) <= 1
            seen_health = seen_health or data["status"] == "running"
        time.sleep(0.2)
    assert proc.returncode == 0, (tmp_path / "process.log").read_text()[-3000:]
    assert seen_health
    rows = schedule_rows(store)
    finished = [r for r in rows if r["status"] == "finished"]
    assert len(finished) == 3
    assert all(r["exit_code"] == 0 and r["run_id"] for r in finished)
    assert any(r["status"] == "skipped" for r in rows)  # fired every second, runs take longer
    spans = sorted((r["started_at"], r["finished_at"]) for r in finished)
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end <= begin  # never two at once
    with Catalog(store / "catalog.db") as cat:
        runs = {r["run_id"]: r for r in cat.runs()}
    assert {r["run_id"] for r in finished} == set(runs)
    assert all(r["status"] == "complete" for r in runs.values())
    listed = run_markwatch(["runs", "list", "--format", "json", "--store", f"file://{store}"],
                           cwd=tmp_path)
    history = json.loads(listed.out)
    assert len(history) == 3 and all(h["job"] == "all" and h["exit_code"] == 0
                                      for h in history)
    table = run_markwatch(["runs", "list", "--store", f"file://{store}"], cwd=tmp_path)
    assert "complete" in table.out and history[0]["run_id"] in table.out
    shown = run_markwatch(["runs", "show", history[0]["run_id"], "--store", f"file://{store}"],
                          cwd=tmp_path)
    assert shown.code == 0 and "demo: complete" in shown.out and "scheduled: job all" in shown.out


def test_health_endpoint_listens_on_loopback_only(tmp_path: Path) -> None:
    watchlist = write_watchlist(tmp_path)
    health = tmp_path / "health.json"
    proc = start(["schedule", "-w", str(watchlist), "--store", f"file://{tmp_path}/store",
                  "--health-file", str(health), "--health-port", "0", "--log-level", "INFO"],
                 tmp_path, env_for())
    try:
        def port() -> int | None:
            log = (tmp_path / "process.log").read_text()
            marker = "health endpoint on http://127.0.0.1:"
            if marker not in log:
                return None
            return int(log.split(marker)[1].split("/")[0])

        number = wait_for(port, 60)
        wait_for(lambda: health.exists(), 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{number}/healthz") as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["status"] == "running"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
