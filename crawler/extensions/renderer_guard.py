"""Killing a runaway renderer before one hostile page takes the machine.

A page can build millions of DOM nodes in one script task (a DOM bomb) or grow without end;
Chromium's JavaScript heap cap (`--js-flags=--max-old-space-size`) does not bound Blink's own
heap, and while the renderer is busy it cannot be asked anything. This extension watches the
crawl's renderer processes from outside (their resident memory in /proc, four times a second)
and kills one that passes `EVIDENCE_RENDERER_MAX_MB`: its page crashes, the capture fails with
the browser's reason ("page crashed"), the kill is logged with the memory it had reached and
counted (`evidence/renderers_killed`). Renderers are shared by the pages of one site in a
browser context, so the captures open in that renderer fail together; none is stored half made.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

logger = logging.getLogger(__name__)
INTERVAL = 0.25
RESCAN = 1.0
"""Seconds between walks of the crawl's process tree for new renderers; in between, only the
renderers already found are looked at, one `statm` read each (a walk reads every thread of
every Chromium process); a pid over the limit is checked to be a renderer before it is
killed."""
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children(root: str, pid: int) -> list[int] | None:
    """Child pids of `pid` from /proc/<pid>/task/*/children (None where the kernel lacks it)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"{root}/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"{root}/{pid}/task/{task}/children", encoding="ascii") as fh:
                out.extend(int(c) for c in fh.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"{root}/{pid}/task/{task}"):
                continue  # the thread ended
            return None  # no CONFIG_PROC_CHILDREN
        except (OSError, ValueError):
            continue
    return out


def _descendants(root: str, me: int, leaves: frozenset[int] = frozenset()) -> list[int] | None:
    """Every live descendant of `me`, walking children files: a crawl's few dozen processes,
    rather than every process of the machine (None where children files are missing). The
    threads of `leaves` (renderers found before: they start no processes) are not read."""
    seen: list[int] = []
    todo = [me]
    while todo and len(seen) < 4096:
        pid = todo.pop()
        if pid in leaves:
            continue
        kids = _children(root, pid)
        if kids is None:
            return None
        seen.extend(kids)
        todo.extend(kids)
    return seen


def _all_descendants(root: str, me: int) -> list[int]:
    """Every descendant of `me` from the parent pid of every process (the slow way)."""
    parents: dict[int, int] = {}
    try:
        names = [e.name for e in os.scandir(root) if e.name.isdigit()]
    except OSError:
        return []
    for name in names:
        try:
            with open(f"{root}/{name}/stat", encoding="ascii", errors="replace") as stat:
                parents[int(name)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out = []
    for pid in parents:
        up, steps = parents.get(pid), 0
        while up not in (None, 0, 1, me) and steps < 64:
            up, steps = parents.get(up), steps + 1
        if up == me:
            out.append(pid)
    return out


def renderers(root: str = "/proc", ancestor: int | None = None,
              known: frozenset[int] = frozenset()) -> dict[int, int]:
    """Renderer processes started under `ancestor` (this process): pid -> resident KiB.
    `known`: renderers found by an earlier walk, whose threads need not be read again."""
    me = os.getpid() if ancestor is None else ancestor
    pids = _descendants(root, me, known)
    if pids is None:
        pids = _all_descendants(root, me)
    return resident(pids, root)


def resident(pids: list[int], root: str = "/proc") -> dict[int, int]:
    """Those of `pids` that are renderers (checked again: a pid can be reused): resident KiB."""
    out: dict[int, int] = {}
    for pid in pids:
        try:
            with open(f"{root}/{pid}/cmdline", "rb") as cmdline:
                if b"--type=renderer" not in cmdline.read():
                    continue
            with open(f"{root}/{pid}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        out[pid] = int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return out


def rss_kib(pids: list[int], root: str = "/proc") -> dict[int, int]:
    """Resident KiB of each live pid of `pids` (one read of /proc/<pid>/statm; no check of what
    the process is: `resident` does that)."""
    out: dict[int, int] = {}
    for pid in pids:
        try:
            with open(f"{root}/{pid}/statm", encoding="ascii") as statm:
                out[pid] = int(statm.read().split()[1]) * _PAGE_KIB
        except (OSError, ValueError, IndexError):
            continue
    return out


class RendererGuard:
    """Extension: kills a renderer past `limit_mib` of resident memory."""

    def __init__(self, limit_mib: int, stats: Any = None, interval: float = INTERVAL) -> None:
        self.limit_kib = limit_mib * 1024
        self.stats = stats
        self.interval = interval
        self.killed: list[tuple[int, int]] = []
        """(pid, resident KiB when killed)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._known: list[int] = []
        self._scanned = -RESCAN

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RendererGuard:
        limit = crawler.settings.getint("EVIDENCE_RENDERER_MAX_MB", 0)
        if limit <= 0 or not os.path.isdir("/proc"):
            raise NotConfigured
        guard = cls(limit, crawler.stats)
        crawler.signals.connect(guard.start, signal=signals.spider_opened)
        crawler.signals.connect(guard.stop, signal=signals.spider_closed)
        return guard

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="markwatch-renderer-guard",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self) -> None:
        """One look at the renderers; kills those over the limit."""
        now = time.monotonic()
        if now - self._scanned >= RESCAN:
            found = renderers(known=frozenset(self._known))
            self._known, self._scanned = list(found), now
        else:
            found = rss_kib(self._known)
        for pid, kib in found.items():
            if kib <= self.limit_kib:
                continue
            kib = resident([pid]).get(pid, 0)  # still a renderer (pids are reused), still over
            if kib <= self.limit_kib:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            self.killed.append((pid, kib))
            logger.warning("renderer %d reached %d MiB, over EVIDENCE_RENDERER_MAX_MB=%d: "
                           "killed (the captures it held fail: page crashed)", pid, kib // 1024,
                           self.limit_kib // 1024)
            if self.stats is not None:
                self.stats.inc_value("evidence/renderers_killed")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # a watchdog must not die of one bad look
                logger.debug("renderer guard: %r", exc)
