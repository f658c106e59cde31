"""What each lossless encoding of a capture's screenshot stores, and what it costs (issue 20).

Takes the PNG screenshots of a local store (by default a fresh `markwatch demo` crawl of three
listings per term: the demo's search and listing pages, drawn by Chromium at its default zlib
level, `EVIDENCE_SCREENSHOT_FORMAT=png-compact`), or PNG files named with `--png`, encodes
each page's pixels with every encoder below, `--rounds` times, and prints per encoder: bytes
against the stored PNG (sum over the pages, the baseline measured in the same run), CPU
milliseconds per screenshot (this process, median over the pages of each page's fastest
round), and how many outputs decode to exactly the PNG's pixels. Usage:

    python bench/screenshot_codecs.py [--rounds 3] [--store DIR | --png FILE ...]
                                      [--loop-bytes B --other-bytes B]

`--loop-bytes` (what the bare loop stores per page: its PNG and HTML, the baseline row of
`bench/run.py`) and `--other-bytes` (what a capture stores besides its screenshot) add the
ratio to the stored PNG a screenshot must reach for the store to hold at most 1.2 x the
bare loop's bytes. Encoders from optional packages (`pyoxipng`) are measured when installed
and listed as absent otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.2
"""The issue's bound: stored bytes per capture at most this many times the bare loop's."""


def _pillow(fmt: str, **options: Any) -> Callable[[Any], bytes]:
    def encode(image: Any) -> bytes:
        out = io.BytesIO()
        image.save(out, fmt, **options)
        return out.getvalue()
    return encode


def _oxipng(level: int) -> Callable[[Any], bytes] | None:
    try:
        import oxipng  # type: ignore[import-not-found]
    except ImportError:
        return None

    def encode(image: Any) -> bytes:
        raw = io.BytesIO()
        image.save(raw, "PNG", compress_level=1)
        return bytes(oxipng.optimize_from_memory(raw.getvalue(), level=level))
    return encode


def encoders() -> list[tuple[str, Callable[[Any], bytes] | None]]:
    """(name, encode from a decoded Pillow image; None: the package is not installed)."""
    webp = [(m, q) for m, q in ((0, 100), (1, 0), (1, 50), (2, 25), (4, 0))]
    return [
        ("Pillow PNG, level 9, optimize", _pillow("PNG", optimize=True, compress_level=9)),
        *[(f"libwebp lossless, method {m}, quality {q}"
           + ("  (markwatch `webp`)" if (m, q) == (1, 0) else ""),
           _pillow("WEBP", lossless=True, exact=True, method=m, quality=q)) for m, q in webp],
        ("oxipng level 1 (pyoxipng)", _oxipng(1)),
        ("oxipng level 2 (pyoxipng)", _oxipng(2)),
    ]


def pixels_of(data: bytes) -> str:
    """SHA-256 of an image's decoded RGBA samples (any format Pillow reads)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return hashlib.sha256(image.convert("RGBA").tobytes()).hexdigest()


def screenshots_in(store: Path) -> list[bytes]:
    """The PNG screenshots a local store's capture manifests name, once each."""
    seen: set[str] = set()
    out: list[bytes] = []
    for manifest in sorted((store / "captures").rglob("*.json")):
        try:
            artifacts = json.loads(manifest.read_text(encoding="utf-8")).get("artifacts", [])
        except (OSError, ValueError, AttributeError):
            continue
        for artifact in artifacts:
            if (isinstance(artifact, dict) and artifact.get("name") == "screenshot.png"
                    and artifact.get("sha256") not in seen):
                seen.add(str(artifact["sha256"]))
                out.append((store / str(artifact["key"])).read_bytes())
    return out


def seeded_store(where: Path) -> Path:
    """A fresh `markwatch demo` crawl (three listings per term) under `where`."""
    store = where / "store"
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and (k == "MARKWATCH_CHROMIUM" or not k.startswith("MARKWATCH_"))}
    env["MARKWATCH_PROGRESS"] = "off"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "markwatch"), "demo", "--max-listings", "3",
         "--store", f"file://{store}", "--catalog", f"sqlite:///{where}/catalog.db"],
        cwd=where, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"markwatch demo failed:\n{done.stderr[-3000:]}")
    return store


def measure(pngs: list[bytes], rounds: int) -> list[dict[str, Any]]:
    """One row per encoder: bytes, CPU ms per screenshot, pixel-identical outputs."""
    from PIL import Image

    rows: list[dict[str, Any]] = [{"encoder": "Chromium PNG as stored (baseline)",
                                   "bytes": sum(map(len, pngs)), "cpu_ms": 0.0,
                                   "identical": len(pngs)}]
    decoded = []
    for png in pngs:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            image.load()
            decoded.append((image.copy(), pixels_of(png)))
    for name, encode in encoders():
        if encode is None:
            rows.append({"encoder": name, "absent": True})
            continue
        size, identical, cpu = 0, 0, []
        for image, digest in decoded:
            best, data = float("inf"), b""
            for _ in range(rounds):
                started = time.process_time()
                data = encode(image)
                best = min(best, time.process_time() - started)
            cpu.append(best)
            size += len(data)
            identical += pixels_of(data) == digest
        rows.append({"encoder": name, "bytes": size, "cpu_ms": statistics.median(cpu) * 1000,
                     "identical": identical})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="encodings of each page (fastest)")
    parser.add_argument("--store", type=Path, help="a local store's folder (default: a demo crawl)")
    parser.add_argument("--png", type=Path, nargs="+", help="PNG files instead of a store")
    parser.add_argument("--loop-bytes", type=float, help="the bare loop's bytes per page")
    parser.add_argument("--other-bytes", type=float,
                        help="a capture's bytes besides its screenshot")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.png:
            pngs = [p.read_bytes() for p in args.png]
        else:
            pngs = screenshots_in(args.store or seeded_store(Path(tmp)))
    if not pngs:
        raise SystemExit("no PNG screenshots found")
    pixels = []
    for png in pngs:
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        pixels.append(width * height)
    print(f"{len(pngs)} screenshots, {statistics.mean(pixels) / 1e6:.2f} million pixels and "
          f"{statistics.mean(map(len, pngs)):,.0f} B each on average (as stored)", flush=True)
    rows = measure(pngs, max(args.rounds, 1))
    base = rows[0]["bytes"]
    print("| encoder | bytes / stored PNG | CPU ms / screenshot | pixel-identical |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        if row.get("absent"):
            print(f"| {row['encoder']} | not installed | | |")
            continue
        print(f"| {row['encoder']} | {row['bytes'] / base:.2f} | {row['cpu_ms']:.0f} | "
              f"{row['identical']} of {len(pngs)} |")
    if args.loop_bytes and args.other_bytes:
        mean = base / len(pngs)
        needed = (TARGET * args.loop_bytes - args.other_bytes) / mean
        print(f"for at most {TARGET} x the bare loop's {args.loop_bytes:,.0f} B with "
              f"{args.other_bytes:,.0f} B besides the screenshot, a screenshot of "
              f"{mean:,.0f} B must shrink to {needed:.2f} of it")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
