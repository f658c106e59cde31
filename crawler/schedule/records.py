"""The scheduler's history: one row per firing, in the catalog database (`schedule_runs`).

A firing is `scheduled` (waiting for a free slot), `running` (a child crawl started), then
`finished` (the crawl ran to its end; `exit_code` says how it went), `interrupted` (stopped or
killed; the next run resumes it), or `failed` (the crawl could not run: configuration, store).
A firing that was not run is `skipped` (the job's previous run was still going) or `missed`
(the scheduler was down and the missed-run policy said not to catch up). Rows left `running`
by a scheduler that died are marked `abandoned` when the next one starts.

This table is the scheduler's own record, not an index of the store: `catalog rebuild` leaves
it alone.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Index, Integer, Table, Text, insert

from crawler.clock import isoformat, parse_utc
from storage.db import METADATA

if TYPE_CHECKING:
    from storage.catalog import Catalog

schedule_runs = Table(
    "schedule_runs", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", Text, nullable=False),
    Column("watchlist", Text, nullable=False),
    Column("brands", Text, nullable=False),
    Column("scheduled_for", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("run_id", Text),
    Column("pid", Integer),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("exit_code", Integer),
    Column("counts", Text),
    sqlite_autoincrement=True,
)
Index("schedule_runs_job", schedule_runs.c.watchlist, schedule_runs.c.job,
      schedule_runs.c.scheduled_for)
Index("schedule_runs_run", schedule_runs.c.run_id)

FINAL = ("finished", "interrupted", "failed", "skipped", "missed", "abandoned")


class ScheduleLog:
    """Reads and writes `schedule_runs` in the catalog's database (either engine)."""

    def __init__(self, target: str | Path | Catalog) -> None:
        from storage.catalog import Catalog, open_catalog

        self._own = not isinstance(target, Catalog)
        self.catalog = target if isinstance(target, Catalog) else open_catalog(target)

    def close(self) -> None:
        if self._own:
            self.catalog.close()

    def __enter__(self) -> ScheduleLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, job: str, watchlist: str, brands: tuple[str, ...], scheduled_for: dt.datetime,
            trigger: str, status: str, reason: str | None = None) -> int:
        """Record a firing; returns its id."""
        stmt = insert(schedule_runs).values(
            job=job, watchlist=watchlist, brands=json.dumps(list(brands)),
            scheduled_for=isoformat(scheduled_for), trigger=trigger, status=status,
            reason=reason).returning(schedule_runs.c.id)
        with self.catalog.transaction() as tx:
            return int(tx.conn.execute(stmt).scalar_one())

    def started(self, row_id: int, pid: int, at: dt.datetime) -> None:
        self.catalog.execute(
            "UPDATE schedule_runs SET status = 'running', pid = ?, started_at = ? "
            "WHERE id = ?", (pid, isoformat(at), row_id))

    def ended(self, row_id: int, status: str, at: dt.datetime, *, exit_code: int | None = None,
              run_id: str | None = None, counts: dict[str, Any] | None = None,
              reason: str | None = None) -> None:
        self.catalog.execute(
            "UPDATE schedule_runs SET status = ?, finished_at = ?, exit_code = ?, "
            "run_id = COALESCE(?, run_id), counts = ?, reason = COALESCE(?, reason) "
            "WHERE id = ?",
            (status, isoformat(at), exit_code, run_id,
             json.dumps(counts) if counts is not None else None, reason, row_id))

    def set_run_id(self, row_id: int, run_id: str) -> None:
        self.catalog.execute("UPDATE schedule_runs SET run_id = ? WHERE id = ?",
                             (run_id, row_id))

    def last_fired(self, watchlist: str, job: str) -> dt.datetime | None:
        """The latest firing time recorded for a job of a watchlist."""
        rows = self.catalog.query(
            "SELECT MAX(scheduled_for) AS last FROM schedule_runs WHERE watchlist = ? "
            "AND job = ?", (watchlist, job))
        return parse_utc(rows[0]["last"]) if rows and rows[0]["last"] else None

    def abandon(self, watchlist: str, at: dt.datetime) -> int:
        """Mark a dead scheduler's unfinished firings `abandoned`; returns how many."""
        with self.catalog.transaction() as tx:
            return tx.rowcount(
                "UPDATE schedule_runs SET status = 'abandoned', finished_at = ?, reason = "
                "'the scheduler stopped before this run ended; the next run resumes it' "
                "WHERE watchlist = ? AND status IN ('scheduled', 'running')",
                (isoformat(at), watchlist))

    def rows(self, *, watchlist: str | None = None, run_id: str | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        """Firings, newest first."""
        clauses, params = [], []
        if watchlist:
            clauses.append("watchlist = ?")
            params.append(watchlist)
        if run_id:
            clauses.append("run_id = ?")
            params.append(run_id)
        sql = "SELECT * FROM schedule_runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        out = self.catalog.query(sql, params)
        for row in out:
            row["brands"] = json.loads(row["brands"])
            row["counts"] = json.loads(row["counts"]) if row["counts"] else None
        return out
