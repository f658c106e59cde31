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
import threading
from pathlib import Path
from typing import Any

from crawler.clock import isoformat, parse_utc
from storage.sqlite import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    watchlist TEXT NOT NULL,
    brands TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    run_id TEXT,
    pid INTEGER,
    started_at TEXT,
    finished_at TEXT,
    exit_code INTEGER,
    counts TEXT
);
CREATE INDEX IF NOT EXISTS schedule_runs_job ON schedule_runs (watchlist, job, scheduled_for);
CREATE INDEX IF NOT EXISTS schedule_runs_run ON schedule_runs (run_id);
"""

FINAL = ("finished", "interrupted", "failed", "skipped", "missed", "abandoned")


class ScheduleLog:
    """Reads and writes `schedule_runs`. Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_db(self.path, SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ScheduleLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, job: str, watchlist: str, brands: tuple[str, ...], scheduled_for: dt.datetime,
            trigger: str, status: str, reason: str | None = None) -> int:
        """Record a firing; returns its id."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO schedule_runs (job, watchlist, brands, scheduled_for, trigger, "
                "status, reason) VALUES (?,?,?,?,?,?,?)",
                (job, watchlist, json.dumps(list(brands)), isoformat(scheduled_for), trigger,
                 status, reason))
            return int(cur.lastrowid or 0)

    def started(self, row_id: int, pid: int, at: dt.datetime) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE schedule_runs SET status = 'running', pid = ?, started_at = ? "
                "WHERE id = ?", (pid, isoformat(at), row_id))

    def ended(self, row_id: int, status: str, at: dt.datetime, *, exit_code: int | None = None,
              run_id: str | None = None, counts: dict[str, Any] | None = None,
              reason: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE schedule_runs SET status = ?, finished_at = ?, exit_code = ?, "
                "run_id = COALESCE(?, run_id), counts = ?, reason = COALESCE(?, reason) "
                "WHERE id = ?",
                (status, isoformat(at), exit_code, run_id,
                 json.dumps(counts) if counts is not None else None, reason, row_id))

    def set_run_id(self, row_id: int, run_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE schedule_runs SET run_id = ? WHERE id = ?",
                             (run_id, row_id))

    def last_fired(self, watchlist: str, job: str) -> dt.datetime | None:
        """The latest firing time recorded for a job of a watchlist."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(scheduled_for) FROM schedule_runs WHERE watchlist = ? AND job = ?",
                (watchlist, job)).fetchone()
        return parse_utc(row[0]) if row and row[0] else None

    def abandon(self, watchlist: str, at: dt.datetime) -> int:
        """Mark a dead scheduler's unfinished firings `abandoned`; returns how many."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE schedule_runs SET status = 'abandoned', finished_at = ?, reason = "
                "'the scheduler stopped before this run ended; the next run resumes it' "
                "WHERE watchlist = ? AND status IN ('scheduled', 'running')",
                (isoformat(at), watchlist))
            return cur.rowcount

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
        with self._lock:
            out = [dict(r) for r in self._db.execute(sql, params)]
        for row in out:
            row["brands"] = json.loads(row["brands"])
            row["counts"] = json.loads(row["counts"]) if row["counts"] else None
        return out
