"""`make bench`: markwatch's capture rate against the machine's rendered-capture limit.

Starts the demo marketplace (sized up) on 127.0.0.1 and measures, in the same run on the same
pages, for each concurrency:

* baseline    a bare Playwright loop (new page, goto load, full-page PNG, DOM), same Chromium;
* markwatch   a full `markwatch crawl`: consent, lazy loading, recording, screenshot, DOM, hashing,
              manifests, local store, catalog;
* markwatch+s3 the same into an S3 bucket on a local server (with --s3);
* unrendered  plain Scrapy fetching the same pages without a browser;
* scrapy-webarchive  the peer a Scrapy user would pick: scrapy-playwright (same Chromium) with a
              full-page screenshot and the DOM written to files and scrapy-webarchive's WARC/WACZ
              of the crawl (`bench/peer.py`, in its own venv: its Scrapy pin clashes with ours).

Prints captures/s, markwatch's ratio to the baseline and to the peer, CPU seconds per capture,
the peak PSS of the whole process tree (browser included) and stored bytes per capture (for
markwatch also by artifact kind, `bench/stored.py`). `--long` runs one
crawl of 10,000 captures and reports whether memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.complete import not_drawn_to_the_end  # noqa: E402
from bench.proctree import TreeStats, cpu_seconds, run_sampled, tree  # noqa: E402
from bench.stored import per_capture, print_bytes  # noqa: E402
from crawler.browser.chromium import find_chromium  # noqa: E402
from crawler.demo import DemoMarketplace, build_catalog  # noqa: E402

TERMS = ("lumara", "corvane", "velisse", "nordhaven")
BIN = Path(sys.executable).parent


@dataclass
class Row:
    concurrency: int
    row: str
    captures: int
    wall_s: float
    rate: float
    cpu_per_capture: float
    peak_pss_mib: float
    stored_bytes_per_capture: float | None = None
    ratio: float | None = None
    steps_ratio: float | None = None
    """markwatch against the browser-steps row: the cost of the evidence work alone."""
    peer_ratio: float | None = None
    """markwatch against the scrapy-webarchive row at the same concurrency."""
    stored_by_kind: dict[str, float] | None = None
    """Stored bytes per capture by artifact kind (`bench/stored.py`)."""
    cpu_by_kind: dict[str, float] | None = None
    """CPU seconds per capture by kind of process (`bench.proctree.kind_of`)."""
    not_drawn: tuple[int, int] | None = None
    """(screenshots not drawn to the end of the page, screenshots) (`bench/complete.py`)."""
    server_cpu_per_capture: float | None = None
    """The S3 server's CPU seconds per capture (S3 rows): outside the measured tree, but on the
    same cores, so what it spends the crawl does not get."""


def watchlist(target: int, page_size: int) -> str:
    per_term = max(1, math.ceil(target / len(TERMS)))
    pages = max(2, math.ceil(per_term / page_size) + 1)
    brands = "\n".join(
        f"  - name: {t.title()}\n    terms: [\"{t}\"]\n    marketplaces: [demo]" for t in TERMS)
    return (f"version: 1\nsettings:\n  max_pages: {pages}\n  max_listings: {per_term}\n"
            f"brands:\n{brands}\n")


def env_for(base_url: str) -> dict[str, str]:
    """The crawl's environment: no MARKWATCH_ variable of the caller's but the browser, which
    every row must share (the baseline and the peer are given it as `--chromium`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKWATCH_")}
    env.update(MARKWATCH_DEMO_URL=base_url, MARKWATCH_PROGRESS="off")
    chromium = find_chromium()
    if chromium:
        env["MARKWATCH_CHROMIUM"] = chromium
    return env


def dir_bytes(path: Path) -> int:
    """Bytes of evidence in a local store (not the catalog, not its temporary folder)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()
               and p.relative_to(path).parts[0] in ("blobs", "captures", "runs", "seals"))


def catalog_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return int(con.execute("SELECT count(*) FROM captures").fetchone()[0])
    except sqlite3.Error:
        return 0


DEMO_CONSENT_SELECTOR = "#consent-accept"
DEMO_CONSENT_COOKIE = "consent=yes"
"""What the demo marketplace's consent button sets; markwatch's context has it after its first
click, so the baseline starts with it (the same pages, not an empty consent overlay)."""

BEFORE_SETTINGS = ["EVIDENCE_DEDUP=False", "EVIDENCE_SCREENSHOT_FORMAT=png"]
"""How markwatch stored before deduplicated recording and WebP screenshots (`--bytes-before`)."""

EXTRA_SETTINGS: list[str] = []
"""`-s NAME=VALUE` pairs given to every markwatch run (`--set`), for experiments."""


def run_markwatch(work: Path, market: DemoMarketplace, target: int, concurrency: int,
                  store: str, label: str, interval: float = 0.25,
                  trace: str | None = None) -> tuple[Row, list[str], TreeStats]:
    wl = work / "watchlist.yaml"
    wl.write_text(watchlist(target, market.page_size), encoding="utf-8")
    local = work / "store"
    catalog = work / "catalog.db"
    report = work / "report.json"
    cmd = [str(BIN / "markwatch"), "crawl", "-w", str(wl), "--store", store,
           "--catalog", f"sqlite:///{catalog}", "--report-json", str(report),
           "--log-level", "WARNING",
           "-s", "EGRESS_ALLOW=127.0.0.1",  # the local marketplace, allowed explicitly
           "-s", f"CONCURRENT_REQUESTS={concurrency}",
           "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
           "-s", f"PLAYWRIGHT_MAX_PAGES_PER_CONTEXT={concurrency}"]
    for pair in EXTRA_SETTINGS:
        cmd += ["-s", pair]
    stats = run_sampled(cmd, env=env_for(market.base_url), cwd=str(work), interval=interval,
                        progress=lambda: catalog_count(catalog), log=str(work / "crawl.log"),
                        by_group=trace is not None, trace=trace)
    data = json.loads(report.read_text()) if report.exists() else {"counts": {}}
    captures = int(data["counts"].get("captures", 0))
    with sqlite3.connect(catalog) as con:
        urls = [r[0] for r in con.execute("SELECT url FROM captures ORDER BY started_at")]
    stored = dir_bytes(local) / captures if local.exists() and captures else None
    row = Row(concurrency, label, captures, stats.wall_s, captures / stats.wall_s,
              stats.cpu_s / max(captures, 1), stats.peak_pss_mib, stored,
              stored_by_kind=per_capture(local) if local.exists() and captures else None,
              cpu_by_kind=_per_capture(stats, captures),
              not_drawn=not_drawn_to_the_end(local) if local.exists() else None)
    return row, urls, stats


PEER_VENV = Path(os.environ.get("MARKWATCH_PEER_VENV",
                                Path.home() / ".cache" / "markwatch" / "peer-venv"))
PEER_PACKAGES = ("scrapy-webarchive", "scrapy-playwright", "w3lib<2.2", "Twisted==24.3.0")
"""scrapy-webarchive allows Scrapy < 2.12 only; Scrapy 2.11 imports names that w3lib 2.2 and
later Twisted releases dropped, so those are pinned to what it was released with."""


def peer_python() -> Path | None:
    """The peer venv's Python, made on first use (None, said why, if it cannot be)."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"making the peer venv {PEER_VENV} ({', '.join(PEER_PACKAGES)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES],
                              capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            print(f"no peer row: could not install {PEER_PACKAGES}: {done.stderr[-500:]}")
            shutil.rmtree(PEER_VENV, ignore_errors=True)
            return None
    return python


def run_peer(urls: list[str], concurrency: int, work: Path, chromium: str | None,
             python: Path) -> Row:
    """The scrapy-playwright + scrapy-webarchive row (`bench/peer.py`)."""
    url_file = work / "urls-peer.txt"
    url_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    out = work / "peer"
    cmd = [str(python), str(ROOT / "bench" / "peer.py"), "--urls", str(url_file),
           "--concurrency", str(concurrency), "--cookie", DEMO_CONSENT_COOKIE,
           "--out", str(out)]
    if chromium:
        cmd += ["--chromium", chromium]
    stats = run_sampled(cmd, cwd=str(work), log=str(work / "peer.log"))
    if stats.returncode != 0:
        raise SystemExit(f"peer.py failed; see {work / 'peer.log'}")
    n = len(urls)
    stored = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return Row(concurrency, "scrapy-webarchive", n, stats.wall_s, n / stats.wall_s,
               stats.cpu_s / n, stats.peak_pss_mib, stored / n,
               cpu_by_kind=_per_capture(stats, n))


def run_script(script: str, urls: list[str], concurrency: int, label: str, work: Path,
               chromium: str | None, extra: tuple[str, ...] = ()) -> Row:
    url_file = work / f"urls-{label}.txt"
    url_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    cmd = [sys.executable, str(ROOT / "bench" / script), "--urls", str(url_file),
           "--concurrency", str(concurrency)]
    sizes = work / f"{label}-bytes.txt"
    if script == "baseline.py":
        cmd += ["--cookie", DEMO_CONSENT_COOKIE, *extra]
        if not extra:  # the plain loop: what it would store (its PNGs and HTML)
            cmd += ["--bytes-out", str(sizes)]
        if chromium:
            cmd += ["--chromium", chromium]
    stats = run_sampled(cmd, cwd=str(work), log=str(work / f"{label}.log"))
    if stats.returncode != 0:
        raise SystemExit(f"{script} failed; see {work / (label + '.log')}")
    n = len(urls)
    return Row(concurrency, label, n, stats.wall_s, n / stats.wall_s, stats.cpu_s / n,
               stats.peak_pss_mib,
               int(sizes.read_text()) / n if sizes.exists() and n else None,
               cpu_by_kind=_per_capture(stats, n))


def _per_capture(stats: TreeStats, captures: int) -> dict[str, float]:
    return {k: v / max(captures, 1) for k, v in sorted(stats.cpu_by_kind.items(),
                                                         key=lambda kv: -kv[1])}


def print_table(rows: list[Row]) -> None:
    head = (f"{'conc':>4}  {'row':17}  {'captures':>8}  {'capt/s':>7}  {'ratio':>6}  "
            f"{'vs steps':>8}  {'vs peer':>7}  "
            f"{'CPU s/capt':>10}  {'peak PSS MiB':>12}  {'stored B/capt':>13}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        vs_steps = f"{r.steps_ratio:.2f}" if r.steps_ratio is not None else ""
        vs_peer = f"{r.peer_ratio:.2f}" if r.peer_ratio is not None else ""
        stored = f"{r.stored_bytes_per_capture:,.0f}" if r.stored_bytes_per_capture else ""
        print(f"{r.concurrency:>4}  {r.row:17}  {r.captures:>8}  {r.rate:>7.2f}  {ratio:>6}  "
              f"{vs_steps:>8}  {vs_peer:>7}  "
              f"{r.cpu_per_capture:>10.3f}  {r.peak_pss_mib:>12.0f}  {stored:>13}")


def print_kinds(rows: list[Row]) -> None:
    """markwatch's stored bytes per capture by artifact kind, one line per run."""
    for r in rows:
        if r.stored_by_kind:
            parts = ", ".join(f"{k} {v:,.0f}" for k, v in r.stored_by_kind.items())
            print(f"stored B/capture at concurrency {r.concurrency} ({r.row}): {parts}")
        if r.not_drawn:
            print(f"screenshots not drawn to the end at concurrency {r.concurrency} ({r.row}): "
                  f"{r.not_drawn[0]} of {r.not_drawn[1]}")


def print_cpu(rows: list[Row]) -> None:
    """CPU seconds per capture by kind of process, one line per row."""
    for r in rows:
        if r.cpu_by_kind:
            parts = ", ".join(f"{k} {v:.3f}" for k, v in r.cpu_by_kind.items() if v >= 0.0005)
            print(f"CPU s/capture at concurrency {r.concurrency} ({r.row}): {parts}")
        if r.server_cpu_per_capture is not None:
            print(f"S3 server CPU s/capture at concurrency {r.concurrency} ({r.row}; outside "
                  f"the tree above, on the same cores): {r.server_cpu_per_capture:.3f}")


def long_run(work: Path, market: DemoMarketplace, captures: int, concurrency: int,
             samples: Path | None = None) -> dict[str, Any]:
    """One crawl of `captures`; peak PSS over the first and last tenth, and the memory curve:
    peak and mean PSS of the tree and peak PSS of Python, the driver and Chromium per tenth of
    the captures (each sample is also written, as it is taken, to `samples`: by default
    `long/samples.jsonl` in the work folder, which goes with it unless `--keep`)."""
    trace = str(samples or work / "samples.jsonl")
    row, _, stats = run_markwatch(work, market, captures, concurrency,
                                  f"file://{work / 'store'}", "markwatch", interval=1.0,
                                  trace=trace)
    window = max(captures // 10, 1)
    first = [pss for _, pss, n in stats.samples if 0 < n <= window]
    last = [pss for _, pss, n in stats.samples if n >= row.captures - window]
    first_peak, last_peak = (max(first) if first else 0.0), (max(last) if last else 0.0)
    growth = (last_peak / first_peak - 1) if first_peak else float("nan")
    return {"captures": row.captures, "rate": row.rate, "window": window,
            "peak_first_mib": first_peak, "peak_last_mib": last_peak,
            "growth": growth, "flat": bool(first_peak and growth <= 0.10),
            "curve": memory_curve(stats, row.captures)}


GROUPS = ("python", "driver", "chromium")


def memory_curve(stats: TreeStats, captures: int, parts: int = 10) -> list[dict[str, Any]]:
    """Per tenth of the captures (by the catalog's count at each sample): the samples' peak and
    mean PSS of the whole tree, and peak PSS of each process group."""
    width = max(math.ceil(captures / parts), 1)
    buckets: dict[int, list[int]] = {}
    for i, (_, _, n) in enumerate(stats.samples):
        if n > 0:
            buckets.setdefault(min((n - 1) // width, parts - 1), []).append(i)
    curve = []
    for b in sorted(buckets):
        idx = buckets[b]
        tree_pss = [stats.samples[i][1] for i in idx]
        entry: dict[str, Any] = {"from": b * width + 1, "to": min((b + 1) * width, captures),
                                 "samples": len(idx), "peak": max(tree_pss),
                                 "mean": sum(tree_pss) / len(tree_pss)}
        for g in GROUPS:
            vals = [stats.pss_by_group[i].get(g, 0.0) for i in idx
                    if i < len(stats.pss_by_group)]
            entry[g] = max(vals) if vals else 0.0
        curve.append(entry)
    return curve


def print_curve(curve: list[dict[str, Any]]) -> None:
    print(f"{'captures':>13}  {'samples':>7}  {'peak PSS':>8}  {'mean PSS':>8}  "
          + "  ".join(f"{g + ' peak':>13}" for g in GROUPS) + "   (MiB)")
    for e in curve:
        span = f"{e['from']:,}-{e['to']:,}"
        print(f"{span:>13}  {e['samples']:>7}  {e['peak']:>8.0f}  {e['mean']:>8.0f}  "
              + "  ".join(f"{e[g]:>13.0f}" for g in GROUPS))
    if len(curve) >= 2:
        a, b = curve[0], curve[-1]
        print("last tenth / first tenth: "
              + ", ".join(f"{k} {b[k] / a[k]:.2f}" for k in ("peak", "mean", *GROUPS) if a[k]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=2000, help="demo catalog size")
    parser.add_argument("--captures", type=int, default=160, help="target captures per run")
    parser.add_argument("--concurrency", default="1,4,16",
                        help="16: the best of 1-24 for markwatch and the baseline on this "
                             "2-core machine (docs/performance.md)")
    parser.add_argument("--s3", action="store_true", help="add a row with an S3 store (moto)")
    parser.add_argument("--s3-server", choices=("moto", "ceph"), default="moto",
                        help="the S3 row's server: moto, or a one-node Ceph RGW")
    parser.add_argument("--long", type=int, nargs="?", const=10_000, default=0,
                        help="one long crawl of this many captures (default 10000): memory")
    parser.add_argument("--samples", type=Path,
                        help="the long crawl's memory samples (JSON lines), written here as "
                             "they are taken and kept (default: in the work folder)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="NAME=VALUE", help="a setting for the markwatch runs")
    parser.add_argument("--bytes-before", action="store_true",
                        help="one more markwatch run at the first concurrency storing as "
                             "before deduplication and WebP screenshots: bytes before/after")
    parser.add_argument("--skip", default="",
                        help="rows to leave out: unrendered,baseline,steps,peer")
    opts = parser.parse_args()
    EXTRA_SETTINGS.extend(opts.settings)
    skip = set(opts.skip.split(","))
    chromium = find_chromium()
    levels = [int(c) for c in opts.concurrency.split(",") if c]
    work_root = Path(tempfile.mkdtemp(prefix="markwatch-bench-"))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, chromium {chromium or 'playwright'}")
    rows: list[Row] = []
    results: dict[str, Any] = {}
    with DemoMarketplace(build_catalog(listings=opts.listings)) as market:
        print(f"demo marketplace: {opts.listings} listings at {market.base_url}; "
              f"~{opts.captures} captures per run")
        for c in levels:
            work = work_root / f"c{c}"
            work.mkdir()
            mw, urls, _ = run_markwatch(work, market, opts.captures, c,
                                        f"file://{work / 'store'}", "markwatch")
            if "baseline" in skip:
                rows.append(mw)
                if opts.s3:
                    rows.append(s3_row(work_root / f"c{c}-s3", market, opts.captures, c, None,
                                       opts.s3_server))
                continue
            base = run_script("baseline.py", urls, c, "baseline", work, chromium)
            mw.ratio = mw.rate / base.rate
            rows += [base, mw]
            if "steps" not in skip:
                steps = run_script("baseline.py", urls, c, "browser-steps", work, chromium,
                                   ("--steps", "--consent", DEMO_CONSENT_SELECTOR))
                steps.ratio = steps.rate / base.rate
                mw.steps_ratio = mw.rate / steps.rate
                rows.insert(len(rows) - 1, steps)
            if opts.s3:
                rows.append(s3_row(work_root / f"c{c}-s3", market, opts.captures, c, base,
                                   opts.s3_server))
            if "unrendered" not in skip:
                rows.append(run_script("unrendered.py", urls, c, "unrendered", work, chromium))
            python = None if "peer" in skip else peer_python()
            if python is not None:
                peer = run_peer(urls, c, work, chromium, python)
                peer.ratio = peer.rate / base.rate
                mw.peer_ratio = mw.rate / peer.rate
                rows.append(peer)
        print()
        print_table(rows)
        best = max((r for r in rows if r.row == "markwatch"), key=lambda r: r.rate)
        summary = f"\nbest markwatch {best.rate:.2f} captures/s at concurrency {best.concurrency}"
        for label, unit in (("baseline", "pages/s"), ("browser-steps", "pages/s"),
                            ("scrapy-webarchive", "pages/s")):
            top = max((r.rate for r in rows if r.row == label), default=None)
            if top:  # a row left out (--skip) has no ratio to print
                summary += f"; best {label} {top:.2f} {unit}; ratio {best.rate / top:.2f}"
        print(summary)
        print_kinds(rows)
        print_cpu(rows)
        before = None
        if opts.bytes_before:
            work = work_root / "before"
            work.mkdir()
            EXTRA_SETTINGS.extend(BEFORE_SETTINGS)
            before, _, _ = run_markwatch(work, market, opts.captures, levels[0],
                                         f"file://{work / 'store'}", "markwatch-before")
            del EXTRA_SETTINGS[-len(BEFORE_SETTINGS):]
            rows.append(before)
        print_bytes(rows, before)
        results["rows"] = [asdict(r) for r in rows]
        if opts.long:
            work = work_root / "long"
            work.mkdir()
            results["long"] = long_run(work, market, opts.long, best.concurrency,
                                       opts.samples)
            lr = results["long"]
            print(f"\nlong run: {lr['captures']} captures at {lr['rate']:.2f}/s; peak PSS "
                  f"first {lr['window']}: {lr['peak_first_mib']:.0f} MiB, last "
                  f"{lr['window']}: {lr['peak_last_mib']:.0f} MiB "
                  f"({lr['growth']:+.1%}): {'flat' if lr['flat'] else 'GROWING'}")
            print_curve(lr["curve"])
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if not opts.keep:
        shutil.rmtree(work_root, ignore_errors=True)
    else:
        print(f"work folder kept: {work_root}")


def s3_row(work: Path, market: DemoMarketplace, target: int, concurrency: int,
           base: Row | None, server_kind: str = "moto") -> Row:
    """markwatch into a bucket on a local moto server (or a one-node Ceph RGW)."""
    import boto3

    work.mkdir()
    if server_kind == "ceph":
        from tests.servers.ceph import CephRGW

        with CephRGW() as ceph:
            os.environ.update(AWS_ACCESS_KEY_ID=ceph.access_key,
                              AWS_SECRET_ACCESS_KEY=ceph.secret_key,
                              AWS_DEFAULT_REGION=ceph.region)
            boto3.client("s3", endpoint_url=ceph.endpoint_url).create_bucket(Bucket="bench")
            pids = ceph.pids()
            spent = server_cpu(pids)
            row, _, _ = run_markwatch(work, market, target, concurrency,
                                      f"s3://bench/evidence?endpoint_url={ceph.endpoint_url}",
                                      "markwatch+ceph")
            row.server_cpu_per_capture = (server_cpu(pids) - spent) / max(row.captures, 1)
        if base is not None:
            row.ratio = row.rate / base.rate
        return row
    port = _free_port()
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_http(endpoint)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        spent = server_cpu([server.pid])
        row, _, _ = run_markwatch(work, market, target, concurrency,
                                  f"s3://bench/evidence?endpoint_url={endpoint}",
                                  "markwatch+s3")
        row.server_cpu_per_capture = (server_cpu([server.pid]) - spent) / max(row.captures, 1)
        if base is not None:
            row.ratio = row.rate / base.rate
        return row
    finally:
        server.terminate()
        server.wait()


def server_cpu(pids: Sequence[int]) -> float:
    """CPU seconds spent so far by the processes `pids` and their live children."""
    return sum(cpu_seconds(p) for pid in pids for p in tree(pid))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str) -> None:
    import time
    import urllib.error
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


if __name__ == "__main__":
    main()
