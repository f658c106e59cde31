"""Scheduled re-checks: `recheck:` beside `schedule:` in a watchlist, validated, run by the
scheduler and exported to crontab, systemd and Kubernetes like crawls."""

from __future__ import annotations

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
