"""Coverage alarms: how many captures of a run have each field, against recent runs.

At the end of each marketplace's part of a run, for each page kind the share of captures with
each field filled is computed from the catalog (listing pages: listing id, title, price,
currency, seller, images; search pages: at least one organic result) and compared with the
mean of the same marketplace's last `COVERAGE_ALARM_RUNS` runs. A share that fell by
`COVERAGE_ALARM_DROP` or more (with at least `COVERAGE_ALARM_MIN_CAPTURES` captures of that
kind in both) is a warning: a parser broken by a redesign is noticed on the first run. The
result goes into the run record (`coverage`), hence the report JSON and `markwatch runs show`;
with `COVERAGE_ALARM_EXIT` a warning makes the run exit with status 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapy.settings import BaseSettings

from crawler.exceptions import ConfigError

LISTING_FIELDS = ("listing_id", "title", "price", "currency", "seller_name", "images")
SEARCH_FIELDS = ("results",)


@dataclass(frozen=True)
class CoverageSettings:
    """The alarm's settings, parsed once."""

    drop: float = 0.3
    runs: int = 5
    min_captures: int = 3
    fail_run: bool = False

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> CoverageSettings:
        drop = settings.getfloat("COVERAGE_ALARM_DROP", cls.drop)
        if not 0 < drop <= 1:
            raise ConfigError(f"COVERAGE_ALARM_DROP must be in (0, 1], not {drop}")
        return cls(drop=drop, runs=max(1, settings.getint("COVERAGE_ALARM_RUNS", cls.runs)),
                   min_captures=max(1, settings.getint("COVERAGE_ALARM_MIN_CAPTURES",
                                                       cls.min_captures)),
                   fail_run=settings.getbool("COVERAGE_ALARM_EXIT", cls.fail_run))


def _filled(row: dict[str, Any], name: str) -> bool:
    value = row.get(name)
    if name in ("images", "results"):
        return bool(value)
    return value is not None and value != ""


def run_shares(catalog: Any, run_id: str, marketplace: str) -> dict[str, dict[str, Any]]:
    """Per page kind: how many captures, and the share of them with each field filled."""
    rows = catalog.execute(
        "SELECT c.kind AS kind, f.listing_id, f.title, f.price, f.currency, f.seller_name, "
        "f.images, f.results FROM captures c LEFT JOIN listing_fields f "
        "ON f.capture_id = c.capture_id AND f.origin = 'capture' "
        "WHERE c.run_id = ? AND c.marketplace = ? AND c.kind IN ('listing', 'search')",
        (run_id, marketplace))
    out: dict[str, dict[str, Any]] = {}
    for kind, names in (("listing", LISTING_FIELDS), ("search", SEARCH_FIELDS)):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        out[kind] = {"captures": len(mine), "fields": {
            name: round(sum(_filled(r, name) for r in mine) / len(mine), 3) for name in names}}
    return out


def run_coverage(catalog: Any, run_id: str, marketplace: str,
                 settings: CoverageSettings) -> dict[str, Any]:
    """This run's shares, the recent runs' mean, and the warnings (see the module doc)."""
    current = run_shares(catalog, run_id, marketplace)
    earlier = catalog.execute(
        "SELECT run_id FROM runs WHERE marketplace = ? AND run_id != ? "
        "ORDER BY started_at DESC LIMIT ?", (marketplace, run_id, settings.runs))
    history = [run_shares(catalog, r["run_id"], marketplace) for r in earlier]
    baseline: dict[str, dict[str, float]] = {}
    warnings: list[dict[str, Any]] = []
    for kind, now in current.items():
        usable = [h[kind] for h in history
                  if kind in h and h[kind]["captures"] >= settings.min_captures]
        if not usable:
            continue
        baseline[kind] = {}
        for name, share in now["fields"].items():
            mean = round(sum(u["fields"][name] for u in usable) / len(usable), 3)
            baseline[kind][name] = mean
            if now["captures"] >= settings.min_captures and mean - share >= settings.drop:
                warnings.append({"marketplace": marketplace, "kind": kind, "field": name,
                                 "share": share, "baseline": mean, "runs": len(usable)})
    return {"kinds": current, "baseline": baseline, "baseline_runs": len(history),
            "threshold": settings.drop, "warnings": warnings,
            "fail_run": bool(warnings) and settings.fail_run}


def describe(warning: dict[str, Any]) -> str:
    """One warning as a line of the run summary."""
    return (f"coverage of {warning['field']} on {warning['marketplace']} {warning['kind']} "
            f"pages fell to {warning['share']:.0%} (recent runs: {warning['baseline']:.0%} "
            f"over {warning['runs']} runs)")


def coverage_of_run(catalog: Any, record: dict[str, Any], crawler: Any) -> dict[str, Any]:
    """The `coverage` entry of a run record (the evidence pipeline's hook)."""
    settings = CoverageSettings.from_settings(crawler.settings) if crawler is not None \
        else CoverageSettings()
    return run_coverage(catalog, record["run_id"], record["marketplace"], settings)
