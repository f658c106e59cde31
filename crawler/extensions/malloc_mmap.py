"""A fixed mmap threshold for glibc's allocator in the crawl's process (`MALLOC_MMAP_THRESHOLD`).

glibc serves an allocation of at least its mmap threshold (128 KiB at start) with a mapping
of its own, given back to the system when freed. But the threshold is dynamic: each time such
a block is freed, glibc raises the threshold to the block's size (up to 32 MiB). After the
first screenshot or page body of a few hundred KiB is freed, every later one is carved from
the heap's arenas instead, where the space it leaves when freed sits between long-lived small
chunks and is held, not given back. Each capture handles several such transient buffers (the
screenshot's base64 text and bytes, the DOM, page bodies, protocol messages) on the event
loop, the store pool's threads and the recording proxy's thread: measured in a long crawl,
the Python process grew by about 14 MiB per 1,000 captures while the bytes in use did not
(docs/performance.md, "Where the Python process's growth goes").

Setting the threshold with `mallopt(M_MMAP_THRESHOLD)` fixes it (glibc stops adjusting it),
so large transient buffers are mapped and unmapped again as they come and go. Applied once,
process-wide, when the crawler is built; 0 leaves glibc's dynamic threshold. A threshold the
environment already sets (`MALLOC_MMAP_THRESHOLD_`, glibc's own variable) is left as it is.
Off where glibc's `mallopt` is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.exceptions import ConfigError

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""`mallopt`'s parameter number for the mmap threshold (glibc's malloc.h)."""
DEFAULT_THRESHOLD = 128 * 1024
MAX_THRESHOLD = 32 * 1024 * 1024
"""glibc refuses a threshold above `HEAP_MAX / 2` (32 MiB on 64-bit systems)."""
ENV = "MALLOC_MMAP_THRESHOLD_"


def libc_mallopt() -> Any | None:
    """glibc's `mallopt`, or None (another C library)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is not None:
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
    return mallopt


def fix_mmap_threshold(threshold: int) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes; False where it cannot be set."""
    if not 0 < threshold <= MAX_THRESHOLD:
        raise ConfigError(f"MALLOC_MMAP_THRESHOLD must be between 1 and {MAX_THRESHOLD} bytes "
                         f"(0: off), not {threshold}")
    mallopt = libc_mallopt()
    return mallopt is not None and mallopt(M_MMAP_THRESHOLD, threshold) == 1


class MallocMmapThreshold:
    """Fixes glibc's mmap threshold when the crawler is built (`MALLOC_MMAP_THRESHOLD`)."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MallocMmapThreshold:
        threshold = crawler.settings.getint("MALLOC_MMAP_THRESHOLD", DEFAULT_THRESHOLD)
        if threshold == 0:
            raise NotConfigured
        if os.environ.get(ENV):
            raise NotConfigured(f"{ENV} is set in the environment")
        if not fix_mmap_threshold(threshold):
            raise NotConfigured("no glibc mallopt")
        logger.debug("glibc mmap threshold fixed at %d bytes", threshold)
        if crawler.stats is not None:
            crawler.stats.set_value("memory/mmap_threshold", threshold)
        return cls(threshold)
