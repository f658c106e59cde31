"""glibc's mmap threshold fixed in the crawl's process (`crawler.extensions.malloc_mmap`).

The mechanism is checked in a fresh interpreter each time (glibc's threshold is process-wide):
after a large block is freed, glibc's dynamic threshold would serve the next large buffer from
the heap; fixed, the buffer is still a mapping of its own, given back when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawler.exceptions import ConfigError
from crawler.extensions.malloc_mmap import ENV, MallocMmapThreshold, libc_mallopt

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import ctypes, sys
from crawler.extensions.malloc_mmap import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold(128 * 1024)
big = bytearray(4 * 1024 * 1024)  # a mapping of its own at glibc's initial threshold
del big  # freed: a dynamic threshold rises to 4 MiB here
mapped = libc.mallinfo2().hblks
buffer = bytearray(512 * 1024)  # a screenshot's size
print(libc.mallinfo2().hblks - mapped)
"""


def _needs_glibc() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if libc_mallopt() is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("not glibc (no mallopt/mallinfo2)")


def _mapped_after_a_large_free(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True, timeout=120)
    return int(out.stdout.strip())


def test_a_fixed_threshold_keeps_large_buffers_out_of_the_heap() -> None:
    _needs_glibc()
    assert _mapped_after_a_large_free("dynamic") == 0  # carved from the heap's arena
    assert _mapped_after_a_large_free("fixed") == 1  # a mapping, unmapped when freed


def test_the_extension_is_on_by_default_and_says_so() -> None:
    from crawler import settings as project

    assert project.MALLOC_MMAP_THRESHOLD == 128 * 1024
    assert project.EXTENSIONS["crawler.extensions.malloc_mmap.MallocMmapThreshold"]
    _needs_glibc()
    crawler = get_crawler(settings_dict={"MALLOC_MMAP_THRESHOLD": project.MALLOC_MMAP_THRESHOLD})
    ext = MallocMmapThreshold.from_crawler(crawler)
    assert ext.threshold == 128 * 1024
    assert crawler.stats is not None
    assert crawler.stats.get_value("memory/mmap_threshold") == 128 * 1024


def test_off_when_zero_or_when_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotConfigured):
        MallocMmapThreshold.from_crawler(get_crawler(settings_dict={"MALLOC_MMAP_THRESHOLD": 0}))
    monkeypatch.setenv(ENV, "262144")
    with pytest.raises(NotConfigured, match=ENV):
        MallocMmapThreshold.from_crawler(get_crawler())


def test_an_impossible_threshold_is_a_clear_error() -> None:
    for bad in (-1, 64 * 1024 * 1024):
        with pytest.raises(ConfigError, match="MALLOC_MMAP_THRESHOLD"):
            MallocMmapThreshold.from_crawler(
                get_crawler(settings_dict={"MALLOC_MMAP_THRESHOLD": bad}))
