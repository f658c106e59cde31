"""Memory over many captures with deduplication on: the real recording path, no browser.

Drives what a crawl's recording does for each capture, with the real parts: the recording proxy
(`crawler.recording.proxy`, its shared listener and tagged sessions), the WARC writer
(`crawler.evidence.warc_artifact.recorded_warc`, deduplicating into revisit records), the
deduplication index with its static-asset index (`crawler.recording.dedup`,
`crawler.recording.conditional`, conditional requests and immutable skips included), payload
storing (`crawler.pipelines.payloads.store_payloads`) and a local store. The pages come from a
local HTTP/1.1 server in a child process: each capture loads a page and eight sub-resources
(a shared script, style sheet, font and logo; a script, two photos and an XHR of its own), so
every capture brings new payload digests and a new static URL and every index reaches its
bound (`--scripts` and `--photos` set how many of its own). Chromium is left out: a plain HTTP
client sends the requests through the proxy with the headers Chromium would
(`Sec-Fetch-Dest`, the capture's tag), one capture at a time.

Every `--every` captures it samples this process's RSS and PSS (the server is another
process), the sizes of the indexes and the number of memory blocks Python has allocated (live
objects: flat when nothing accumulates, whatever the allocator keeps), and at the end prints
the PSS slope (MiB per 1,000 captures, least squares), over the whole run, once every index is
full and over its last half, and the last sample against the first (the baseline of the same
run), then what each index holds at its bound (tracemalloc).

    python bench/dedup_soak.py [--captures 10000] [--every 500] [--revalidate immutable]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crawler.clock import SystemClock  # noqa: E402
from crawler.config import CaptureLimits  # noqa: E402
from crawler.egress import EgressPolicy, parse_allow  # noqa: E402
from crawler.evidence.manifest import Artifact, CaptureItem, WatchRef  # noqa: E402
from crawler.evidence.warc_artifact import recorded_warc  # noqa: E402
from crawler.pipelines.payloads import StoredDigests, store_payloads  # noqa: E402
from crawler.recording.conditional import StaticIndex, StoredResponse  # noqa: E402
from crawler.recording.crawl_dedup import BlobReader  # noqa: E402
from crawler.recording.dedup import DedupIndex, Original  # noqa: E402
from crawler.recording.proxy import CAPTURE_HEADER, RecordingProxy, tag_value  # noqa: E402
from storage.local import LocalStore  # noqa: E402

MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"


def _bytes(seed: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


SHARED = {
    "/static/app.js": (b"/* app */" + b"var a=1;" * 500, "text/javascript",
                       {"Cache-Control": "no-cache", "ETag": '"app-1"'}),
    "/static/site.css": (b".c{margin:0}" * 300, "text/css",
                         {"Cache-Control": "no-cache", "Last-Modified": MODIFIED}),
    "/static/font.woff2": (_bytes("font", 8192), "font/woff2",
                           {"Cache-Control": "public, max-age=31536000, immutable",
                            "ETag": '"font-1"'}),
    "/img/logo.png": (_bytes("logo", 2048), "image/png", {"Cache-Control": "no-cache"}),
}


def _resource(path: str) -> tuple[bytes, str, dict[str, str]] | None:
    """What the server answers for `path` (None: 404)."""
    if path in SHARED:
        return SHARED[path]
    kind, _, rest = path.lstrip("/").partition("/")
    if kind == "page":
        n = rest
        body = (f"<!DOCTYPE html><html><head><title>listing {n}</title>"
                '<link rel="stylesheet" href="/static/site.css">'
                f'<script src="/static/app.js"></script><script src="/static/chunk-{n}.js">'
                f"</script></head><body><h1>listing {n}</h1>"
                f'<img src="/img/logo.png"><img src="/img/p-{n}-1.png">'
                f'<img src="/img/p-{n}-2.png">' + "<p>text</p>" * 200 + "</body></html>")
        return body.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"}
    if kind == "static" and rest.startswith("chunk-"):
        return (b"/*" + rest.encode() + b"*/" + _bytes(rest, 1024).hex().encode(),
                "text/javascript", {"Cache-Control": "no-cache", "ETag": f'"{rest}"'})
    if kind == "img":
        return _bytes(rest, 3072), "image/png", {"Cache-Control": "no-cache"}
    if kind == "api":
        return (json.dumps({"item": rest, "pad": _bytes(rest, 600).hex()}).encode(),
                "application/json", {"Cache-Control": "no-store"})
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # head and body are written apart: without this each kept-alive answer waits 40 ms
        # for the client's delayed acknowledgement (the demo marketplace's trap, see
        # docs/performance.md)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        found = _resource(self.path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, media_type, headers = found
        etag, since = headers.get("ETag"), headers.get("Last-Modified")
        if (etag and self.headers.get("If-None-Match") == etag) or \
                (since and self.headers.get("If-Modified-Since") == since):
            self.send_response(304)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def serve() -> None:
    """The page server (run in a child process: its memory is not the recorder's)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


# -- the recorder ---------------------------------------------------------------------------

SHARED_LOADS = (("/static/site.css", "style"), ("/static/app.js", "script"),
                ("/static/font.woff2", "font"), ("/img/logo.png", "image"))


def loads(scripts: int, photos: int) -> list[tuple[str, str]]:
    """What each capture asks for, in order: the page, the shared assets, then its own scripts,
    photos and XHR (`{n}` is the capture's number)."""
    return [("/page/{n}", "document"), *SHARED_LOADS,
            *((f"/static/chunk-{{n}}-{k}.js", "script") for k in range(scripts)),
            *((f"/img/p-{{n}}-{k}.png", "image") for k in range(photos)),
            ("/api/item/{n}", "empty")]


def fetch_capture(conn: http.client.HTTPConnection, base: str, n: int, tag: str,
                  plan: list[tuple[str, str]]) -> int:
    """One page and its sub-resources through the proxy, as the browser would ask; bytes read."""
    got = 0
    for path, dest in plan:
        conn.request("GET", base + path.format(n=n), headers={
            "Sec-Fetch-Dest": dest, "Accept-Encoding": "identity",
            CAPTURE_HEADER.decode(): tag})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path.format(n=n)}: HTTP {response.status}")
        got += len(body)
    return got


def memory_kib() -> tuple[int, int]:
    """(RSS, PSS) of this process in KiB."""
    rss = pss = 0
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


class _Stats:
    """Scrapy's stats interface, counting in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count


async def soak(args: argparse.Namespace, base: str, store_dir: Path) -> dict[str, Any]:
    store = LocalStore(store_dir)
    static = None if args.revalidate == "off" else StaticIndex(args.revalidate,
                                                               reader=BlobReader(store=store))
    index = DedupIndex(static=static)
    known = StoredDigests()
    stats = _Stats()
    limits = CaptureLimits()
    proxy = RecordingProxy(clock=SystemClock(), egress=EgressPolicy(parse_allow(["127.0.0.1"])),
                           static=static).start()
    watch = WatchRef("Soak", "soak", "soak")
    plan = loads(args.scripts, args.photos)
    samples: list[dict[str, Any]] = []
    revalidated: dict[str, int] = {}
    t0 = time.monotonic()
    cpu0 = time.process_time()
    try:
        port = await proxy.open_shared()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(args.captures):
            token = f"soak{n}-{secrets.token_hex(6)}"
            session = await proxy.open_tagged_session(token, limits)
            started = dt.datetime.now(dt.UTC)
            fetch_capture(conn, base, n, tag_value(token), plan)
            await proxy.close_session(session)
            for what, count in session.revalidation.items():
                revalidated[what] = revalidated.get(what, 0) + count
            payloads: list[tuple[str, bytes]] = []
            capture_id = f"soak-{n:06d}"
            warc = recorded_warc(session, {"software": "markwatch dedup soak"},
                                 capture_id=capture_id, started=started,
                                 page_url=f"{base}/page/{n}", artifacts=[], limits_hit=[],
                                 dedup_index=index, payloads=payloads)
            item = CaptureItem(capture_id, "listing", watch, f"{base}/page/{n}",
                               f"{base}/page/{n}", 200, started, started, [warc], {},
                               payloads=[Artifact(f"payload-{sha[:12]}",
                                                  "application/octet-stream", body, sha256=sha)
                                         for sha, body in dict(payloads).items()])
            store_payloads(store, item, known, stats)
            store.put_blob(warc.data, "application/warc")
            del item, warc, payloads, session
            if (n + 1) % args.every == 0:
                rss, pss = memory_kib()
                samples.append({
                    "captures": n + 1, "rss_mib": rss / 1024, "pss_mib": pss / 1024,
                    "dedup_index": len(index), "stored_digests": len(known),
                    "static_index": len(static) if static is not None else 0,
                    "py_blocks": sys.getallocatedblocks(),
                    "seconds": time.monotonic() - t0})
                if args.progress:
                    print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
                if args.max_seconds and time.monotonic() - t0 > args.max_seconds:
                    break
        conn.close()
    finally:
        proxy.stop()
    done = samples[-1]["captures"] if samples else 0
    return {"samples": samples, "captures": done, "wall_s": time.monotonic() - t0,
            "cpu_s": time.process_time() - cpu0, "revalidation": revalidated,
            "stats": stats.values,
            "static_payload_reads": static.payload_reads if static is not None else 0}


def index_footprint() -> dict[str, dict[str, float]]:
    """Memory of each index filled past its bound with entries of realistic size (tracemalloc):
    what the indexes can hold at most, whatever the number of captures."""
    at = dt.datetime.now(dt.UTC)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nContent-Length: 4012\r\n"
            b"Cache-Control: no-cache\r\nETag: \"app-1\"\r\nDate: Sat, 05 Dec 2026 02:00:00 "
            b"GMT\r\nServer: soak\r\n\r\n")
    out: dict[str, dict[str, float]] = {}

    def sha(i: int) -> str:
        return hashlib.sha256(str(i).encode()).hexdigest()

    def original(i: int) -> Original:
        return Original(f"https://shop.example/static/chunk-{i:08d}.js",
                        "2026-12-05T02:00:00.000000Z", f"<urn:uuid:{i:036d}>", f"01JD{i:022d}")

    def measure(name: str, fill: Any, bound: int) -> None:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        index = fill()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out[name] = {"entries": len(index), "bound": bound, "mib": (after - before) / 2**20}

    def dedup_full() -> DedupIndex:
        index = DedupIndex()
        for i in range(index.max_entries + 1000):
            index.first(sha(i), original(i))
        return index

    def stored_full() -> StoredDigests:
        known = StoredDigests()
        for i in range(known.max_entries + 1000):
            known.add(sha(i))
        return known

    def static_full() -> StaticIndex:
        index = StaticIndex("immutable")
        for i in range(index.max_entries + 1000):
            url = f"https://shop.example/static/chunk-{i:08d}.js"
            index.remember(url, None, "script", 200, head, sha(i), 4012, "sha256:" + "A" * 52,
                           "sha256:" + "B" * 52, at, original(i))
        return index

    bodies = {hashlib.sha256(body).hexdigest(): body
              for body in (i.to_bytes(4, "big") * 8_192 for i in range(320))}  # 32 KiB each

    def payloads_full() -> StaticIndex:
        index = StaticIndex("immutable", reader=bodies.get)
        for i, digest in enumerate(bodies):
            index.payload(StoredResponse(f"https://shop.example/static/style-{i:08d}.css", "",
                                         head, digest, len(bodies[digest]), "", "", '"1"', None,
                                         None, original(i)))
        return index

    measure("dedup index", dedup_full, DedupIndex().max_entries)
    measure("stored digests", stored_full, StoredDigests().max_entries)
    measure("static index", static_full, StaticIndex().max_entries)
    # the payloads themselves were made before measuring: what is counted is what keeping
    # them costs beyond the bytes (and the bound is in bytes, not entries)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = payloads_full()
    overhead = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    out["static payloads"] = {"entries": kept.payloads_kept, "bound": kept.max_payload_bytes,
                              "mib": (kept.payload_bytes + overhead) / 2**20}
    return out


def slope(samples: list[dict[str, Any]], key: str, skip: int = 1) -> float:
    """Least-squares slope of `key` in MiB per 1,000 captures (the samples after `skip`)."""
    points = [(s["captures"] / 1000, s[key]) for s in samples[skip:]]
    if len(points) < 2:
        return 0.0
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    samples = result["samples"]
    print(f"dedup soak: {result['captures']} captures in {result['wall_s']:.1f} s "
          f"({result['captures'] / max(result['wall_s'], 1e-9):.1f}/s, "
          f"{1000 * result['cpu_s'] / max(result['captures'], 1):.1f} ms CPU per capture), "
          f"static revalidation: {args.revalidate}; per capture "
          f"{len(loads(args.scripts, args.photos))} requests ({args.scripts} script(s), "
          f"{args.photos} photo(s) of its own); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| captures | RSS MiB | PSS MiB | dedup index | stored digests | static index | "
          "Python blocks |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in samples:
        print(f"| {s['captures']:,} | {s['rss_mib']:.1f} | {s['pss_mib']:.1f} | "
              f"{s['dedup_index']:,} | {s['stored_digests']:,} | {s['static_index']:,} | "
              f"{s.get('py_blocks', 0):,} |")
    if samples:
        first, last = samples[0], samples[-1]
        print(f"PSS slope after the first sample: {slope(samples, 'pss_mib'):+.3f} MiB per "
              f"1,000 captures (RSS {slope(samples, 'rss_mib'):+.3f}); last / first sample: "
              f"PSS {last['pss_mib'] / first['pss_mib']:.3f}, RSS "
              f"{last['rss_mib'] / first['rss_mib']:.3f}")
        bounds = {"dedup_index": DedupIndex().max_entries,
                  "stored_digests": StoredDigests().max_entries,
                  "static_index": StaticIndex().max_entries if args.revalidate != "off" else 0}
        full = next((i for i, x in enumerate(samples)
                     if all(x[k] >= v for k, v in bounds.items())), None)
        if full is not None and len(samples) - full >= 3:
            print(f"once every index is at its bound ({samples[full]['captures']:,} captures on):"
                  f" PSS slope {slope(samples, 'pss_mib', full):+.3f}, RSS "
                  f"{slope(samples, 'rss_mib', full):+.3f} MiB per 1,000 captures; "
                  f"PSS {samples[full]['pss_mib']:.1f} -> {last['pss_mib']:.1f} MiB")
        elif full is None:
            print("not every index reached its bound in this run: the slopes include their "
                  "filling")
        half = len(samples) // 2
        if len(samples) - half >= 3:
            print(f"last half of the run ({samples[half]['captures']:,} captures on): PSS slope "
                  f"{slope(samples, 'pss_mib', half):+.3f}, RSS "
                  f"{slope(samples, 'rss_mib', half):+.3f} MiB per 1,000 captures")
    for name, size in result.get("bounds", {}).items():
        unit = " bytes" if name == "static payloads" else ""
        print(f"{name} at its bound: {size['entries']:,} entries (bound {size['bound']:,}"
              f"{unit}), {size['mib']:.2f} MiB (tracemalloc, entries of realistic size)")
    print("revalidation per run:", json.dumps(result["revalidation"], sort_keys=True),
          f"(stored payloads read for it: {result['static_payload_reads']})")
    print("payload stats:", json.dumps(result["stats"], sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=500, help="captures between samples")
    parser.add_argument("--scripts", type=int, default=1,
                        help="scripts of its own per capture (new static URLs and payloads)")
    parser.add_argument("--photos", type=int, default=2,
                        help="photos of its own per capture (new payloads)")
    parser.add_argument("--revalidate", choices=("immutable", "conditional", "off"),
                        default="immutable", help="EVIDENCE_STATIC_REVALIDATE for the run")
    parser.add_argument("--max-seconds", type=float, default=0,
                        help="stop at the first sample after this many seconds (0: never)")
    parser.add_argument("--json", type=Path, help="write the samples here too")
    parser.add_argument("--tmp", type=Path, default=None,
                        help="where the run's store goes (default: the system's temporary "
                             "folder; /dev/shm takes the disk's fsync time out of the run)")
    parser.add_argument("--progress", action="store_true", help="print each sample as it comes")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        base = f"http://127.0.0.1:{int(server.stdout.readline())}"
        with tempfile.TemporaryDirectory(prefix="markwatch-soak-", dir=args.tmp) as tmp:
            result = asyncio.run(soak(args, base, Path(tmp) / "store"))
    finally:
        server.terminate()
        server.wait(10)
    result["bounds"] = index_footprint()
    report(result, args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
