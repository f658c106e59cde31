"""`markwatch schedule`: a small long-running process that fires crawl runs on the watchlist's
cron schedules.

Each run is a child process (`python -m crawler crawl ...`, or `recheck ...` for a re-check
job, both with the job's `--brand` selection): a Twisted reactor cannot be restarted inside
one process, and a crashing crawl must not take the scheduler with it. The scheduler itself
only keeps time, starts and reaps children and writes records:

* no overlap: a firing of a job whose previous run is still going (or still waiting for a free
  slot) is skipped, and the skip recorded;
* at most `max_parallel` children at once; a due job waits for a slot;
* after downtime, the missed-run policy (`once`: one catch-up run; `skip`: record the miss);
* SIGTERM/SIGINT: stop firing, then let the running crawl checkpoint (it gets SIGTERM, ends its
  requests in flight and keeps its state for resuming) or, with `on_stop="finish"`, finish;
  a child still running after `stop_timeout` is killed, and resumes on the next start;
* SIGHUP, or a changed watchlist file: reload the jobs without a restart (a broken watchlist is
  reported in the health file and the previous jobs are kept).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from crawler.clock import isoformat
from crawler.exceptions import ConfigError, RunInProgress
from crawler.runs.resume import selection_key
from crawler.schedule.health import HealthServer, write_health
from crawler.schedule.jobs import Job, jobs_for
from crawler.schedule.records import ScheduleLog

logger = logging.getLogger(__name__)

MISSED_POLICIES = ("once", "skip")
STOP_MODES = ("checkpoint", "finish")


@dataclass
class SchedulerOptions:
    """What `markwatch schedule` was asked to do."""

    watchlist: Path
    schedule_db: str | Path
    """The catalog (URI or SQLite path) that keeps the firings."""
    """The catalog database file that holds `schedule_runs`."""
    state_dir: Path
    crawl_args: list[str] = field(default_factory=list)
    """Extra `markwatch crawl` arguments (store, catalog, max listings, log level)."""
    every: float | None = None
    missed: str = "once"
    max_parallel: int = 1
    on_stop: str = "checkpoint"
    stop_timeout: float = 120.0
    health_file: Path | None = None
    health_port: int | None = None
    max_runs: int | None = None
    """Stop after this many runs have ended (testing, one-shot use)."""
    tick: float = 1.0


@dataclass
class Child:
    """A running crawl."""

    job: Job
    row_id: int
    proc: subprocess.Popen[bytes]
    report: Path
    scheduled_for: dt.datetime
    started_at: dt.datetime
    signalled_at: float | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Scheduler:
    """Fires the jobs of one watchlist. `run()` returns the process exit code."""

    def __init__(self, options: SchedulerOptions) -> None:
        self.options = options
        self.watchlist = str(options.watchlist.resolve())
        self.home = options.state_dir / "scheduler" / selection_key(options.watchlist, (), ())
        self.health_file = options.health_file or self.home / "health.json"
        self.log = ScheduleLog(options.schedule_db)
        self.jobs: dict[str, Job] = {}
        self.next_fire: dict[str, dt.datetime] = {}
        self.running: dict[str, Child] = {}
        self.waiting: dict[str, tuple[int, dt.datetime, str]] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.counts = {"started": 0, "ended": 0, "skipped": 0, "missed": 0}
        self.started_at = _now()
        self.watchlist_sha = ""
        self.watchlist_stat: tuple[int, int] | None = None
        self.reload_error: str | None = None
        self.loaded_at: dt.datetime | None = None
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._lock_file: IO[str] | None = None
        self._health_lock = threading.Lock()
        self._health: dict[str, Any] = {}
        self.status = "starting"

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self) -> int:
        self._take_lock()
        self._load(initial=True)
        abandoned = self.log.abandon(self.watchlist, _now())
        if abandoned:
            logger.warning("%d runs of a previous scheduler never ended; they resume when their "
                           "job next runs", abandoned)
        self._install_signals()
        server = None
        if self.options.health_port is not None:
            server = HealthServer(self.options.health_port, self.snapshot, self._max_age())
            server.start()
            logger.info("health endpoint on http://127.0.0.1:%d/healthz", server.port)
        self.status = "running"
        self._catch_up()
        logger.info("scheduling %d job(s) of %s; health file %s", len(self.jobs),
                    self.watchlist, self.health_file)
        try:
            while not self._stop.is_set():
                self._tick()
                if self._done():
                    break
                self._stop.wait(self._sleep_time())
            self._shutdown()
        finally:
            if server is not None:
                server.stop()
            self.log.close()
        return 0

    def stop(self) -> None:
        """Ask the loop to stop (what SIGTERM does)."""
        self._stop.set()

    def _take_lock(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        lock = (self.home / "scheduler.lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.seek(0)
            pid = lock.read().strip() or "?"
            lock.close()
            raise RunInProgress(
                f"a scheduler of {self.watchlist} is already running (pid {pid})") from exc
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock_file = lock

    def _install_signals(self) -> None:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            logger.warning("received %s: stopping", signal.Signals(signum).name)
            self._stop.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self._reload.set()  # picked up on the next tick

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def _max_age(self) -> float:
        return max(3 * self.options.tick, 10.0)

    def _sleep_time(self) -> float:
        if not self.next_fire:
            return self.options.tick
        soonest = min(self.next_fire.values())
        return max(0.05, min(self.options.tick, (soonest - _now()).total_seconds()))

    def _done(self) -> bool:
        limit = self.options.max_runs
        return (limit is not None and self.counts["ended"] >= limit and not self.running
                and not self.waiting)

    # -- the watchlist ---------------------------------------------------------------------

    def _load(self, initial: bool = False) -> None:
        from crawler.registry import known_marketplaces
        from crawler.runs.runner import project_settings
        from crawler.watchlist import load_watchlist

        path = self.options.watchlist
        try:
            stat = path.stat()
            self.watchlist_stat = (stat.st_mtime_ns, stat.st_size)
            sha = _sha256(path)
            watchlist = load_watchlist(path, known_marketplaces(project_settings()))
        except (ConfigError, OSError) as exc:
            if initial:
                raise ConfigError(str(exc)) from exc
            self.reload_error = str(exc)
            logger.error("watchlist not reloaded, keeping the previous jobs: %s", exc)
            return
        jobs = {job.name: job for job in jobs_for(watchlist, self.options.every)}
        if not jobs:
            message = f"{path}: no brand has a schedule (settings.schedule or brands[].schedule)"
            if initial:
                raise ConfigError(message)
            self.reload_error = message
            logger.error("watchlist not reloaded, keeping the previous jobs: %s", message)
            return
        now = _now()
        for name, job in jobs.items():
            old = self.jobs.get(name)
            if old is None or old != job or name not in self.next_fire:
                self.next_fire[name] = job.next_after(now)
        for name in set(self.jobs) - set(jobs):
            self.next_fire.pop(name, None)
            logger.info("job %s removed from the watchlist", name)
        if not initial and sha != self.watchlist_sha:
            logger.info("watchlist %s changed: %d job(s) now", path, len(jobs))
        self.jobs = jobs
        self.watchlist_sha = sha
        self.reload_error = None
        self.loaded_at = now

    def _check_reload(self) -> None:
        try:
            stat = self.options.watchlist.stat()
            current: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            current = None
        if self._reload.is_set() or current != self.watchlist_stat:
            self._reload.clear()
            self._load()

    # -- firing ----------------------------------------------------------------------------

    def _catch_up(self) -> None:
        now = _now()
        for name, job in self.jobs.items():
            last = self.log.last_fired(self.watchlist, name)
            if last is None:
                continue
            missed = job.missed(last, now)
            if not missed:
                continue
            reason = f"{len(missed)} run(s) missed while the scheduler was down"
            if self.options.missed == "once":
                logger.warning("job %s: %s; one catch-up run now", name, reason)
                self._fire(job, missed[-1], "catch-up", reason)
            else:
                logger.warning("job %s: %s; not caught up (--missed skip)", name, reason)
                self.log.add(name, self.watchlist, job.brands, missed[-1], "cron", "missed",
                             reason)
                self.counts["missed"] += 1

    def _tick(self) -> None:
        self._check_reload()
        self._reap()
        now = _now()
        for name, when in sorted(self.next_fire.items(), key=lambda kv: kv[1]):
            if when <= now:
                job = self.jobs[name]
                self.next_fire[name] = job.next_after(max(when, now))
                if self.options.max_runs is None or self.counts["started"] + len(
                        self.waiting) < self.options.max_runs:
                    self._fire(job, when, "every" if job.every else "cron")
        self._start_waiting()
        self._write_health()

    def _fire(self, job: Job, scheduled_for: dt.datetime, trigger: str,
              reason: str | None = None) -> None:
        if job.name in self.running or job.name in self.waiting:
            state = "running" if job.name in self.running else "waiting for a slot"
            self.log.add(job.name, self.watchlist, job.brands, scheduled_for, trigger,
                         "skipped", f"the previous run of this job is still {state}")
            self.counts["skipped"] += 1
            logger.info("job %s: skipped the run due %s (previous run still %s)", job.name,
                        isoformat(scheduled_for), state)
            return
        row_id = self.log.add(job.name, self.watchlist, job.brands, scheduled_for, trigger,
                              "scheduled", reason)
        self.waiting[job.name] = (row_id, scheduled_for, trigger)

    def _start_waiting(self) -> None:
        for name in list(self.waiting):
            if len(self.running) >= self.options.max_parallel or self._stop.is_set():
                return
            row_id, scheduled_for, _ = self.waiting.pop(name)
            job = self.jobs.get(name)
            if job is None:
                self.log.ended(row_id, "skipped", _now(), reason="job removed from watchlist")
                continue
            self._start(job, row_id, scheduled_for)

    def child_argv(self, job: Job, report: Path) -> list[str]:
        """The command line of one run of `job`: `python -m crawler crawl|recheck -w WATCHLIST`,
        the job's brand selection (`--brand B ...`, crawl and re-check alike), then the report
        file and the scheduler's common arguments."""
        return [sys.executable, "-m", "crawler", job.command, "-w", self.watchlist,
                *job.crawl_args(), "--report-json", str(report), *self.options.crawl_args]

    def _start(self, job: Job, row_id: int, scheduled_for: dt.datetime) -> None:
        report = self.home / "reports" / f"{row_id}.json"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.unlink(missing_ok=True)
        cmd = self.child_argv(job, report)
        env = {**os.environ, "MARKWATCH_STATE_DIR": str(self.options.state_dir)}
        env.setdefault("MARKWATCH_PROGRESS", "log")
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        now = _now()
        self.running[job.name] = Child(job, row_id, proc, report, scheduled_for, now)
        self.log.started(row_id, proc.pid, now)
        self.counts["started"] += 1
        logger.info("job %s: started run (pid %d) due %s", job.name, proc.pid,
                    isoformat(scheduled_for))

    def _reap(self) -> None:
        for name, child in list(self.running.items()):
            code = child.proc.poll()
            if code is None:
                continue
            del self.running[name]
            self._ended(child, code)

    def _ended(self, child: Child, code: int) -> None:
        report: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            report = json.loads(child.report.read_text(encoding="utf-8"))
        errors = report.get("errors") or []
        interrupted = child.signalled_at is not None or any("interrupted" in e for e in errors)
        if code < 0:
            reason = f"killed by {signal.Signals(-code).name}"
            status = "interrupted"
        elif interrupted:
            status, reason = "interrupted", "stopped; the next run resumes it"
        elif report and code in (0, 1):
            status, reason = "finished", None
        else:
            status = "failed"
            reason = "; ".join(errors[:3]) or f"exit code {code}"
        now = _now()
        self.log.ended(child.row_id, status, now, exit_code=code, run_id=report.get("run_id"),
                       counts=report.get("counts"), reason=reason)
        self.counts["ended"] += 1
        self.last[child.job.name] = {
            "status": status, "exit_code": code, "run_id": report.get("run_id"),
            "scheduled_for": isoformat(child.scheduled_for),
            "started_at": isoformat(child.started_at), "finished_at": isoformat(now)}
        logger.info("job %s: run %s %s (exit code %d)", child.job.name,
                    report.get("run_id") or "?", status, code)

    # -- stopping --------------------------------------------------------------------------

    def _shutdown(self) -> None:
        self.status = "stopping"
        for name, (row_id, _, _) in list(self.waiting.items()):
            self.log.ended(row_id, "skipped", _now(), reason="the scheduler was stopping")
            del self.waiting[name]
        if self.running and self.options.on_stop == "checkpoint":
            self._signal_children(signal.SIGTERM)
        deadline = time.monotonic() + self.options.stop_timeout
        while self.running:
            self._reap()
            self._write_health()
            if not self.running:
                break
            if time.monotonic() > deadline:
                if all(c.signalled_at is not None for c in self.running.values()):
                    self._signal_children(signal.SIGKILL)
                else:
                    self._signal_children(signal.SIGTERM)
                    deadline = time.monotonic() + self.options.stop_timeout
            time.sleep(0.2)
        self.status = "stopped"
        self._write_health()
        logger.info("scheduler stopped")

    def _signal_children(self, signum: signal.Signals) -> None:
        for child in self.running.values():
            logger.warning("job %s: sending %s to run pid %d", child.job.name, signum.name,
                           child.proc.pid)
            try:
                if signum == signal.SIGKILL:
                    os.killpg(child.proc.pid, signum)  # the crawl and its browser
                else:
                    child.proc.send_signal(signum)
            except ProcessLookupError:
                continue
            if child.signalled_at is None:
                child.signalled_at = time.monotonic()

    # -- health ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._health_lock:
            return dict(self._health)

    def _write_health(self) -> None:
        data = {
            "status": self.status,
            "pid": os.getpid(),
            "started_at": isoformat(self.started_at),
            "updated_at": isoformat(_now()),
            "watchlist": {"path": self.watchlist, "sha256": self.watchlist_sha,
                          "loaded_at": isoformat(self.loaded_at) if self.loaded_at else None,
                          "reload_error": self.reload_error},
            "counts": dict(self.counts),
            "jobs": [
                {"name": name, "cron": job.cron, "every": job.every, "brands": list(job.brands),
                 "next_run": isoformat(self.next_fire[name]) if name in self.next_fire
                 else None,
                 "running": ({"pid": self.running[name].proc.pid,
                              "started_at": isoformat(self.running[name].started_at)}
                             if name in self.running else None),
                 "waiting": name in self.waiting,
                 "last": self.last.get(name)}
                for name, job in self.jobs.items()
            ],
        }
        with self._health_lock:
            self._health = data
        try:
            write_health(self.health_file, data)
        except OSError as exc:
            logger.error("could not write the health file %s: %s", self.health_file, exc)
