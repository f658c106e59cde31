"""`scrapy crawl <spider>` works from the repository root, as Scrapyd and cron users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import crawler
from crawler.demo import DemoMarketplace
from tests.helpers import isolated_env, run_markwatch

ROOT = Path(__file__).resolve().parents[1]


def test_imported_project_is_this_repository() -> None:
    # Scrapy puts the project folder on sys.path; the package must be this checkout's
    assert Path(crawler.__file__).resolve().parent == ROOT / "crawler"


@pytest.mark.browser
def test_scrapy_crawl_demo_from_the_repository_root(
        tmp_path: Path, demo_market: DemoMarketplace, chromium: str) -> None:
    watchlist = tmp_path / "wl.yaml"
    watchlist.write_text(
        "version: 1\nsettings: {max_pages: 1, max_listings: 3, egress: {allow: [127.0.0.1]}}\n"
        "brands:\n"
        "  - name: Velisse\n    terms: [\"velisse perfume\"]\n    marketplaces: [demo]\n",
        encoding="utf-8")
    store = tmp_path / "store"
    env = isolated_env()
    env["MARKWATCH_PROGRESS"] = "off"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("scrapy")), "crawl", "demo",
         "-a", f"watchlist={watchlist}", "-a", f"base_url={demo_market.base_url}",
         "-s", f"STORAGE_URI=file://{store}", "-s", "LOG_LEVEL=WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((store / "runs").rglob("*.json"))
    assert len(runs) == 1
    record = json.loads(runs[0].read_text())
    assert record["counts"]["listings"] == 3 and record["counts"]["failures"] == 0
    verify = run_markwatch(["verify", "--all", "--store", f"file://{store}"], cwd=tmp_path)
    assert verify.code == 0, verify.out
