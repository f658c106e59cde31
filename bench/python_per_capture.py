"""markwatch's own Python per capture, away from the browser: two checkouts, same run.

Each round runs, in a fresh process of each checkout (its own venv's Python, alternating):

* store+triage  demo listing pages (sellers sharing stock photos, as on the demo marketplace)
                parsed by the real page object and stored through the real evidence pipeline
                into a local store and SQLite catalog, triage included (`triage.offline`);
* heads         the recording proxy's look-ups of a response and request head (the fifteen or
                so an exchange makes), on heads as the demo marketplace sends them.

It prints CPU milliseconds per capture (process CPU, every thread; the first captures, which
import and warm up, left out) and per 1,000 exchanges, the median of the rounds for each
checkout, and this checkout's ratio to the other. Usage:

    python bench/python_per_capture.py [--against /work/main] [--captures 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import datetime as dt, json, sys, tempfile, time
from pathlib import Path
import crawler
tree, captures, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
assert crawler.__file__.startswith(tree), (crawler.__file__, tree)
from crawler.clock import FrozenClock
from crawler.demo.data import build_catalog
from crawler.demo.pages import item_page
from crawler.evidence.manifest import WatchRef
from crawler.recording.http1 import Head
from crawler.triage.config import TriageConfig
from crawler.triage.engine import Triage
from crawler.triage.offline import offline_pipeline, store_page
from crawler.watchlist import load_watchlist
from spiders.pages.demo import DemoListingPage
from storage.catalog import Catalog
from storage.local import LocalStore

BASE = "http://demo.test"
cat = build_catalog()
items = [i for i in cat.listings if i.brand == "Lumara"][:captures + warm]
with tempfile.TemporaryDirectory() as tmp:
    wl = Path(tmp) / "watchlist.yaml"
    wl.write_text("version: 1\ncase: B-1\nbrands:\n  - name: Lumara\n    terms: [lumara]\n"
                  "    msrp: {currency: EUR, min: 900}\n    marketplaces: [demo]\n")
    clock = FrozenClock(dt.datetime(2026, 12, 5, tzinfo=dt.UTC), step=1.0)
    store, catalog = LocalStore(Path(tmp) / "store"), Catalog(Path(tmp) / "catalog.db")
    triage = Triage.from_watchlist(load_watchlist(wl, ["demo"]), store, catalog,
                                   TriageConfig(), clock)
    pipeline = offline_pipeline(store, catalog, triage, clock)
    cpu = 0.0
    for n, item in enumerate(items):
        html = item_page(item, BASE, consented=True).encode()
        images = {BASE + u: cat.images[u[5:-4]] for u in item.image_urls}
        t0 = time.process_time()
        store_page(pipeline, DemoListingPage, html, BASE + item.url, images,
                   WatchRef("Lumara", "lumara", "demo", "B-1"), clock.now())
        if n >= warm:
            cpu += time.process_time() - t0
response = (b"HTTP/1.1 200 OK\r\nServer: demo\r\nDate: Sat, 05 Dec 2026 08:00:00 GMT\r\n"
            b"Content-Type: image/jpeg\r\nContent-Length: 20480\r\nETag: \"abc\"\r\n"
            b"Last-Modified: Fri, 04 Dec 2026 08:00:00 GMT\r\n"
            b"Cache-Control: public, max-age=86400\r\nConnection: keep-alive")
request = (b"GET /img/x.jpg HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive\r\n"
           b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120\r\nAccept: image/*\r\n"
           b"Sec-Fetch-Dest: image\r\nSec-Fetch-Mode: no-cors\r\nReferer: http://x/item\r\n"
           b"Accept-Encoding: gzip, deflate\r\nAccept-Language: en-US\r\nX-Markwatch-Capture: t")
exchanges = 20_000
t0 = time.process_time()
for _ in range(exchanges):
    lines = request.split(b"\r\n")
    req = Head(lines[0], lines[1:])
    req.value(b"x-markwatch-capture"); req.tokens(b"connection"); req.value(b"upgrade")
    req.value(b"access-control-request-method"); req.value(b"sec-fetch-dest")
    req.value(b"origin"); req.value(b"if-none-match"); req.value(b"if-modified-since")
    lines = response.split(b"\r\n")
    resp = Head(lines[0], lines[1:])
    resp.tokens(b"transfer-encoding"); resp.value(b"content-length")
    resp.tokens(b"connection"); resp.value(b"content-encoding"); resp.tokens(b"cache-control")
    resp.value(b"set-cookie"); resp.tokens(b"vary"); resp.value(b"etag")
    resp.value(b"last-modified"); resp.value(b"age")
heads = time.process_time() - t0
print(json.dumps({"store_triage_ms": 1000 * cpu / captures,
                  "heads_ms_per_1000": 1000 * heads / exchanges * 1000}))
"""


def run(tree: Path, captures: int, warm: int) -> dict[str, float]:
    python = tree / ".venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    done = subprocess.run([str(python), "-c", CHILD, str(tree), str(captures), str(warm)],
                          cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, default=Path("/work/main"),
                        help="the other checkout (with its own .venv)")
    parser.add_argument("--captures", type=int, default=60)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trees = {"this": ROOT, "against": args.against.resolve()}
    results: dict[str, list[dict[str, float]]] = {"this": [], "against": []}
    print(f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    for r in range(args.rounds):
        for name in ("against", "this") if r % 2 == 0 else ("this", "against"):
            out = run(trees[name], args.captures, args.warm)
            results[name].append(out)
            print(f"round {r + 1} {name:8s} store+triage {out['store_triage_ms']:6.2f} ms/capture"
                  f"  heads {out['heads_ms_per_1000']:6.1f} ms/1000 exchanges", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    for key, label in (("store_triage_ms", "store+triage ms/capture"),
                       ("heads_ms_per_1000", "heads ms/1000 exchanges")):
        this = statistics.median(o[key] for o in results["this"])
        other = statistics.median(o[key] for o in results["against"])
        print(f"{label}: this {this:.2f}, {trees['against']} {other:.2f}, "
              f"ratio {this / other:.2f}")


if __name__ == "__main__":
    main()
