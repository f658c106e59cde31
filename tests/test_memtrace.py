"""The debug-only memory tracer (`crawler.extensions.memtrace`): off by default; when on, it
names the line whose allocations grew and the type whose live objects grew."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawler.extensions.memtrace import MemTrace, type_counts


class _Kept:
    """Objects a 'leak' keeps alive between snapshots."""

    def __init__(self, n: int) -> None:
        self.payload = bytearray(n)


def _leak(into: list[_Kept], count: int) -> None:
    into.extend(_Kept(1000) for _ in range(count))


def test_off_unless_a_file_is_named() -> None:
    with pytest.raises(NotConfigured):
        MemTrace.from_crawler(get_crawler())


def test_names_what_grew(tmp_path: Path) -> None:
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is already on (python -X tracemalloc)")
    out = tmp_path / "mem.txt"
    crawler = get_crawler(settings_dict={"MEMTRACE_FILE": str(out), "MEMTRACE_FIRST": 2,
                                         "MEMTRACE_EVERY": 3, "MEMTRACE_TOP": 10})
    assert crawler.stats is not None
    ext = MemTrace.from_crawler(crawler)
    kept: list[_Kept] = []
    ext.spider_opened(object())
    try:
        assert tracemalloc.is_tracing()
        ext.check()  # 0 captures: no snapshot yet
        assert "##" not in out.read_text()
        crawler.stats.set_value("evidence/captured", 2)
        ext.check()  # the first snapshot
        assert ext.base is not None and ext.next_at == 5
        _leak(kept, 2000)
        crawler.stats.set_value("evidence/captured", 4)
        ext.check()  # not yet due
        assert out.read_text().count("\n## ") == 1
        crawler.stats.set_value("evidence/captured", 5)
        ext.check()
    finally:
        ext.spider_closed(object())
    assert not tracemalloc.is_tracing()
    text = out.read_text()
    assert text.count("\n## ") == 3  # first, at 5, at close
    section = text.split("\n## 5 captures")[1].split("\n## ")[0]
    by_line = section.split("### by traceback")[0]
    # the leak's line first: 2,000 objects and their 2,000 buffers
    assert re.search(r"test_memtrace\.py:\d+: size=.*count=4000 \(\+4000\)",
                     by_line.split("by line\n")[1].splitlines()[0])
    assert "malloc: in use" in section
    objects = section.split("### live objects by type")[1]
    assert f"+2000  {__name__}._Kept (now 2000)" in objects


def test_type_counts_counts_live_objects() -> None:
    kept = [_Kept(1) for _ in range(50)]
    assert type_counts()[f"{__name__}._Kept"] >= len(kept)


def test_sizes_only_and_trim(tmp_path: Path) -> None:
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is already on (python -X tracemalloc)")
    out = tmp_path / "mem.txt"
    crawler = get_crawler(settings_dict={
        "MEMTRACE_FILE": str(out), "MEMTRACE_FIRST": 1, "MEMTRACE_EVERY": 1,
        "MEMTRACE_TRACEMALLOC": False, "MEMTRACE_TRIM": True})
    assert crawler.stats is not None
    ext = MemTrace.from_crawler(crawler)
    kept: list[_Kept] = []
    ext.spider_opened(object())
    try:
        assert not tracemalloc.is_tracing()  # sizes and object counts only
        crawler.stats.set_value("evidence/captured", 1)
        ext.check()
        _leak(kept, 300)
        crawler.stats.set_value("evidence/captured", 2)
        ext.check()
    finally:
        ext.spider_closed(object())
    text = out.read_text()
    second = text.split("\n## 2 captures")[1].split("\n## ")[0]
    assert "RSS after malloc_trim(0)" in second and "by line" not in second
    assert f"+300  {__name__}._Kept (now 300)" in second


def test_malloc_trim_every_n_captures() -> None:
    from crawler.extensions.malloc_trim import MallocTrim, libc_trim

    with pytest.raises(NotConfigured):
        MallocTrim.from_crawler(get_crawler())  # off by default
    if libc_trim() is None:
        pytest.skip("not glibc")
    crawler = get_crawler(settings_dict={"MALLOC_TRIM_EVERY": 3})
    assert crawler.stats is not None
    ext = MallocTrim.from_crawler(crawler)
    for captured in range(1, 8):
        crawler.stats.set_value("evidence/captured", captured)
        ext.item_scraped({}, None)
    assert crawler.stats.get_value("memory/malloc_trims") == 2  # at 3 and at 6
