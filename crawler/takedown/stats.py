"""Takedown figures per case and marketplace: found, reported, removed, the median and 90th
percentile time from report to confirmed removal, and the reappearance rate."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from crawler.clock import parse_utc
from crawler.takedown import queries


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (`fraction` 0.5 is the median of an odd count)."""
    if not values:
        return None
    ordered = sorted(values)
    if fraction == 0.5 and len(ordered) % 2 == 0:
        mid = len(ordered) // 2
        return (ordered[mid - 1] + ordered[mid]) / 2
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def takedown_stats(catalog: Any, case: str | None = None) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"found": 0, "reported": 0, "removed": 0, "reappeared": 0, "times": []})
    for row in queries.listings(catalog, case):
        group = groups[(row["case_ref"] or "", row["marketplace"])]
        group["found"] += 1
        history = queries.status_history(catalog, row["case_ref"] or "", row["marketplace"],
                                         row["listing_id"])
        reported_at = None
        removed = reappeared = False
        for event in history:
            if event["status"] == "reported" and reported_at is None:
                reported_at = event["at"]
            elif event["status"] == "removed" and reported_at is not None and not removed:
                removed = True
                seconds = (parse_utc(event["at"]) - parse_utc(reported_at)).total_seconds()
                group["times"].append(seconds)
            elif event["status"] == "reappeared" and removed:
                reappeared = True
        group["reported"] += reported_at is not None
        group["removed"] += removed
        group["reappeared"] += reappeared
    out = []
    for (case_ref, marketplace), g in sorted(groups.items()):
        out.append({
            "case": case_ref, "marketplace": marketplace, "found": g["found"],
            "reported": g["reported"], "removed": g["removed"], "reappeared": g["reappeared"],
            "median_removal_s": percentile(g["times"], 0.5),
            "p90_removal_s": percentile(g["times"], 0.9),
            "reappearance_rate": g["reappeared"] / g["removed"] if g["removed"] else 0.0,
        })
    return out
