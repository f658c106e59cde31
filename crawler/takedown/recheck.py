"""`markwatch recheck` and `markwatch capture`: known listings and hand-found URLs captured
directly (no search), through a crawl run's machinery (`crawler.runs.runner.run_crawl` with
targets): one run, one run record and seal per marketplace, the same evidence as a crawl."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.clock import Clock, SystemClock, isoformat
from crawler.exceptions import ConfigError
from crawler.runs.runner import CrawlOptions, CrawlReport, run_crawl
from crawler.takedown import queries
from crawler.takedown.targets import Target, marketplace_of, write_targets

_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
RECHECK_STATUSES = ("reported", "live", "any")


def parse_duration(text: str) -> dt.timedelta:
    """`30m`, `6h`, `7d`, `2w` as a timedelta; ConfigError otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"{text!r} is not a duration like 30m, 6h, 7d or 2w")
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class RecheckSelection:
    """Which known listings a re-check takes; empty or None: no restriction."""

    case: str | None = None
    brands: tuple[str, ...] = ()
    """Listings of any of these brands (exact names, as captured)."""
    marketplace: str | None = None
    status: str = "reported"
    older_than: dt.timedelta | None = None


def select_targets(catalog: Any, selection: RecheckSelection, now: dt.datetime) -> list[Target]:
    """Known listings to re-capture: by case, brand, marketplace, status and age."""
    if selection.status not in RECHECK_STATUSES:
        raise ConfigError(f"--status must be one of {', '.join(RECHECK_STATUSES)}")
    cutoff = isoformat(now - selection.older_than) if selection.older_than else None
    out = []
    for row in queries.listings(catalog, selection.case, selection.marketplace,
                                selection.brands):
        if not row["url"]:
            continue
        if selection.status == "reported" and row["status"] != "reported":
            continue
        if selection.status == "live" and row["status"] in ("removed", "rejected"):
            continue
        last = catalog.query("SELECT MAX(started_at) AS t FROM takedown_observations WHERE "
                             "marketplace = ? AND listing_id = ?",
                             (row["marketplace"], row["listing_id"]))[0]["t"] or row["last_seen"]
        if cutoff and last >= cutoff:
            continue
        out.append(Target(row["marketplace"], row["url"], row["brand"], row["term"],
                          row["case_ref"], row["listing_id"]))
    return out


def capture_targets(urls: Sequence[str], brand: str, case: str | None,
                    demo_base_url: str | None = None) -> list[Target]:
    """Targets for URLs found by hand; the marketplace comes from each URL's host."""
    return [Target(marketplace_of(url, demo_base_url), url, brand, "capture", case)
            for url in dict.fromkeys(urls)]


def run_targets(watchlist: Path, store: str, catalog: str, targets: Sequence[Target],
                settings: dict[str, Any], clock: Clock | None = None) -> CrawlReport:
    """Capture `targets` in one run."""
    if not targets:
        raise ConfigError("nothing to capture: no listing matches the selection")
    settings = dict(settings)
    demo = [t for t in targets if t.marketplace == "demo"]
    if demo and not (settings.get("DEMO_BASE_URL") or os.environ.get("MARKWATCH_DEMO_URL")):
        parts = urlsplit(demo[0].url)
        settings["DEMO_BASE_URL"] = f"{parts.scheme}://{parts.netloc}"
    with tempfile.TemporaryDirectory(prefix="markwatch-targets-") as tmp:
        path = Path(tmp) / "targets.json"
        write_targets(path, targets)
        return run_crawl(CrawlOptions(watchlist, store, catalog, settings=settings,
                                      targets=path), clock or SystemClock())
