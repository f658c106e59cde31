"""Where a short crawl leaves cores idle: the timeline of one `make bench` markwatch row.

Runs the bench's markwatch crawl (`bench/run.py`'s watchlist and settings, the demo marketplace
sized up) with `MARKWATCH_TIMELINE` set (`crawler.extensions.timeline`), samples the process
tree's CPU seconds every `--interval` (`bench/proctree.py`), and prints:

* when the process started (0), the engine started, the Playwright driver and Chromium were
  launched, the first search and the first listing request left for the downloader, the last
  capture was stored, the process exited;
* the crawl cut into phases (start-up: to the first search request; search only: to the first
  listing request; steady: while every page slot is busy; tail: after the last time they all
  were; shutdown: after the last capture) with, for each, wall seconds, CPU seconds, cores
  used and idle core-seconds (cores x wall - CPU), and the mean number of tabs busy (a
  tab is busy from its request reaching the downloader to the capture giving it back, a
  capture open until it is stored);
* cores used and pages busy per second (`--series`).

`--tree DIR --python PY` runs another checkout's code (main's, for an A/B): its crawl module
is imported from DIR; a tree without the timeline extension gives the CPU figures only.

    .venv/bin/python bench/timeline.py --listings 300 --captures 60 --concurrency 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proctree import cpu_seconds, tree  # noqa: E402
from bench.run import catalog_count, env_for, watchlist  # noqa: E402
from crawler.demo import DemoMarketplace, build_catalog  # noqa: E402

CORES = os.cpu_count() or 1


@dataclass
class Sampled:
    """What one crawl's run gave: wall-clock start and end, CPU samples, timeline events."""

    started: float
    ended: float
    samples: list[tuple[float, float]] = field(default_factory=list)
    """(wall-clock time, CPU seconds of the tree so far)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    captures: int = 0
    returncode: int = 0
    server_cpu: float = 0.0
    """CPU seconds of this process meanwhile: the demo marketplace serving the crawl (and the
    sampler), outside the crawl's tree but on the same cores."""


def run(tree_dir: Path, python: str, work: Path, market: DemoMarketplace, captures: int,
        concurrency: int, interval: float, settings: list[str]) -> Sampled:
    """One markwatch crawl of the bench row, sampled."""
    wl = work / "watchlist.yaml"
    wl.write_text(watchlist(captures, market.page_size), encoding="utf-8")
    events = work / "timeline.jsonl"
    catalog = work / "catalog.db"
    report = work / "report.json"
    cmd = [python, "-m", "crawler", "crawl", "-w", str(wl), "--store",
           f"file://{work / 'store'}", "--catalog", f"sqlite:///{catalog}",
           "--report-json", str(report), "--log-level", "WARNING",
           "-s", "EGRESS_ALLOW=127.0.0.1",
           "-s", f"CONCURRENT_REQUESTS={concurrency}",
           "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
           "-s", f"PLAYWRIGHT_MAX_PAGES_PER_CONTEXT={concurrency}",
           "-s", f"MARKWATCH_TIMELINE={events}"]
    for pair in settings:
        cmd += ["-s", pair]
    env = env_for(market.base_url)
    env["PYTHONPATH"] = str(tree_dir)
    cpu: dict[int, float] = {}
    stop = threading.Event()
    with open(work / "crawl.log", "w") as log:
        started = time.time()
        own_cpu = time.process_time()
        proc = subprocess.Popen(cmd, env=env, cwd=str(tree_dir), stdout=log,
                                stderr=subprocess.STDOUT)
        out = Sampled(started, started)

        def sample() -> None:
            while not stop.is_set():
                for pid in tree(proc.pid):
                    cpu[pid] = max(cpu.get(pid, 0.0), cpu_seconds(pid))
                out.samples.append((time.time(), sum(cpu.values())))
                stop.wait(interval)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        out.returncode = proc.wait(timeout=1800)
        out.ended = time.time()
        out.server_cpu = time.process_time() - own_cpu
        stop.set()
        thread.join()
    out.samples.append((out.ended, sum(cpu.values())))
    if events.exists():
        out.events = [json.loads(line) for line in events.read_text().splitlines() if line]
    if report.exists():
        out.captures = int(json.loads(report.read_text())["counts"].get("captures", 0))
    else:
        out.captures = catalog_count(catalog)
    return out


def cpu_at(samples: list[tuple[float, float]], t: float) -> float:
    """CPU seconds of the tree at time `t`, interpolated between samples."""
    before = (samples[0][0], 0.0)
    for when, total in samples:
        if when >= t:
            span = when - before[0]
            share = (t - before[0]) / span if span > 0 else 1.0
            return before[1] + share * (total - before[1])
        before = (when, total)
    return samples[-1][1]


def first(events: list[dict[str, Any]], event: str, kind: str | None = None) -> float | None:
    for e in events:
        if e["event"] == event and (kind is None or e.get("kind") == kind):
            return float(e["t"])
    return None


def last(events: list[dict[str, Any]], event: str) -> float | None:
    times = [float(e["t"]) for e in events if e["event"] == event]
    return max(times) if times else None


def busy_intervals(events: list[dict[str, Any]], end: str = "stored"
                   ) -> list[tuple[float, float]]:
    """(from, to) of each rendered page: its request reaching the downloader to `end`, its
    tab given back (`rendered`) or its capture stored (`stored`); for a page without that
    event, to its request leaving the downloader."""
    open_at: dict[str, float] = {}
    left: dict[str, float] = {}
    spans = []
    for e in events:
        url = e.get("url", "")
        if e["event"] == "downloading" and e.get("kind") in ("search", "listing"):
            open_at[url] = e["t"]
        elif e["event"] == "downloaded":
            left[url] = e["t"]
        elif e["event"] == end and url in open_at:
            spans.append((open_at.pop(url), e["t"]))
    spans += [(t, left.get(url, t)) for url, t in open_at.items()]
    return spans


def busy_at(spans: list[tuple[float, float]], t: float) -> int:
    return sum(1 for a, b in spans if a <= t < b)


def mean_busy(spans: list[tuple[float, float]], a: float, b: float) -> float:
    if b <= a:
        return 0.0
    return sum(max(0.0, min(y, b) - max(x, a)) for x, y in spans) / (b - a)


def tail_start(spans: list[tuple[float, float]], concurrency: int, end: float) -> float | None:
    """The last time every page slot was busy (the tail begins as the first one empties)."""
    edges = sorted({x for x, _ in spans} | {y for _, y in spans})
    full = [t for t in edges if t < end and busy_at(spans, t) >= concurrency]
    if not full:
        return None
    t = full[-1]
    ends = [y for _, y in spans if y > t]
    return min(ends) if ends else None


def phases(s: Sampled, concurrency: int) -> list[tuple[str, float, float]]:
    ev = s.events
    search = first(ev, "downloading", "search")
    listing = first(ev, "downloading", "listing")
    stored = last(ev, "stored")
    spans = busy_intervals(ev, "rendered")
    cuts: list[tuple[str, float | None]] = [("start-up", search), ("search only", listing)]
    tail = tail_start(spans, concurrency, stored or s.ended)
    if tail is not None and listing is not None and tail > listing:
        cuts += [("steady", tail)]
    cuts += [("tail" if tail is not None else "listings", stored), ("shutdown", s.ended)]
    out, begin = [], s.started
    for name, end in cuts:
        if end is None or end < begin:
            continue
        out.append((name, begin, end))
        begin = end
    return out


SEGMENTS = (("downloading", "response", "tab and navigation"),
            ("response", "capture_steps", "callback to end of capture steps"),
            ("capture_steps", "rendered", "tab given back"),
            ("rendered", "stored", "assembled and stored"))
"""Where a rendered page's time goes, event to event (a listing's, by URL)."""


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def segments(events: list[dict[str, Any]], kind: str = "listing") -> dict[str, Any]:
    """Mean, median and 90th percentile seconds of each of a page's `SEGMENTS` and of each
    capture step (`capture_steps` events: `crawler.browser.capture.capture_page`'s laps), for
    the pages of `kind`; printed as a table."""
    at: dict[str, dict[str, float]] = {}
    steps: dict[str, list[float]] = {}
    urls = {e["url"] for e in events if e["event"] == "downloading" and e.get("kind") == kind}
    for e in events:
        url = e.get("url")
        if url not in urls:
            continue
        at.setdefault(url, {}).setdefault(e["event"], float(e["t"]))
        if e["event"] == "capture_steps":
            for name, value in e.items():
                if name not in ("event", "t", "url"):
                    steps.setdefault(name, []).append(float(value))
    rows: dict[str, list[float]] = {}
    for a, b, name in SEGMENTS:
        rows[name] = [t[b] - t[a] for t in at.values() if a in t and b in t]
    rows.update({f"  step {name}": values for name, values in steps.items()})
    out: dict[str, Any] = {}
    title = f"{kind} pages ({len(urls)}), seconds"
    print(f"   {title:34} {'mean':>7} {'median':>7} {'p90':>7}")
    for name, values in rows.items():
        if not values:
            continue
        stats = (sum(values) / len(values), _quantile(values, 0.5), _quantile(values, 0.9))
        out[name.strip()] = dict(zip(("mean", "median", "p90"), stats, strict=True))
        print(f"   {name:34} {stats[0]:7.3f} {stats[1]:7.3f} {stats[2]:7.3f}")
    return out


def report(label: str, s: Sampled, concurrency: int, series: bool) -> dict[str, Any]:
    wall = s.ended - s.started
    cpu = s.samples[-1][1]
    print(f"\n== {label}: {s.captures} captures in {wall:.2f} s ({s.captures / wall:.2f}/s), "
          f"CPU {cpu:.1f} s ({cpu / max(s.captures, 1):.3f} s/capture), cores used "
          f"{cpu / wall:.2f} of {CORES}; load {os.getloadavg()[0]:.1f}; the demo marketplace "
          f"(and sampler) {s.server_cpu:.1f} CPU s ({s.server_cpu / wall:.2f} cores)")
    result: dict[str, Any] = {"label": label, "captures": s.captures, "wall_s": wall,
                              "cpu_s": cpu, "cores_used": cpu / wall,
                              "server_cpu_s": s.server_cpu}
    if not s.events:
        print("   (no timeline: this tree has no timeline extension)")
        return result
    marks = [("crawler created", first(s.events, "crawler_created")),
             ("spider opened", first(s.events, "spider_opened")),
             ("engine started", first(s.events, "engine_started")),
             ("driver started", first(s.events, "driver_started")),
             ("browser launching", first(s.events, "browser_launching")),
             ("browser launched", first(s.events, "browser_launched")),
             ("robots.txt requested", first(s.events, "downloading", "robots")),
             ("first search requested", first(s.events, "downloading", "search")),
             ("first search rendered", first(s.events, "rendered", "search")),
             ("first search stored", first(s.events, "stored", "search")),
             ("first listing scheduled", first(s.events, "scheduled", "listing")),
             ("first listing requested", first(s.events, "downloading", "listing")),
             ("last capture stored", last(s.events, "stored")),
             ("engine stopped", last(s.events, "engine_stopped")),
             ("process exited", s.ended)]
    for name, t in marks:
        if t is not None:
            print(f"   {t - s.started:7.2f} s  {name}  (cores used to here "
                  f"{cpu_at(s.samples, t) / max(t - s.started, 1e-9):.2f})")
    result["marks"] = {name: (t - s.started if t is not None else None) for name, t in marks}
    spans = busy_intervals(s.events, "rendered")
    capturing = busy_intervals(s.events, "stored")
    print(f"   {'phase':12} {'wall s':>7} {'CPU s':>7} {'cores':>6} {'idle core-s':>11} "
          f"{'tabs busy':>9} {'captures open':>13}")
    result["phases"] = []
    for name, a, b in phases(s, concurrency):
        used = cpu_at(s.samples, b) - cpu_at(s.samples, a)
        idle = CORES * (b - a) - used
        busy = mean_busy(spans, a, b)
        open_ = mean_busy(capturing, a, b)
        print(f"   {name:12} {b - a:>7.2f} {used:>7.2f} {used / max(b - a, 1e-9):>6.2f} "
              f"{idle:>11.2f} {busy:>9.2f} {open_:>13.2f}")
        result["phases"].append({"phase": name, "wall_s": b - a, "cpu_s": used,
                                 "idle_core_s": idle, "tabs_busy": busy,
                                 "captures_open": open_})
    result["segments"] = segments(s.events)
    if series:
        line = []
        for second in range(int(wall) + 1):
            a, b = s.started + second, min(s.started + second + 1, s.ended)
            used = (cpu_at(s.samples, b) - cpu_at(s.samples, a)) / max(b - a, 1e-9)
            line.append(f"{second}:{used:.1f}/{busy_at(spans, a + (b - a) / 2)}")
        print("   per second (cores used/tabs busy): " + " ".join(line))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=300, help="demo catalog size")
    parser.add_argument("--captures", type=int, default=60, help="target captures per run")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="a checkout to run (repeat for an A/B; default: this one)")
    parser.add_argument("--python", action="append", default=[],
                        help="the Python of each --tree (default: this one)")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="NAME=VALUE")
    parser.add_argument("--series", action="store_true", help="print cores used per second")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the crawls' folders (and timelines) here")
    opts = parser.parse_args()
    trees = opts.tree or [ROOT]
    pythons = opts.python or [sys.executable] * len(trees)
    if len(pythons) != len(trees):
        raise SystemExit("give one --python per --tree")
    results = []
    with tempfile.TemporaryDirectory(prefix="markwatch-timeline-") as scratch, \
            DemoMarketplace(build_catalog(listings=opts.listings)) as market:
        tmp = opts.keep or scratch
        for n in range(opts.runs):
            for i, (tree_dir, python) in enumerate(zip(trees, pythons, strict=True)):
                work = Path(tmp) / f"r{n}-t{i}"
                work.mkdir(parents=True)
                load = os.getloadavg()[0]
                s = run(tree_dir.resolve(), python, work, market, opts.captures,
                        opts.concurrency, opts.interval, opts.settings)
                if s.returncode not in (0, 1):
                    raise SystemExit(f"crawl failed ({s.returncode}); see {work}/crawl.log")
                result = report(f"run {n + 1}, {tree_dir} (load at start {load:.1f})", s,
                                opts.concurrency, opts.series)
                results.append({"run": n + 1, "tree": str(tree_dir), "load": load, **result})
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
