"""Debug only: where the crawl's Python memory grows (tracemalloc and live objects by type).

Off unless `MEMTRACE_FILE` names a file (`-s MEMTRACE_FILE=/tmp/mem.txt`). It then starts
`tracemalloc` when the spider opens, takes a first snapshot once `MEMTRACE_FIRST` captures are
stored (the state a warm crawl has), and every `MEMTRACE_EVERY` captures after it (checked as
items pass; and when the spider closes) appends to the file: the traced total, the process's
resident size, the top `MEMTRACE_TOP` allocation sites grown since the first snapshot (by line
and by traceback) and the live objects whose count by type grew most (`gc.get_objects()`).
tracemalloc slows Python down (about 2x) and holds its own traces: figures of a traced run are
for comparison within it. `MEMTRACE_TRACEMALLOC=False` leaves it off (the sizes and the object
counts only).

Each snapshot also says what glibc's allocator holds (`mallinfo2`: in use, free but kept), and
with `MEMTRACE_TRIM=True` gives the free part back (`malloc_trim(0)`) and says the resident
size after it: memory that Python and the libraries freed but the allocator still holds shows
as a resident size that a trim takes back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

_IGNORE = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def type_counts() -> Counter[str]:
    """Live objects tracked by the collector, by module-qualified type name."""
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return counts


def rss_kib() -> int:
    """The process's resident size (VmRSS), 0 where /proc cannot say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallinfo2") else None


def malloc_state(trim: bool = False) -> str:
    """glibc's heap: bytes in use, free but held, mmapped; after a trim when `trim`."""
    libc = _libc()
    if libc is None:
        return "malloc: no glibc mallinfo2"
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    text = (f"malloc: in use {info.uordblks / 2**20:.1f} MiB, free but held "
            f"{info.fordblks / 2**20:.1f} MiB (arenas {info.arena / 2**20:.1f} MiB), mmapped "
            f"{info.hblkhd / 2**20:.1f} MiB")
    if trim:
        libc.malloc_trim(0)
        text += f"; RSS after malloc_trim(0) {rss_kib() / 1024:.1f} MiB"
    return text


class MemTrace:
    """Snapshots every `every` captures compared with the first (`MEMTRACE_FILE`)."""

    def __init__(self, stats: StatsCollector, path: Path, first: int, every: int, top: int,
                 frames: int, trace: bool = True, trim: bool = False) -> None:
        self.stats = stats
        self.path = path
        self.first = first
        self.every = every
        self.top = top
        self.frames = frames
        self.trace = trace
        self.trim = trim
        self.base: tracemalloc.Snapshot | None = None
        self.base_types: Counter[str] = Counter()
        self.next_at = first

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MemTrace:
        settings = crawler.settings
        target = settings.get("MEMTRACE_FILE")
        if not target:
            raise NotConfigured
        assert crawler.stats is not None
        ext = cls(crawler.stats, Path(target), settings.getint("MEMTRACE_FIRST", 200),
                  max(settings.getint("MEMTRACE_EVERY", 200), 1),
                  settings.getint("MEMTRACE_TOP", 30), settings.getint("MEMTRACE_FRAMES", 8),
                  settings.getbool("MEMTRACE_TRACEMALLOC", True),
                  settings.getbool("MEMTRACE_TRIM", False))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def captured(self) -> int:
        return int(self.stats.get_value("evidence/captured", 0) or 0)

    def spider_opened(self, spider: object) -> None:
        if self.trace:
            tracemalloc.start(self.frames)
        self.write(f"# memtrace: started {time.strftime('%H:%M:%S')}, first snapshot at "
                   f"{self.first} captures, then every {self.every}\n")

    def spider_closed(self, spider: object) -> None:
        self.take("spider closed")
        if self.trace and tracemalloc.is_tracing():
            tracemalloc.stop()

    def item_scraped(self, item: object, spider: object) -> None:
        # Checked as items pass (no timer: the extension needs no reactor of its own).
        self.check()

    def check(self) -> None:
        if self.captured() >= self.next_at:
            self.take("")
            self.next_at = self.captured() + self.every

    def write(self, text: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(text)

    def take(self, why: str) -> None:
        gc.collect()
        started = time.monotonic()
        tracing = self.trace and tracemalloc.is_tracing()
        snap = tracemalloc.take_snapshot().filter_traces(_IGNORE) if tracing else None
        types = type_counts()
        traced, peak = tracemalloc.get_traced_memory()
        head = (f"\n## {self.captured()} captures {why}({time.strftime('%H:%M:%S')}): traced "
                f"{traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f}), RSS "
                f"{rss_kib() / 1024:.1f} MiB, {sum(types.values())} gc objects\n"
                f"{malloc_state(self.trim)}\n")
        if snap is None:  # sizes and object counts only
            if not self.base_types:
                self.base_types = types
            grown = Counter({k: v - self.base_types.get(k, 0) for k, v in types.items()})
            self.write(head + "".join(f"{diff:+8d}  {name} (now {types[name]})\n"
                                      for name, diff in grown.most_common(10) if diff > 0))
            return
        if self.base is None:
            self.base, self.base_types = snap, types
            self.write(head + "(the first snapshot: later ones are compared with it)\n")
            return
        lines = [head, "### grown since the first snapshot, by line\n"]
        for stat in snap.compare_to(self.base, "lineno")[:self.top]:
            lines.append(f"{stat}\n")
        lines.append("### by traceback (the largest)\n")
        for stat in snap.compare_to(self.base, "traceback")[:max(self.top // 3, 1)]:
            lines.append(f"{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks\n")
            lines.extend(f"    {frame}\n" for frame in stat.traceback.format())
        lines.append("### live objects by type, grown since the first snapshot\n")
        grown = Counter({k: v - self.base_types.get(k, 0) for k, v in types.items()})
        for name, diff in grown.most_common(self.top):
            if diff <= 0:
                break
            lines.append(f"{diff:+8d}  {name} (now {types[name]})\n")
        lines.append(f"(snapshot and comparison took {time.monotonic() - started:.1f} s)\n")
        self.write("".join(lines))
