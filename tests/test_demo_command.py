"""`markwatch demo` (what `make demo` runs) on the embedded default: 50+ listings, all verified,
sealed by a key made on first use and timestamped by the demo's own TSA; a recipient's
verify.py (a venv with only `cryptography`) proves all three verdicts of an exported capture
against the demo's anchors, and without anchors says what it cannot prove."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.helpers import run_markwatch


@pytest.mark.browser
def test_demo_command_captures_seals_and_verifies(tmp_path: Path, chromium: str,
                                                  clean_python: Path) -> None:
    config = tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config)}
    out = run_markwatch(["demo", "--report-json", "report.json"], cwd=tmp_path, env=env,
                        timeout=900)
    assert out.code == 0, out.out + out.err[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["listings"] >= 50
    assert report["counts"]["searches"] >= 4
    assert report["store"] == "file://./markwatch-data"
    assert (tmp_path / "markwatch-data" / "catalog.db").exists()
    total = report["counts"]["captures"]
    assert f"{total} of {total} captures verified" in out.out
    assert "markwatch users add admin --role admin --generate" in out.out  # the portal's way in
    assert "markwatch serve" in out.out
    # triage scored every listing capture as it was stored (crawler/triage)
    queue = run_markwatch(["triage", "list", "--format", "json"], cwd=tmp_path, env=env)
    assert queue.code == 0, queue.err
    rows = json.loads(queue.out)
    assert len(rows) >= 50 and rows[0]["score"] >= rows[-1]["score"]
    straps = [r for r in rows if "strap for" in r["title"].lower()]
    assert straps and all(r["score"] < 50 and not r["suspicious"] for r in straps)
    assert any(r["suspicious"] for r in rows)

    # sealed by default: a key made on first use, outside the store, said once
    key = config / "markwatch" / "seal-ed25519.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not list((tmp_path / "markwatch-data").rglob("*.pem"))
    assert (out.out + out.err).count("created your sealing key") == 1
    (seal,) = report["seals"]
    assert seal["status"] == "sealed" and seal["signer"].startswith("sha256:")
    assert [t["tsa"] for t in seal["timestamps"]] == ["demo TSA, not a trusted authority"]
    assert "demo TSA, not a trusted authority serving on http://127.0.0.1:" in out.out
    fingerprint = seal["signer"]
    demo_ca = config / "markwatch" / "demo-tsa" / "ca.pem"

    again = run_markwatch(["verify", "--all"], cwd=tmp_path, env=env)
    assert again.code == 0, again.out
    listing = next(line.split()[1] for line in again.out.splitlines()
                   if line.startswith("OK   "))
    exported = run_markwatch(["evidence", "export", listing, "-o", "bundle.zip", "--no-pdf"],
                             cwd=tmp_path, env=env)
    assert exported.code == 0, exported.out + exported.err
    assert "created your sealing key" not in exported.out + exported.err  # once only

    with zipfile.ZipFile(tmp_path / "bundle.zip") as zf:
        zf.extractall(tmp_path / "unzipped")
    verify_py = tmp_path / "unzipped" / "bundle" / "verify.py"
    report_html = (tmp_path / "unzipped" / "bundle" / "report" / f"{listing}.html").read_text()
    assert "Integrity" in report_html and "Origin" in report_html and "Time" in report_html
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}

    def recipient(*args: str) -> tuple[int, str]:
        proc = subprocess.run([str(clean_python), str(verify_py), str(tmp_path / "bundle.zip"),
                               *args], capture_output=True, text=True, timeout=300,
                              env=clean_env, check=False)
        return proc.returncode, proc.stdout + proc.stderr

    code, text = recipient("--trust-key", fingerprint, "--trust-tsa-ca", str(demo_ca))
    assert code == 0, text
    assert f"OK   capture {listing}" in text
    assert "integrity: PROVEN" in text and "origin:   PROVEN" in text
    assert "time:     PROVEN" in text and "not a trusted authority" in text
    assert "VERIFIED: integrity, origin and time hold" in text

    code, text = recipient()
    assert code == 1, text
    assert "integrity: PROVEN" in text  # the files match their seal...
    assert "origin:   NOT PROVEN" in text and "NOT pinned" in text  # ...but who and when:
    assert "time:     NOT PROVEN" in text and "no TSA CA was given" in text
    assert "NOT VERIFIED" in text


def test_printed_commands_reach_the_store_the_demo_wrote(tmp_path: Path) -> None:
    """With `--store`/`--catalog` given, every command the demo prints carries them (shell-
    quoted), so pasting one reads the demo's store, not ./markwatch-data."""
    import shlex

    from click.testing import CliRunner

    from crawler.cli.demo import where_flags
    from crawler.cli.main import cli

    assert where_flags(None, None) == ""
    store, catalog = f"file://{tmp_path}/my store", f"sqlite:///{tmp_path}/c.db"
    where = where_flags(store, catalog)
    argv = shlex.split(f"markwatch runs list{where}")[1:]
    assert argv == ["runs", "list", "--store", store, "--catalog", catalog]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 0 and (tmp_path / "c.db").exists()
