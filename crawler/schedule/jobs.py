"""The watchlist's schedules as jobs: one job per distinct cron expression.

Brands that share a schedule (their own or the watchlist's global one) are crawled by one run,
with one browser, so a watchlist whose brands all use the global schedule is one job, `all`,
that crawls the whole watchlist. Re-checks (`brands[].recheck`, else `settings.recheck`) are
grouped the same way: one job `recheck` with no brand selection when every brand shares one
re-check schedule, else one job `recheck-<brands>` per schedule. Cron expressions are UTC and
handled by `croniter`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, replace

from croniter import croniter

from crawler.watchlist import Watchlist

_SLUG = re.compile(r"[^a-z0-9]+")
MAX_NAME = 40


@dataclass(frozen=True)
class Job:
    """Crawl runs of some brands of a watchlist, fired on a cron schedule."""

    name: str
    """Stable, file- and DNS-safe name (`all`, `recheck`, or made from the brand names)."""
    cron: str
    """Five-field cron expression, UTC."""
    brands: tuple[str, ...] = ()
    """Brands to crawl (or re-check); empty: the whole watchlist (every known listing)."""
    every: float | None = None
    """Testing cadence: fire every so many seconds instead of on the cron schedule."""
    command: str = "crawl"
    """The markwatch command the job runs: `crawl`, or `recheck` (brands[].recheck,
    settings.recheck)."""

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
        """Arguments selecting this job's brands, for `markwatch crawl` and `markwatch recheck`
        alike (both take a repeatable `--brand`)."""
        return [arg for brand in self.brands for arg in ("--brand", brand)]


def job_name(brands: list[str], limit: int = MAX_NAME) -> str:
    """A slug of the brand names (at most `limit` characters), with a short digest when cut
    or empty."""
    slug = _SLUG.sub("-", "-".join(brands).lower()).strip("-")
    if not slug or len(slug) > limit:
        digest = hashlib.sha256("\0".join(brands).encode()).hexdigest()[:8]
        slug = f"{slug[:limit - 9].rstrip('-')}-{digest}".lstrip("-")
    return slug


def _by_cron(schedules: dict[str, str]) -> dict[str, list[str]]:
    """Cron expression -> the brands on it, in watchlist order."""
    by_cron: dict[str, list[str]] = {}
    for brand, cron in schedules.items():
        by_cron.setdefault(cron, []).append(brand)
    return by_cron


def _unique(jobs: list[Job]) -> list[Job]:
    """The jobs, a name already taken (brands whose slugs meet, such as a brand "Recheck X"
    beside a re-check of "X") given a digest so that no job hides another."""
    taken: set[str] = set()
    out = []
    for job in jobs:
        name, salt = job.name, 0
        while name in taken:
            key = "\0".join((job.command, job.cron, *job.brands, str(salt)))
            digest = hashlib.sha256(key.encode()).hexdigest()[:8]
            name = f"{job.name[:MAX_NAME - 9].rstrip('-')}-{digest}"
            salt += 1
        taken.add(name)
        out.append(job if name == job.name else replace(job, name=name))
    return out


def jobs_for(watchlist: Watchlist, every: float | None = None) -> list[Job]:
    """The jobs of a watchlist, in the order their schedules first appear: crawl jobs, then
    re-check jobs (`recheck` for the whole catalog, or `recheck-<brands>` per cron)."""
    by_cron = _by_cron(watchlist.schedules())
    rechecks = _by_cron(watchlist.recheck_schedules())
    every_brand = [b.name for b in watchlist.brands]
    if every and not by_cron and not rechecks:
        # a testing cadence needs no schedule in the watchlist
        by_cron["* * * * *"] = every_brand
    jobs = []
    for cron, brands in by_cron.items():
        if brands == every_brand:
            jobs.append(Job("all", cron, (), every))
        else:
            jobs.append(Job(job_name(brands), cron, tuple(brands), every))
    # re-checks of known listings (crawler/takedown); `recheck-` keeps them apart from crawls
    for cron, brands in rechecks.items():
        if brands == every_brand:  # one cron for all: every known listing, as always
            jobs.append(Job("recheck", cron, (), every, "recheck"))
        else:
            name = f"recheck-{job_name(brands, MAX_NAME - len('recheck-'))}"
            jobs.append(Job(name, cron, tuple(brands), every, "recheck"))
    return _unique(jobs)
