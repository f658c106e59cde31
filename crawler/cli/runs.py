"""`markwatch runs list|show`: the history of crawl runs and of the scheduler's firings.

Crawl runs come from the catalog's `runs` table (one row per marketplace's run record) and are
joined with the scheduler's `schedule_runs` rows by run id, so a run that was interrupted (no
run record yet) still shows. Text taken from pages (failure URLs and reasons) is escaped.
"""

from __future__ import annotations

import json
from typing import Any

import click

from crawler.cli.lazy import LazyGroup
from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.output import emit, format_option
from crawler.cli.text import clip, safe
from crawler.clock import parse_utc
from crawler.schedule.records import ScheduleLog
from storage.catalog import Catalog
from storage.uri import open_store

_STATUS_RANK = {"complete": 0, "partial": 1, "failed": 2}
RUN_FIELDS = ("run_id", "started_at", "finished_at", "status", "marketplaces", "captures",
              "failures", "duration_s", "job", "exit_code", "trigger")
"""The fields of a run in `runs list` (its JSON keys and CSV columns)."""
FIRING_FIELDS = ("id", "job", "watchlist", "brands", "scheduled_for", "trigger", "status",
                 "reason", "run_id", "pid", "started_at", "finished_at", "exit_code", "counts",
                 "duration_s")
"""The fields of a scheduler firing in `runs list --scheduled`."""


def _duration(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((parse_utc(end) - parse_utc(start)).total_seconds(), 3)


def crawl_runs(catalog: Catalog, log: ScheduleLog) -> list[dict[str, Any]]:
    """One entry per run id, newest first, with its scheduler firing when there is one."""
    runs: dict[str, dict[str, Any]] = {}
    for row in catalog.runs():
        run = runs.setdefault(row["run_id"], {
            "run_id": row["run_id"], "started_at": row["started_at"],
            "finished_at": row["finished_at"], "status": row["status"], "marketplaces": [],
            "captures": 0, "failures": 0})
        run["marketplaces"].append(row["marketplace"])
        run["captures"] += row["captures"]
        run["failures"] += row["failures"]
        run["started_at"] = min(run["started_at"], row["started_at"])
        run["finished_at"] = max(run["finished_at"], row["finished_at"])
        if _STATUS_RANK.get(row["status"], 3) > _STATUS_RANK.get(run["status"], 3):
            run["status"] = row["status"]
    for fired in reversed(log.rows()):
        if not fired["run_id"]:
            continue
        found = runs.get(fired["run_id"])
        if found is not None:
            run = found
        else:  # interrupted or failed before writing a run record
            run = runs[fired["run_id"]] = {
                "run_id": fired["run_id"], "started_at": fired["started_at"],
                "finished_at": fired["finished_at"], "status": fired["status"],
                "marketplaces": [], "captures": (fired["counts"] or {}).get("captures", 0),
                "failures": (fired["counts"] or {}).get("failures", 0)}
        run["job"] = fired["job"]
        run["exit_code"] = fired["exit_code"]
        run["trigger"] = fired["trigger"]
    out = sorted(runs.values(), key=lambda r: r["run_id"], reverse=True)
    for run in out:
        run["duration_s"] = _duration(run["started_at"], run["finished_at"])
        run.setdefault("job", None)
        run.setdefault("exit_code", None)
        run.setdefault("trigger", "manual")
    return out


def _open(store: str | None, catalog_uri: str | None) -> tuple[str, str]:
    store_uri = resolve_store(store)
    return store_uri, resolve_catalog(catalog_uri, store_uri)


@click.group(cls=LazyGroup, lazy_subcommands={"finalize": "crawler.cli.frontier:finalize_run"})
def runs() -> None:
    """Crawl run history: status, counts, failures and durations."""


@runs.command("list")
@click.option("--scheduled", is_flag=True,
              help="Every firing of the scheduler (started, skipped, missed...) instead.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N.")
@format_option("one row per run (per firing with --scheduled); marketplaces and brands joined "
               "with ' | ', a firing's counts as JSON text.")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def list_runs(scheduled: bool, limit: int | None, fmt: str, store: str | None,
              catalog_uri: str | None) -> None:
    """List crawl runs, newest first (or the scheduler's firings with --scheduled)."""
    _, cat_uri = _open(store, catalog_uri)
    path = cat_uri
    with ScheduleLog(path) as log:
        if scheduled:
            rows = log.rows(limit=limit)
            for row in rows:
                row["duration_s"] = _duration(row["started_at"], row["finished_at"])
        else:
            with Catalog(path) as cat:
                rows = crawl_runs(cat, log)[:limit]
    if emit(rows, FIRING_FIELDS if scheduled else RUN_FIELDS, fmt):
        return
    if not rows:
        click.echo("no runs recorded")
        return
    if scheduled:
        columns = ("id", "job", "scheduled_for", "trigger", "status", "exit_code", "run_id",
                   "duration_s", "reason")
    else:
        columns = ("run_id", "started_at", "status", "captures", "failures", "duration_s",
                   "exit_code", "job", "marketplaces")
    _table(rows, columns)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    cells = [[clip(safe(_cell(row.get(c))), 60) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@runs.command("show")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def show_run(run_id: str, fmt: str, store: str | None, catalog_uri: str | None) -> None:
    """One run: per marketplace its status, counts, failures, coverage warnings and duration;
    its firings."""
    from crawler.fields.coverage import describe as describe_coverage

    store_uri, cat_uri = _open(store, catalog_uri)
    path = cat_uri
    records: list[dict[str, Any]] = []
    with Catalog(path) as cat, ScheduleLog(path) as log:
        rows = cat.runs(run_id)
        fired = log.rows(run_id=run_id)
        captured = len(cat.find_run(run_id))
    if not rows and not fired and not captured:
        raise click.ClickException(f"no run {run_id} in {cat_uri}")
    the_store = open_store(store_uri)
    try:
        for row in rows:
            records.append(json.loads(the_store.read_document(row["record_key"])))
    finally:
        the_store.close()
    if fmt == "json":
        click.echo(json.dumps({"run_id": run_id, "records": records, "scheduled": fired,
                               "captures_in_catalog": captured}, indent=2, ensure_ascii=False))
        return
    click.echo(f"run {safe(run_id)}")
    if not records:
        click.echo(f"  no run record yet (interrupted or still running); {captured} captures "
                   "stored so far")
    for record in records:
        counts = record.get("counts", {})
        click.echo(f"  {safe(record['marketplace'])}: {safe(record['status'])}, "
                   f"{safe(record.get('finish_reason'))}; "
                   f"{_duration(record['started_at'], record['finished_at'])} s "
                   f"({safe(record['started_at'])} .. {safe(record['finished_at'])})")
        click.echo("    " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for failure in record.get("failures", []):
            click.echo(f"    failed: {safe(failure.get('url'))}: {safe(failure.get('reason'))}")
        for warning in (record.get("coverage") or {}).get("warnings", []):
            click.echo(f"    warning: {safe(describe_coverage(warning))}")
    for row in fired:
        click.echo(f"  scheduled: job {safe(row['job'])} for {safe(row['scheduled_for'])} "
                   f"({safe(row['trigger'])}), {safe(row['status'])}, exit code "
                   f"{_cell(row['exit_code'])}" + (f": {safe(row['reason'])}"
                                                    if row["reason"] else ""))
