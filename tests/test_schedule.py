"""The scheduler, resumable runs and run history, end to end against the demo marketplace."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crawler.demo import DemoMarketplace
from crawler.schedule.records import ScheduleLog
from storage.catalog import Catalog
from tests.conftest import MARKWATCH, run_markwatch

WATCHLIST = """\
version: 1
case: "CASE-SCHED"
settings:
  max_pages: 2
  max_listings: {max_listings}
  schedule: "0 3 * * *"
  egress: {{allow: [127.0.0.1]}}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    exclude_terms: ["case for"]
    marketplaces: [demo]
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
{extra}"""


def write_watchlist(root: Path, max_listings: int = 3, extra: str = "") -> Path:
    path = root / "watchlist.yaml"
    path.write_text(WATCHLIST.format(max_listings=max_listings, extra=extra), encoding="utf-8")
    return path


def env_for(market: DemoMarketplace | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKWATCH_")}
    env["MARKWATCH_PROGRESS"] = "off"
    if market is not None:
        env["MARKWATCH_DEMO_URL"] = market.base_url
    return env


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (cwd / "process.log").open("ab")
    return subprocess.Popen([MARKWATCH, *args], cwd=cwd, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(what: Callable[[], Any], timeout: float, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s")


def manifests(store: Path) -> list[Path]:
    return sorted((store / "captures").rglob("*.json")) if (store / "captures").exists() else []


def schedule_rows(store: Path) -> list[dict[str, Any]]:
    with ScheduleLog(store / "catalog.db") as log:
        return list(reversed(log.rows()))


def expected_listing_ids(market: DemoMarketplace, max_listings: int) -> set[str]:
    out: set[str] = set()
    shown = market.page_size * 2
    for term, excluded in (("lumara handbag", ["case for"]), ("corvane watch", [])):
        hits = [x for x in market.catalog.search(term)[:shown]
                if not any(e in x.title.lower() for e in excluded)]
        out.update(x.listing_id for x in hits[:max_listings])
    return out


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
    two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2, hours=1)
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
