"""Deployment recipes from `markwatch schedule export`, and cron handling of the scheduler."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from croniter import croniter

from crawler.schedule.export import on_calendar, starting_deadline
from crawler.schedule.jobs import Job
from tests.helpers import run_markwatch

WATCHLIST = """\
version: 1
settings:
  schedule: "0 */6 * * *"
brands:
  - name: Lumara
    terms: ["lumara"]
    marketplaces: [demo]
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
    schedule: "30 2 * * 1-5"
"""


@pytest.fixture
def watchlist(tmp_path: Path) -> Path:
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    return path


def export(watchlist: Path, fmt: str) -> str:
    out = run_markwatch(["schedule", "export", "-w", str(watchlist), "--format", fmt,
                         "--store", "file:///srv/mw/data"], cwd=watchlist.parent)
    assert out.code == 0, out.err
    return out.out


def test_crontab_is_utc_absolute_and_non_overlapping(watchlist: Path) -> None:
    text = export(watchlist, "crontab")
    assert "CRON_TZ=UTC" in text
    lines = [line for line in text.splitlines() if line and line[0].isdigit()]
    assert [line.split(" flock")[0].split(" cd ")[0] for line in lines] == [
        "0 */6 * * *", "30 2 * * 1-5"]
    for line, brand in zip(lines, ("Lumara", "Corvane"), strict=True):
        assert f"flock -n /srv/mw/data/state/cron-{brand.lower()}.lock /" in line
        assert f"crawl -w {watchlist.resolve()} --brand {brand}" in line
    assert "MARKWATCH_STORE=file:///srv/mw/data" in text


def test_systemd_timers_are_persistent_and_valid(watchlist: Path) -> None:
    text = export(watchlist, "systemd")
    assert text.count("Persistent=true") == 2 and text.count("Type=oneshot") == 2
    values = [line.split("=", 1)[1] for line in text.splitlines()
              if line.startswith("OnCalendar=")]
    assert values == ["*-*-* 00,06,12,18:00:00 UTC", "Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00 UTC"]
    if shutil.which("systemd-analyze"):
        for value in values:
            subprocess.run(["systemd-analyze", "calendar", value], check=True,
                           capture_output=True)


@pytest.mark.parametrize("cron", ["0 */6 * * *", "30 2 * * 1-5", "*/15 8-18 * * *",
                                  "0 0 1,15 * 0", "5 4 * 2,8 *"])
def test_on_calendar_fires_when_cron_does(cron: str) -> None:
    """Check each systemd value against croniter over a few weeks of minutes (OR of values)."""
    import re

    values = on_calendar(cron)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    expected = []
    it = croniter(cron, start - dt.timedelta(minutes=1))
    while (nxt := it.get_next(dt.datetime)) < start + dt.timedelta(days=62):
        expected.append(nxt)

    def matches(value: str, moment: dt.datetime) -> bool:
        parts = value.removesuffix(" UTC").split(" ")
        days = None
        if len(parts) == 3:
            days, parts = parts[0].split(","), parts[1:]
        _, month, dom = parts[0].split("-")
        hour, minute, _ = parts[1].split(":")

        def ok(field: str, number: int) -> bool:
            return field == "*" or number in {int(v) for v in re.split(",", field)}

        return ((days is None or moment.strftime("%a") in days) and ok(month, moment.month)
                and ok(dom, moment.day) and ok(hour, moment.hour) and ok(minute, moment.minute))

    got = []
    moment = start
    while moment < start + dt.timedelta(days=62):
        if any(matches(v, moment) for v in values):
            got.append(moment)
        moment += dt.timedelta(minutes=1)
    assert got == expected


def test_k8s_cronjobs_forbid_overlap_and_keep_state(watchlist: Path) -> None:
    docs = list(yaml.safe_load_all(export(watchlist, "k8s-cronjob")))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ConfigMap", "PersistentVolumeClaim", "CronJob", "CronJob"]
    assert docs[0]["data"]["watchlist.yaml"] == WATCHLIST
    for job in docs[2:]:
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["timeZone"] == "Etc/UTC"
        assert 60 <= spec["startingDeadlineSeconds"] <= 3600
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        container = pod["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MARKWATCH_STATE_DIR"] == "/data/state"
        assert container["command"] == ["markwatch"]
        assert container["args"][:3] == ["crawl", "-w", "/etc/markwatch/watchlist.yaml"]
        claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert claims and claims[0]["persistentVolumeClaim"]["claimName"] == "markwatch-data"
    assert [d["spec"]["schedule"] for d in docs[2:]] == ["0 */6 * * *", "30 2 * * 1-5"]


def test_job_missed_firings_and_deadline() -> None:
    job = Job("all", "0 */6 * * *")
    last = dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)
    missed = job.missed(last, dt.datetime(2026, 1, 2, 1, tzinfo=dt.UTC))
    assert missed == [dt.datetime(2026, 1, 1, h, tzinfo=dt.UTC) for h in (12, 18)] + [
        dt.datetime(2026, 1, 2, 0, tzinfo=dt.UTC)]
    assert starting_deadline("0 */6 * * *") == 3600
    assert starting_deadline("*/2 * * * *") == 60
    every = Job("all", "0 3 * * *", every=2.0)
    assert every.next_after(last) == last + dt.timedelta(seconds=2)
