"""The benchmark runs end to end at a tiny size, so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.browser
def test_bench_prints_its_table(tmp_path: Path, chromium: str) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--listings", "120", "--captures", "6",
         "--concurrency", "1", "--bytes-before", "--s3", "--json", str(out)],
        capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "capt/s" in proc.stdout and "ratio" in proc.stdout
    rows = {r["row"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"baseline", "browser-steps", "markwatch", "unrendered",
                         "scrapy-webarchive", "markwatch-before", "markwatch+s3"}
    assert (rows["markwatch"]["captures"] == rows["baseline"]["captures"]
            == rows["browser-steps"]["captures"] == rows["scrapy-webarchive"]["captures"] > 0)
    assert rows["markwatch"]["ratio"] > 0 and rows["markwatch"]["steps_ratio"] > 0
    assert rows["markwatch"]["peer_ratio"] > 0 and "vs peer" in proc.stdout
    # the peer wrote its screenshots, DOMs and WACZ; markwatch's bytes by kind add up
    assert rows["scrapy-webarchive"]["stored_bytes_per_capture"] > 0
    kinds = rows["markwatch"]["stored_by_kind"]
    assert kinds["screenshot"] > 0 and kinds["warc"] > 0
    assert rows["markwatch"]["stored_bytes_per_capture"] > 0
    assert rows["markwatch"]["peak_pss_mib"] > 0
    # the S3 row (a local moto server) stored the same captures; the server's CPU is its own
    assert rows["markwatch+s3"]["captures"] == rows["markwatch"]["captures"]
    assert rows["markwatch+s3"]["server_cpu_per_capture"] > 0
    assert rows["markwatch"]["server_cpu_per_capture"] is None
    assert "S3 server CPU s/capture at concurrency 1 (markwatch+s3; outside" in proc.stdout
    # every screenshot drawn to the end of its page (bench/complete.py)
    assert rows["markwatch"]["not_drawn"] == [0, rows["markwatch"]["captures"]]
    assert "screenshots not drawn to the end at concurrency 1 (markwatch): 0 of" in proc.stdout
    # bytes: before (dedup off, PNG) against after by kind, and against the bare loop's
    before = rows["markwatch-before"]["stored_by_kind"]
    assert before["screenshot"] > kinds["screenshot"] > 0  # WebP is smaller than the PNG
    assert "before (dedup off, PNG screenshots)" in proc.stdout
    assert rows["baseline"]["stored_bytes_per_capture"] > 0
    assert "x the bare loop's PNG and HTML" in proc.stdout


@pytest.mark.browser
def test_cli_startup_bench_prints_its_table(chromium: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "cli_startup.py"), "--runs", "1"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "16 captures" in proc.stdout  # the demo crawl the commands read
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("this ")]
    assert [r[1:3] for r in rows] == [["floor:", "python"], ["markwatch", "evidence"],
                                      ["markwatch", "verify"], ["markwatch", "runs"],
                                      ["markwatch", "triage"], ["markwatch", "takedown"],
                                      ["markwatch", "alerts"]]
    assert all(float(r[-1]) > 0 for r in rows)


def _page_like_png(path: Path, seed: int) -> None:
    """A small PNG with what a page's screenshot has: flat background, text-like strokes
    and a noisy photo."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (480, 700), "white")
    draw = ImageDraw.Draw(image)
    for row in range(20, 400, 18):
        for col in range(20, 440, 60):
            draw.rectangle((col, row, col + rng.randint(10, 50), row + 8), fill=(20, 20, 20))
    photo = Image.frombytes("RGB", (200, 200), rng.randbytes(200 * 200 * 3))
    image.paste(photo, (140, 450))
    image.save(path, "PNG")


def test_screenshot_codecs_bench_prints_its_table(tmp_path: Path) -> None:
    pngs = [tmp_path / f"page-{n}.png" for n in range(2)]
    for n, path in enumerate(pngs):
        _page_like_png(path, n)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "screenshot_codecs.py"), "--rounds", "1",
         "--png", *map(str, pngs), "--loop-bytes", "200000", "--other-bytes", "70000"],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {cells[1].strip(): cells[2:] for cells in
            (line.split("|") for line in proc.stdout.splitlines() if line.startswith("| "))}
    assert rows["Chromium PNG as stored (baseline)"][0].strip() == "1.00"
    ours = rows["libwebp lossless, method 1, quality 0  (markwatch `webp`)"]
    assert 0 < float(ours[0]) < 1 and float(ours[1]) > 0  # smaller than the PNG, some CPU
    assert ours[2].strip() == "2 of 2"  # lossless: the same pixels back
    assert "must shrink to" in proc.stdout
