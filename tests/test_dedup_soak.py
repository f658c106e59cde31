"""The deduplication soak (bench/dedup_soak.py) runs end to end at a tiny size (no timing or
memory figure is asserted: it must not rot, and what it counts must be what it did)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_soak_prints_its_samples_and_slope(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dedup_soak.py"), "--captures", "24", "--every",
         "8", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PSS slope after the first sample" in proc.stdout
    result = json.loads(out.read_text())
    assert result["captures"] == 24 and [s["captures"] for s in result["samples"]] == [8, 16, 24]
    last = result["samples"][-1]
    # per capture: 2 photos, 1 script and 1 XHR of its own (new payloads); the 4 shared once
    assert last["dedup_index"] == 24 * 4 + 4 and last["stored_digests"] == 24 * 4 + 4
    assert last["static_index"] == 24 + 3  # its own script, and the shared script, style, font
    # the shared script and style sheet: revalidated (304) after the first capture; the
    # immutable font not fetched again
    assert result["revalidation"] == {"conditional_sent": 46, "conditional_304": 46,
                                      "immutable_skipped": 23}
    # served 69 times from the store, read from it 3 times: once each, then the checked copy
    assert result["static_payload_reads"] == 3
    kept = result["bounds"]["static payloads"]
    assert 0 < kept["entries"] < 320 and kept["bound"] == 8 * 2**20
    assert "static payloads at its bound" in proc.stdout
