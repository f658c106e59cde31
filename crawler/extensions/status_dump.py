"""What a crawl that seems stuck is doing, on `SIGUSR2` (`kill -USR2 <pid>`).

Scrapy's own `StackTraceDump` prints thread stacks, which for a crawl on the asyncio reactor
show the event loop waiting and little else. This extension logs, at WARNING (so it shows at
any log level): Scrapy's engine status, the requests the downloader has in flight (method and
URL, how long each has been in flight), the page slots and idle tabs of each browser context,
and every pending asyncio task with the line each one waits on. Nothing is stopped or changed;
headers, bodies and locals are never printed (they can hold credentials). Off with
`STATUS_DUMP_ENABLED = False`, and where the platform has no `SIGUSR2`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
import traceback
from types import FrameType
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.engine import format_engine_status

logger = logging.getLogger(__name__)
MAX_GROUPS = 200
"""Groups of tasks listed at most (tasks waiting at the same lines are one group)."""
FRAMES = 10
"""Innermost frames listed per task."""
_ASYNC_GEN_STEPS = ("async_generator_asend", "async_generator_athrow")


class StatusDump:
    """Log the crawl's state on `SIGUSR2`."""

    def __init__(self, crawler: Crawler, signum: int) -> None:
        self.crawler = crawler
        self.signum = signum
        self._started: dict[int, float] = {}
        self._previous = signal.signal(signum, self._on_signal)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StatusDump:
        signum = getattr(signal, "SIGUSR2", None)
        if signum is None or not crawler.settings.getbool("STATUS_DUMP_ENABLED", True):
            raise NotConfigured
        try:
            return cls(crawler, signum)
        except ValueError as exc:  # not the main thread (a crawl run inside another program)
            raise NotConfigured(str(exc)) from exc

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        try:
            text = self.describe()
        except Exception as exc:  # a dump must never take the crawl down
            text = f"(status unavailable: {exc!r})"
        logger.warning("Status on request (SIGUSR2)\n%s", text)

    def describe(self) -> str:
        """The crawl's state as text."""
        parts = []
        engine = getattr(self.crawler, "engine", None)
        if engine is not None:
            parts.append(format_engine_status(engine))
            parts.append(self._in_flight(engine))
        tabs = getattr(self.crawler, "markwatch_tabs", None)
        if tabs is not None and hasattr(tabs, "describe"):
            parts.append("Browser contexts:\n" + tabs.describe())
        parts.append(_tasks())
        return "\n".join(p for p in parts if p)

    def _in_flight(self, engine: Any) -> str:
        active = list(getattr(getattr(engine, "downloader", None), "active", ()) or ())
        now = time.monotonic()
        live = {id(r) for r in active}
        self._started = {k: v for k, v in self._started.items() if k in live}
        lines = [f"Requests in flight: {len(active)}"]
        for request in active:
            first = self._started.setdefault(id(request), now)
            seen = f"in flight at the last dump too ({now - first:.0f} s ago)" if first < now \
                else "new since the last dump"
            lines.append(f"  {request.method} {request.url[:300]} ({seen})")
        return "\n".join(lines)


def _tasks() -> str:
    """Every pending asyncio task of the running loop, with where it waits."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return "asyncio: no event loop"
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    # tasks waiting at the same lines (Scrapy's idle workers, say) are listed once, counted
    groups: dict[tuple[str, ...], list[str]] = {}
    for task in tasks:
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        frames = _awaiting(coro)[-FRAMES:]
        where = tuple(f"    {e.filename}:{e.lineno} {e.name}: {(e.line or '').strip()[:160]}"
                      for e in traceback.StackSummary.extract(
                          ((f, f.f_lineno) for f in frames), lookup_lines=True))
        groups.setdefault((name, *where), []).append(task.get_name())
    lines = [f"asyncio tasks pending: {len(tasks)}"]
    for key, names in sorted(groups.items(), key=lambda g: len(g[1]))[:MAX_GROUPS]:
        name, where = key[0], key[1:]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines.append(f"  {name} ({shown})")
        lines.extend(where)
    if len(groups) > MAX_GROUPS:
        lines.append(f"  ... and {len(groups) - MAX_GROUPS} more groups")
    return "\n".join(lines)


def _awaiting(coro: Any) -> list[FrameType]:
    """The frames of a suspended coroutine and of what it awaits, outermost first (a task's
    own `get_stack` gives only the outermost of a suspended coroutine)."""
    frames: list[FrameType] = []
    seen = 0
    while coro is not None and seen < 100:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) \
            or getattr(coro, "ag_frame", None)
        if frame is None:
            break
        frames.append(frame)
        waits = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) \
            or getattr(coro, "ag_await", None)
        if waits is not None and not hasattr(waits, "cr_frame") \
                and type(waits).__name__ in _ASYNC_GEN_STEPS:
            # `async for`: the step object refers to its async generator, which holds the frame
            waits = next((r for r in gc.get_referents(waits) if hasattr(r, "ag_frame")), None)
        coro = waits
        seen += 1
    return frames
