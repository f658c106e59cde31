"""Deploying to a real Scrapyd with `scrapyd-deploy` and crawling the demo through schedule.json."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.browser.chromium import launch_options
from crawler.demo import DemoMarketplace
from crawler.settings import PLAYWRIGHT_LAUNCH_OPTIONS
from storage.catalog import Catalog
from tests.helpers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BIN = Path(sys.executable).parent

WATCHLIST = """\
version: 1
case: "CASE-SCRAPYD"
settings:
  max_pages: 1
  max_listings: 2
  egress: {allow: [127.0.0.1]}
brands:
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base: str, endpoint: str, data: dict[str, Any] | list[tuple[str, str]] | None = None
         ) -> dict[str, Any]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(f"{base}/{endpoint}", data=body, timeout=30) as resp:
        return dict(json.loads(resp.read()))


@pytest.fixture
def scrapyd(tmp_path: Path) -> Iterator[str]:
    """A real Scrapyd on 127.0.0.1 (free port), everything under tmp_path."""
    port = free_port()
    home = tmp_path / "scrapyd"
    home.mkdir()
    (home / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\n"
        f"eggs_dir = {home}/eggs\nlogs_dir = {home}/logs\ndbs_dir = {home}/dbs\n"
        "items_dir =\nmax_proc = 1\npoll_interval = 0.5\n", encoding="utf-8")
    with (home / "scrapyd.out").open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([str(BIN / "scrapyd")], cwd=home, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call(base, "daemonstatus.json")["status"] == "ok":
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((home / "scrapyd.out").read_text()) from None
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def copy_project(dest: Path, url: str) -> Path:
    """The project as `scrapyd-deploy` sees it, with [deploy] pointing at the test Scrapyd."""
    for name in ("crawler", "spiders", "storage"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, dest / name)
    cfg = (ROOT / "scrapy.cfg").read_text(encoding="utf-8")
    (dest / "scrapy.cfg").write_text(cfg.replace("http://127.0.0.1:6800/", f"{url}/"),
                                     encoding="utf-8")
    return dest


def test_deploy_to_scrapyd_and_crawl_through_schedule_json(
        tmp_path: Path, scrapyd: str, demo_market: DemoMarketplace, chromium: str) -> None:
    project = copy_project(tmp_path / "project", scrapyd)
    deployed = subprocess.run([str(BIN / "scrapyd-deploy"), "--version", "1"], cwd=project,
                              capture_output=True, text=True, timeout=300, check=False)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "markwatch" in call(scrapyd, "listprojects.json")["projects"]
    spiders = urllib.request.urlopen(f"{scrapyd}/listspiders.json?project=markwatch").read()
    assert "demo" in json.loads(spiders)["spiders"]

    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    store = tmp_path / "store"
    browser = launch_options(dict(PLAYWRIGHT_LAUNCH_OPTIONS), chromium)
    job = call(scrapyd, "schedule.json", [
        ("project", "markwatch"), ("spider", "demo"),
        ("watchlist", str(watchlist)), ("store", f"file://{store}"),
        ("base_url", demo_market.base_url),
        ("setting", f"PLAYWRIGHT_LAUNCH_OPTIONS={json.dumps(browser)}"),
    ])
    assert job["status"] == "ok", job
    deadline = time.monotonic() + 300
    while True:
        jobs = json.loads(urllib.request.urlopen(
            f"{scrapyd}/listjobs.json?project=markwatch").read())
        if any(j["id"] == job["jobid"] for j in jobs["finished"]):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(1)
    with Catalog(store / "catalog.db") as cat:
        rows = cat.find_run(cat.runs()[0]["run_id"]) if cat.runs() else []
    log_dir = tmp_path / "scrapyd" / "logs"
    logs = "".join(p.read_text(errors="replace") for p in log_dir.rglob("*.log"))
    assert [r["kind"] for r in rows].count("listing") == 2, logs[-4000:]
    assert [r["kind"] for r in rows].count("search") == 1
    assert (store / "runs").exists()
