"""The watchlist's schedules as jobs: one job per distinct cron expression.

Brands that share a schedule (their own or the watchlist's global one) are crawled by one run,
with one browser, so a watchlist whose brands all use the global schedule is one job, `all`,
that crawls the whole watchlist. Cron expressions are UTC and handled by `croniter`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from croniter import croniter

from crawler.watchlist import Watchlist

_SLUG = re.compile(r"[^a-z0-9]+")
MAX_NAME = 40


@dataclass(frozen=True)
class Job:
    """Crawl runs of some brands of a watchlist, fired on a cron schedule."""

    name: str
    """Stable, file- and DNS-safe name (`all`, or made from the brand names)."""
    cron: str
    """Five-field cron expression, UTC."""
    brands: tuple[str, ...] = ()
    """Brands to crawl; empty: the whole watchlist."""
    every: float | None = None
    """Testing cadence: fire every so many seconds instead of on the cron schedule."""
    command: str = "crawl"
    """The markwatch command the job runs: `crawl`, or `recheck` (settings.recheck)."""

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first firing strictly after `moment` (aware UTC)."""
        if self.every:
            return moment + dt.timedelta(seconds=self.every)
        nxt: dt.datetime = croniter(self.cron, moment.astimezone(dt.UTC)).get_next(dt.datetime)
        return nxt.astimezone(dt.UTC)

    def missed(self, last: dt.datetime, now: dt.datetime, limit: int = 10_000) -> list[
            dt.datetime]:
        """Firings after `last` up to `now` (at most `limit`, the latest ones)."""
        out: list[dt.datetime] = []
        moment = self.next_after(last)
        while moment <= now:
            out.append(moment)
            if len(out) > limit:
                out.pop(0)
            moment = self.next_after(moment)
        return out

    def crawl_args(self) -> list[str]:
        """`markwatch crawl` arguments selecting this job's brands."""
        return [arg for brand in self.brands for arg in ("--brand", brand)]


def job_name(brands: list[str]) -> str:
    """A slug of the brand names, with a short digest when cut or empty."""
    slug = _SLUG.sub("-", "-".join(brands).lower()).strip("-")
    if not slug or len(slug) > MAX_NAME:
        digest = hashlib.sha256("\0".join(brands).encode()).hexdigest()[:8]
        slug = f"{slug[:MAX_NAME - 9].rstrip('-')}-{digest}".lstrip("-")
    return slug


def jobs_for(watchlist: Watchlist, every: float | None = None) -> list[Job]:
    """The jobs of a watchlist, in the order their schedules first appear."""
    by_cron: dict[str, list[str]] = {}
    for brand, cron in watchlist.schedules().items():
        by_cron.setdefault(cron, []).append(brand)
    every_brand = [b.name for b in watchlist.brands]
    if every and not by_cron and not watchlist.settings.recheck:
        # a testing cadence needs no schedule in the watchlist
        by_cron["* * * * *"] = every_brand
    jobs = []
    for cron, brands in by_cron.items():
        if brands == every_brand:
            jobs.append(Job("all", cron, (), every))
        else:
            jobs.append(Job(job_name(brands), cron, tuple(brands), every))
    if watchlist.settings.recheck:  # re-checks of known listings (crawler/takedown)
        jobs.append(Job("recheck", watchlist.settings.recheck, (), every, "recheck"))
    return jobs
