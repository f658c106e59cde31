"""Scheduled re-checks: `recheck:` beside `schedule:` in a watchlist, validated, run by the
scheduler and exported to crontab, systemd and Kubernetes like crawls."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from crawler.schedule.jobs import jobs_for
from crawler.watchlist import WatchlistError, parse_watchlist
from tests.helpers import run_markwatch

WATCHLIST = """\
version: 1
settings:
  schedule: "0 */6 * * *"
  recheck: "15 */12 * * *"
brands:
  - name: Lumara
    terms: ["lumara"]
    marketplaces: [demo]
"""


def test_recheck_is_a_job_of_its_own() -> None:
    watchlist = parse_watchlist(WATCHLIST, "w.yaml", ["demo"])
    jobs = jobs_for(watchlist)
    assert [(j.name, j.cron, j.command) for j in jobs] == [
        ("all", "0 */6 * * *", "crawl"), ("recheck", "15 */12 * * *", "recheck")]
    old = parse_watchlist(WATCHLIST.replace('  recheck: "15 */12 * * *"\n', ""), "w.yaml",
                          ["demo"])
    assert [j.command for j in jobs_for(old)] == ["crawl"]


def test_a_bad_recheck_names_file_line_and_field() -> None:
    with pytest.raises(WatchlistError) as info:
        parse_watchlist(WATCHLIST.replace("15 */12 * * *", "15 */12 * *"), "w.yaml", ["demo"])
    err = info.value
    assert (err.line, err.field) == (4, "settings.recheck")
    assert str(err).startswith("w.yaml:4: settings.recheck: ")


@pytest.mark.parametrize("fmt", ["crontab", "systemd", "k8s-cronjob"])
def test_exports_run_recheck(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    out = run_markwatch(["schedule", "export", "-w", str(path), "--format", fmt,
                         "--store", "file:///srv/mw/data"], cwd=tmp_path)
    assert out.code == 0, out.err
    if fmt == "k8s-cronjob":
        docs = [d for d in yaml.safe_load_all(out.out) if d and d.get("kind") == "CronJob"]
        commands = {d["metadata"]["name"]: d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                    ["containers"][0]["args"][0] for d in docs}
        assert commands == {"markwatch-all": "crawl", "markwatch-recheck": "recheck"}
        return
    assert " recheck -w " in out.out.replace("'", "") or "recheck\n" in out.out
    assert "15 */12 * * *" in out.out or "*-*-* 00/12:15:00" in out.out


def test_scheduler_runs_the_recheck_job(tmp_path: Path) -> None:
    from tests.helpers import env_for, schedule_rows, start

    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST.replace('  schedule: "0 */6 * * *"\n', ""), encoding="utf-8")
    store = tmp_path / "store"
    proc = start(["schedule", "-w", str(path), "--store", f"file://{store}", "--every", "1",
                  "--max-runs", "1", "--health-port", "0"], tmp_path, env_for())
    assert proc.wait(120) == 0, (tmp_path / "process.log").read_text()[-3000:]
    rows = [r for r in schedule_rows(store) if r["status"] != "skipped"]
    assert [(r["job"], r["status"], r["exit_code"]) for r in rows] == [("recheck", "finished", 0)]
    assert "nothing to re-check" in (tmp_path / "process.log").read_text()


# -- brands[].recheck: a re-check schedule per brand -----------------------------------------

BRANDS = """\
version: 1
settings:
  schedule: "0 */6 * * *"
  recheck: "15 */12 * * *"
brands:
  - name: Lumara
    terms: ["lumara"]
    marketplaces: [demo]
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
    recheck: "45 1 * * *"
  - name: Velor
    terms: ["velor"]
    marketplaces: [demo]
"""


def test_brand_recheck_overrides_the_global_one() -> None:
    watchlist = parse_watchlist(BRANDS, "w.yaml", ["demo"])
    assert [b.recheck for b in watchlist.brands] == [None, "45 1 * * *", None]
    assert watchlist.recheck_schedules() == {
        "Lumara": "15 */12 * * *", "Corvane": "45 1 * * *", "Velor": "15 */12 * * *"}
    alone = parse_watchlist(BRANDS.replace('  recheck: "15 */12 * * *"\n', ""), "w.yaml",
                            ["demo"])
    assert alone.recheck_schedules() == {"Corvane": "45 1 * * *"}  # neither: no re-check
    spaced = parse_watchlist(BRANDS.replace('"45 1 * * *"', '"45  1 * *   *"'), "w.yaml",
                             ["demo"])
    assert spaced.brands[1].recheck == "45 1 * * *"


@pytest.mark.parametrize(("cron", "reason"), [
    ("45 1 * *", "expected 5 fields"), ("45 25 * * *", "is not a valid cron schedule")])
def test_a_bad_brand_recheck_names_file_line_and_field(cron: str, reason: str) -> None:
    with pytest.raises(WatchlistError) as info:
        parse_watchlist(BRANDS.replace("45 1 * * *", cron), "watchlist.yaml", ["demo"])
    err = info.value
    assert (err.line, err.field) == (12, "brands[1].recheck")
    assert str(err).startswith("watchlist.yaml:12: brands[1].recheck: ")
    assert reason in str(err)


OWN_RECHECKS = """\
version: 1
brands:
  - name: Lumara
    terms: ["lumara"]
    marketplaces: [demo]
    recheck: "15 */12 * * *"
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
    recheck: "15 */12 * * *"
"""


@pytest.mark.parametrize("text", [
    WATCHLIST,  # settings.recheck only
    BRANDS.replace('"45 1 * * *"', '"15 */12 * * *"'),  # an override equal to the global one
    OWN_RECHECKS,  # no settings.recheck, every brand its own, the same
])
def test_one_shared_recheck_cron_stays_the_recheck_job(text: str) -> None:
    jobs = [j for j in jobs_for(parse_watchlist(text, "w.yaml", ["demo"]))
            if j.command == "recheck"]
    assert [(j.name, j.cron, j.brands, j.crawl_args()) for j in jobs] == [
        ("recheck", "15 */12 * * *", (), [])]


def test_differing_recheck_crons_are_one_job_each() -> None:
    jobs = jobs_for(parse_watchlist(BRANDS, "w.yaml", ["demo"]))
    assert [(j.name, j.command, j.cron, j.crawl_args()) for j in jobs] == [
        ("all", "crawl", "0 */6 * * *", []),
        ("recheck-lumara-velor", "recheck", "15 */12 * * *",
         ["--brand", "Lumara", "--brand", "Velor"]),
        ("recheck-corvane", "recheck", "45 1 * * *", ["--brand", "Corvane"]),
    ]
    # a brand with neither its own recheck nor settings.recheck is never re-checked
    alone = jobs_for(parse_watchlist(BRANDS.replace('  recheck: "15 */12 * * *"\n', ""),
                                     "w.yaml", ["demo"]))
    assert [(j.name, j.command, j.brands) for j in alone] == [
        ("all", "crawl", ()), ("recheck-corvane", "recheck", ("Corvane",))]


LONG = "A Brand With A Remarkably Long Name For A Label"
CLASHING = f"""\
version: 1
settings:
  schedule: "0 */6 * * *"
brands:
  - name: Corvane
    terms: ["corvane"]
    marketplaces: [demo]
    schedule: "30 2 * * 1-5"
    recheck: "45 1 * * *"
  - name: Recheck Corvane
    terms: ["rc"]
    marketplaces: [demo]
    schedule: "30 4 * * *"
  - name: {LONG}
    terms: ["long"]
    marketplaces: [demo]
    recheck: "45 3 * * *"
"""


def test_job_names_stay_unique_and_dns_safe() -> None:
    # Corvane is crawled as "corvane" and re-checked as "recheck-corvane", the very name of
    # the crawl job of the brand "Recheck Corvane": the later job gets a digest
    jobs = jobs_for(parse_watchlist(CLASHING, "w.yaml", ["demo"]))
    got = [(j.command, j.brands, j.name) for j in jobs]
    assert [g[:2] for g in got] == [("crawl", ("Corvane",)), ("crawl", ("Recheck Corvane",)),
                                    ("crawl", (LONG,)), ("recheck", ("Corvane",)),
                                    ("recheck", (LONG,))]
    names = [j.name for j in jobs]
    assert names[:2] == ["corvane", "recheck-corvane"]
    assert re.fullmatch(r"recheck-corvane-[0-9a-f]{8}", names[3]), names
    assert names[4].startswith("recheck-a-brand-with") and names[4] != names[2]
    assert len(set(names)) == len(names)
    for name in names:  # systemd units, lock files and CronJobs (DNS labels, at most 52)
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name), name
        assert len(f"markwatch-{name}") <= 52, name
    assert jobs[3].crawl_args() == ["--brand", "Corvane"]
    assert jobs_for(parse_watchlist(CLASHING, "w.yaml", ["demo"])) == jobs  # stable


@pytest.mark.parametrize("fmt", ["crontab", "systemd", "k8s-cronjob"])
def test_exports_run_recheck_with_the_jobs_brands(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(BRANDS, encoding="utf-8")
    out = run_markwatch(["schedule", "export", "-w", str(path), "--format", fmt,
                         "--store", "file:///srv/mw/data"], cwd=tmp_path)
    assert out.code == 0, out.err
    if fmt == "k8s-cronjob":
        docs = [d for d in yaml.safe_load_all(out.out) if d and d.get("kind") == "CronJob"]
        args = {d["metadata"]["name"]: (d["spec"]["schedule"], d["spec"]["jobTemplate"]["spec"]
                                        ["template"]["spec"]["containers"][0]["args"])
                for d in docs}
        assert set(args) == {"markwatch-all", "markwatch-recheck-lumara-velor",
                             "markwatch-recheck-corvane"}
        assert args["markwatch-recheck-corvane"][0] == "45 1 * * *"
        assert args["markwatch-recheck-corvane"][1][:5] == [
            "recheck", "-w", "/etc/markwatch/watchlist.yaml", "--brand", "Corvane"]
        assert args["markwatch-recheck-lumara-velor"][1][3:7] == [
            "--brand", "Lumara", "--brand", "Velor"]
        assert "--brand" not in args["markwatch-all"][1]
        return
    watchlist = path.resolve()
    if fmt == "crontab":
        lines = [line for line in out.out.splitlines() if line and line[0].isdigit()]
        assert len(lines) == 3
        assert lines[1].startswith("15 */12 * * * ")
        assert f"recheck -w {watchlist} --brand Lumara --brand Velor " in lines[1]
        assert "cron-recheck-lumara-velor.lock" in lines[1]
        assert lines[2].startswith("45 1 * * * ")
        assert f"recheck -w {watchlist} --brand Corvane " in lines[2]
        return
    services = out.out.split("[Service]")[1:]
    starts = [line for line in out.out.splitlines() if line.startswith("ExecStart=")]
    assert len(services) == len(starts) == 3
    assert starts[1].split()[1:8] == ["recheck", "-w", str(watchlist), "--brand", "Lumara",
                                      "--brand", "Velor"]
    assert starts[2].split()[1:6] == ["recheck", "-w", str(watchlist), "--brand", "Corvane"]
    assert "OnCalendar=*-*-* 01:45:00 UTC" in out.out
    assert "Unit=markwatch-recheck-corvane.service" in out.out


def test_scheduler_child_argv_selects_the_jobs_brands(tmp_path: Path) -> None:
    import sys

    from crawler.schedule.scheduler import Scheduler, SchedulerOptions

    path = tmp_path / "watchlist.yaml"
    path.write_text(BRANDS, encoding="utf-8")
    jobs = {j.name: j for j in jobs_for(parse_watchlist(BRANDS, str(path), ["demo"]))}
    scheduler = Scheduler(SchedulerOptions(
        watchlist=path, schedule_db=tmp_path / "catalog.db", state_dir=tmp_path / "state",
        crawl_args=["--store", "file:///srv/mw/data", "--log-level", "WARNING"]))
    try:
        report = tmp_path / "1.json"
        head = [sys.executable, "-m", "crawler"]
        tail = ["--report-json", str(report), "--store", "file:///srv/mw/data",
                "--log-level", "WARNING"]
        watchlist = str(path.resolve())
        assert scheduler.child_argv(jobs["recheck-lumara-velor"], report) == [
            *head, "recheck", "-w", watchlist, "--brand", "Lumara", "--brand", "Velor", *tail]
        assert scheduler.child_argv(jobs["recheck-corvane"], report) == [
            *head, "recheck", "-w", watchlist, "--brand", "Corvane", *tail]
        assert scheduler.child_argv(jobs["all"], report) == [
            *head, "crawl", "-w", watchlist, *tail]
    finally:
        scheduler.log.close()


def test_scheduler_runs_a_brands_recheck_job(tmp_path: Path) -> None:
    from tests.helpers import env_for, schedule_rows, start

    path = tmp_path / "watchlist.yaml"  # only Corvane is re-checked, and nothing is crawled
    path.write_text(BRANDS.replace('  schedule: "0 */6 * * *"\n', "").replace(
        '  recheck: "15 */12 * * *"\n', ""), encoding="utf-8")
    store = tmp_path / "store"
    proc = start(["schedule", "-w", str(path), "--store", f"file://{store}", "--every", "1",
                  "--max-runs", "1", "--health-port", "0"], tmp_path, env_for())
    assert proc.wait(120) == 0, (tmp_path / "process.log").read_text()[-3000:]
    rows = [r for r in schedule_rows(store) if r["status"] != "skipped"]
    assert [(r["job"], r["status"], r["exit_code"]) for r in rows] == [
        ("recheck-corvane", "finished", 0)]
    assert "nothing to re-check" in (tmp_path / "process.log").read_text()


def test_a_recheck_of_several_brands_takes_their_listings_only(tmp_path: Path) -> None:
    import datetime as dt

    from crawler.takedown.recheck import RecheckSelection, select_targets
    from storage.catalog import Catalog

    def manifest(capture_id: str, brand: str, listing_id: str) -> dict[str, object]:
        at = "2026-12-01T10:00:00Z"
        return {"capture_id": capture_id, "run_id": "R1", "kind": "listing",
                "watch": {"marketplace": "demo", "brand": brand, "term": "t", "case": "C-1"},
                "listing": {"listing_id": listing_id, "title": "bag"},
                "request_url": f"http://127.0.0.1:1/item/{listing_id}", "final_url": None,
                "status": 200, "started_at": at, "finished_at": at, "notes": {},
                "artifacts": []}

    now = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
    with Catalog(tmp_path / "c.db") as cat:
        for number, brand in enumerate(("Lumara", "Corvane", "Velor")):
            cat.index_capture(manifest(f"C{number}", brand, f"L{number}"),
                              f"captures/2026/12/01/C{number}.json", "0" * 64)

        def brands(*names: str) -> list[str]:
            selection = RecheckSelection(brands=names, status="any")
            return sorted(t.brand for t in select_targets(cat, selection, now))

        assert brands() == ["Corvane", "Lumara", "Velor"]
        assert brands("Lumara", "Velor") == ["Lumara", "Velor"]
        assert brands("Corvane") == ["Corvane"]
        assert brands("corvane", "VELOR") == ["Corvane", "Velor"]  # ignoring case, as crawl
