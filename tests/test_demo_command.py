"""`markwatch demo` (what `make demo` runs) on the embedded default: 50+ listings, all verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_markwatch


@pytest.mark.browser
def test_demo_command_captures_and_verifies(tmp_path: Path, chromium: str) -> None:
    out = run_markwatch(["demo", "--report-json", "report.json"], cwd=tmp_path, timeout=900)
    assert out.code == 0, out.out + out.err[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["listings"] >= 50
    assert report["counts"]["searches"] >= 4
    assert report["store"] == "file://./markwatch-data"
    assert (tmp_path / "markwatch-data" / "catalog.db").exists()
    total = report["counts"]["captures"]
    assert f"{total} of {total} captures verified" in out.out
    again = run_markwatch(["verify", "--all"], cwd=tmp_path)
    assert again.code == 0, again.out
    # triage scored every listing capture as it was stored (crawler/triage)
    queue = run_markwatch(["triage", "list", "--format", "json"], cwd=tmp_path)
    assert queue.code == 0, queue.err
    rows = json.loads(queue.out)
    assert len(rows) >= 50 and rows[0]["score"] >= rows[-1]["score"]
    straps = [r for r in rows if "strap for" in r["title"].lower()]
    assert straps and all(r["score"] < 50 and not r["suspicious"] for r in straps)
    assert any(r["suspicious"] for r in rows)
