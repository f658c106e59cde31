"""The injectable UTC clock every timestamp comes from, and ISO 8601 formatting."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock for tests: starts at `start` and advances by `step` on every reading."""

    def __init__(self, start: dt.datetime | str, step: dt.timedelta | float = 0.0) -> None:
        if isinstance(start, str):
            start = parse_utc(start)
        self._now = start.astimezone(dt.UTC)
        self._step = step if isinstance(step, dt.timedelta) else dt.timedelta(seconds=step)

    def now(self) -> dt.datetime:
        current = self._now
        self._now = current + self._step
        return current


def isoformat(moment: dt.datetime) -> str:
    """UTC ISO 8601 with microseconds and a `Z` suffix: `2026-11-28T11:20:37.123456Z`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: markwatch timestamps are always UTC-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> dt.datetime:
    """Parse an ISO 8601 timestamp (a date alone means midnight UTC) into an aware datetime."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
