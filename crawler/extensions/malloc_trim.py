"""Give glibc's freed heap back to the system every `MALLOC_TRIM_EVERY` captures (0: off).

A crawl's Python process frees as much as it allocates per capture (page bodies, screenshots,
protocol messages), but glibc keeps freed chunks in its arenas, and the arenas of the crawl's
threads (event loop, store pool, recording proxy) grow in steps as the freed space fragments:
measured over 1,100 captures, bytes in use stayed at 35 MiB while bytes freed but held grew
(docs/performance.md, "Where the Python process's growth goes"). `malloc_trim(0)` releases
the free pages of every arena (a few milliseconds). Off where glibc's `malloc_trim` is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


def libc_trim() -> Any | None:
    """glibc's `malloc_trim`, or None (another C library)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return trim


class MallocTrim:
    """Calls `malloc_trim(0)` once every `every` stored captures (`MALLOC_TRIM_EVERY`)."""

    def __init__(self, stats: StatsCollector, every: int, trim: Any) -> None:
        self.stats = stats
        self.every = every
        self.trim = trim
        self.next_at = every

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MallocTrim:
        every = crawler.settings.getint("MALLOC_TRIM_EVERY", 0)
        if every <= 0:
            raise NotConfigured
        trim = libc_trim()
        if trim is None:
            raise NotConfigured("no glibc malloc_trim")
        assert crawler.stats is not None
        ext = cls(crawler.stats, every, trim)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def item_scraped(self, item: Any, spider: Any) -> None:
        captured = int(self.stats.get_value("evidence/captured", 0) or 0)
        if captured >= self.next_at:
            self.next_at = captured + self.every
            self.trim(0)
            self.stats.inc_value("memory/malloc_trims")
