"""A store written by markwatch 0.1.0 before the restructure still verifies and rebuilds.

`tests/data/store-0.1.0.tar.gz` was made by the code of commit 14f5953 (before the modules
moved, the store keys were gathered in `storage/layout.py` and the WARC writers began storing
from a file): two runs of the demo marketplace (one search page, one listing, and a search page
of a run with the recording proxy off, so both WARC writers are represented), sealed with an
Ed25519 key, with a custody log. Evidence outlives code: whatever this code base becomes, the
stores it wrote before must keep verifying, and the catalog must be rebuildable from them.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from crawler.evidence.screenshot import png_size, screenshot_entry
from storage.catalog import Catalog
from storage.layout import CAPTURES, RUNS, SEALS
from storage.local import LocalStore
from tests.helpers import run_markwatch

ARCHIVE = Path(__file__).parent / "data" / "store-0.1.0.tar.gz"
SIGNER = "sha256:cb7c6a10a55d4dbac40ca9a2aa852b53457aa2ff477ef386c71a65218cb9bcba"
CAPTURE_IDS = {"01M91KE6D6N67PFB3B6KC6QE0Q", "01M91KE7GY2G5HKR3CSKF1MHBK",
               "01M91KEAG6G19E8S3Q3V3Q6HME"}
RUN_IDS = {"01M91KE5DYWJ92NVVE5M3QR686", "01M91KE9J26FR26GTM79JKSHKK"}


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "store"


def test_the_old_store_is_where_the_layout_says(old_store: Path) -> None:
    store = LocalStore(old_store)
    captures = list(store.list_documents(CAPTURES))
    assert {k.rsplit("/", 1)[-1].removesuffix(".json") for k in captures} == CAPTURE_IDS
    assert {k.split("/")[1] for k in store.list_documents(RUNS)} == RUN_IDS
    assert {k.split("/")[1] for k in store.list_documents(SEALS)} == RUN_IDS


def test_an_old_store_rebuilds_its_catalog_and_verifies(old_store: Path, tmp_path: Path) -> None:
    uris = ["--store", f"file://{old_store}", "--catalog", f"sqlite:///{tmp_path}/catalog.db"]
    rebuilt = run_markwatch(["catalog", "rebuild", *uris], cwd=tmp_path)
    assert rebuilt.code == 0, rebuilt.err
    assert "3 captures, 2 run records" in rebuilt.out
    with Catalog(tmp_path / "catalog.db") as catalog:
        assert {r["run_id"] for r in catalog.runs()} == RUN_IDS
        kinds = sorted(catalog.get(c)["kind"] for c in CAPTURE_IDS)
    assert kinds == ["listing", "search", "search"]
    verified = run_markwatch(["verify", "--all", "--format", "json", *uris], cwd=tmp_path,
                             env={"MARKWATCH_SEAL_TRUSTED_KEYS": SIGNER})
    assert verified.code == 0, verified.out + verified.err
    verdicts = json.loads(verified.out)
    assert {v["capture_id"] for v in verdicts} == CAPTURE_IDS
    for verdict in verdicts:
        assert verdict["ok"] and verdict["problems"] == [], verdict
        proven = " | ".join(verdict["proven"])
        assert "integrity: manifest sha256:" in proven and " is leaf " in proven
        assert f"signed by Ed25519 key {SIGNER} (pinned" in proven


@pytest.mark.browser
def test_an_old_png_screenshot_still_shows_in_its_report(old_store: Path, tmp_path: Path,
                                                         chromium: str) -> None:
    """Earlier releases stored `screenshot.png`: a bundle of such a capture still carries it and
    its report shows it in Chromium (the PDF report is printed from that page)."""
    uris = ["--store", f"file://{old_store}", "--catalog", f"sqlite:///{tmp_path}/catalog.db"]
    assert run_markwatch(["catalog", "rebuild", *uris], cwd=tmp_path).code == 0
    with Catalog(tmp_path / "catalog.db") as catalog:
        listing = next(c for c in CAPTURE_IDS if catalog.get(c)["kind"] == "listing")
        artifacts = catalog.get(listing)["artifacts"]
    shot = screenshot_entry(artifacts)
    assert shot is not None and shot["name"] == "screenshot.png"
    exported = run_markwatch(["evidence", "export", listing, "-o", "bundle.zip", "--no-pdf",
                              *uris], cwd=tmp_path,
                             env={"MARKWATCH_SEAL_TRUSTED_KEYS": SIGNER})
    assert exported.code == 0, exported.out + exported.err
    with zipfile.ZipFile(tmp_path / "bundle.zip") as zf:
        zf.extractall(tmp_path / "unzipped")
    report = next((tmp_path / "unzipped").rglob(f"report/{listing}.html"))
    assert f"../artifacts/{shot['sha256']}" in report.read_text(encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(report.as_uri())
        width = page.wait_for_function(
            "() => { const i = document.querySelector('img.full');"
            " return i && i.complete && i.naturalWidth; }").json_value()
        browser.close()
    header = png_size((old_store / shot["key"]).read_bytes())
    assert header is not None and width == header[0] > 0
