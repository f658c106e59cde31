"""The renderer guard kills a renderer that a hostile page grows past the limit (real
Chromium, a real DOM bomb); an ordinary page's renderer is left alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from crawler.extensions.renderer_guard import RendererGuard, renderers

pytestmark = pytest.mark.browser
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
GROWING = ("<h1>growing</h1><script>const keep = []; setInterval(() => {"
           "const d = document.createElement('div'); d.innerHTML = '<p>x</p>'.repeat(20000);"
           "document.body.append(d); keep.push(new Array(200000).fill(Math.random()));"
           "}, 20)</script>")


def test_a_runaway_renderer_is_killed_and_its_page_crashes(chromium: str) -> None:
    guard = RendererGuard(limit_mib=400, interval=0.2)

    async def scenario() -> tuple[bool, int, dict[int, int]]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            page = await browser.new_page()
            await page.set_content("<h1>ordinary</h1>")
            ordinary = await asyncio.to_thread(renderers)
            crashed = asyncio.Event()
            page.on("crash", lambda _page: crashed.set())
            guard.start()
            with contextlib.suppress(PlaywrightError):
                await page.set_content(GROWING, timeout=5000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(crashed.wait(), 120)
            guard.stop()
            await browser.close()
            return crashed.is_set(), len(guard.killed), ordinary

    crashed, killed, ordinary = asyncio.run(scenario())
    assert ordinary and all(kib < 400 * 1024 for kib in ordinary.values())
    assert killed >= 1 and crashed
    print(f"killed renderer at {guard.killed[0][1] // 1024} MiB (limit 400 MiB)")


def test_the_guard_is_off_without_a_limit() -> None:
    from scrapy.exceptions import NotConfigured
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(settings_dict={"EVIDENCE_RENDERER_MAX_MB": 0})
    with pytest.raises(NotConfigured):
        RendererGuard.from_crawler(crawler)
    assert threading.active_count() >= 1


def test_a_known_pid_over_the_limit_is_killed_only_if_it_is_a_renderer() -> None:
    """Between walks the guard reads only the memory of the pids it found; a pid over the limit
    is checked to be a renderer first (a renderer's pid can be reused by another process)."""
    import subprocess
    import sys
    import time

    other = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(8 << 20); "
                              "time.sleep(60)"])
    try:
        guard = RendererGuard(limit_mib=1)
        time.sleep(0.5)  # its 8 MiB touched
        guard._known, guard._scanned = [other.pid], time.monotonic()  # as if found by a walk
        guard.check()
        assert other.poll() is None and guard.killed == []
    finally:
        other.kill()
        other.wait()


def test_a_walk_does_not_read_the_threads_of_known_renderers() -> None:
    """A renderer starts no processes, so a walk skips the threads of those it found before:
    given as known, a process's own children are not looked for (real processes)."""
    import subprocess
    import sys
    import time

    from crawler.extensions.renderer_guard import _descendants

    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; "
                               "time.sleep(60)']); time.sleep(60)"])
    try:
        for _ in range(100):
            everything = _descendants("/proc", parent.pid) or []
            if everything:
                break
            time.sleep(0.05)
        assert len(everything) == 1  # the grandchild, through the parent's threads
        me = os.getpid()
        assert set(everything) < set(_descendants("/proc", me) or [])
        pruned = _descendants("/proc", me, frozenset({parent.pid})) or []
        assert parent.pid in pruned and not set(everything) & set(pruned)
    finally:
        for pid in everything:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        parent.kill()
        parent.wait()
