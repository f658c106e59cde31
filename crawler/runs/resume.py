"""Resumable runs: a run killed mid-way carries on under the same run id on the next start.

Why not Scrapy's JOBDIR: it loses the requests in flight when the process is killed (they have
left the disk queue but were never answered), re-sends the start requests (search pages are
`dont_filter`, so they would be captured twice) and pickles request meta, which would split the
per-watch state the spider shares between requests. markwatch resumes from what it *stored*
instead, which a SIGKILL cannot take back:

* `RunState` is a small JSON file per watchlist and selection (marketplaces, brands) under the
  state directory, holding the run id while the run is unfinished, plus a lock file so two runs
  of the same selection never interleave. It is removed once every marketplace has written its
  run record.
* On resume, `repair_catalog` indexes any manifest of the run that reached the store but not the
  catalog (a kill between the two writes), so the catalog knows every stored capture.
* The crawl then replays from the start: search pages already captured in this run are answered
  from their stored DOM (`ResumeMiddleware`) and only parsed again to find the listings, listing
  pages already captured are not fetched or captured again, everything else is crawled as usual.
  Captures are write-once, so nothing is duplicated, and the evidence pipeline preloads the
  run's earlier captures (`stored_entries`) so the run record lists all of them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from crawler.clock import isoformat, parse_utc
from crawler.exceptions import RunInProgress
from crawler.ids import is_ulid, ulid_time
from crawler.runs.ledger import CaptureEntry, RunLedger
from storage.base import Store
from storage.catalog import CaptureQuery, Catalog
from storage.layout import LOCAL_STATE_DIR, captures_day_prefix, run_record_key
from storage.uri import local_path

logger = logging.getLogger(__name__)

RESUMED_META = "markwatch_resumed"
"""Request/response meta key: the capture id this page already has in the resumed run."""


def state_dir(store_uri: str, env: Mapping[str, str] | None = None) -> Path:
    """`MARKWATCH_STATE_DIR`, else `state/` in a local store, else `./markwatch-data/state`."""
    explicit = (os.environ if env is None else env).get("MARKWATCH_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if store_uri.startswith("file://"):
        return local_path(store_uri) / LOCAL_STATE_DIR
    return Path("markwatch-data") / LOCAL_STATE_DIR


def selection_key(watchlist: Path, marketplaces: Sequence[str], brands: Sequence[str]) -> str:
    """A stable name for one watchlist and selection of marketplaces and brands."""
    text = json.dumps([str(watchlist.resolve()), sorted(marketplaces),
                       sorted(b.casefold() for b in brands)])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class RunState:
    """The unfinished run of one watchlist and selection, held under a lock while it runs."""

    path: Path
    run_id: str | None
    started_at: dt.datetime | None
    watchlist_sha256: str
    _lock: IO[str] | None = None

    @classmethod
    def open(cls, directory: Path, watchlist: Path, marketplaces: Sequence[str],
             brands: Sequence[str], store_uri: str) -> RunState:
        """Lock the selection's state and read its unfinished run, if any.

        Raises `RunInProgress` when another process holds the lock. An unfinished run of a
        watchlist that has changed since, or of another store, is not resumed.
        """
        directory.mkdir(parents=True, exist_ok=True)
        key = selection_key(watchlist, marketplaces, brands)
        lock = (directory / f"{key}.lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            lock.close()
            raise RunInProgress(
                f"a run of {watchlist} with the same selection is already running (pid {holder})"
            ) from exc
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        sha = hashlib.sha256(watchlist.read_bytes()).hexdigest()
        state = cls(directory / f"{key}.json", None, None, sha, lock)
        saved = state._read()
        if saved:
            if saved.get("watchlist_sha256") != sha or saved.get("store") != store_uri:
                logger.warning("not resuming run %s: the watchlist or store changed since",
                               saved.get("run_id"))
            elif is_ulid(str(saved.get("run_id", ""))):
                state.run_id = str(saved["run_id"])
                state.started_at = parse_utc(str(saved["started_at"]))
        return state

    @property
    def resuming(self) -> bool:
        """Whether an unfinished run was found."""
        return self.run_id is not None

    def begin(self, run_id: str, started_at: dt.datetime, store_uri: str) -> None:
        """Record the run as unfinished (written atomically, before anything is crawled)."""
        self.run_id, self.started_at = run_id, started_at
        data = {"run_id": run_id, "started_at": isoformat(started_at), "store": store_uri,
                "watchlist_sha256": self.watchlist_sha256, "pid": os.getpid()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def finish(self) -> None:
        """The run is complete: nothing left to resume."""
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        """Give up the lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            logger.warning("ignoring unreadable run state %s", self.path)
            return None
        return data if isinstance(data, dict) else None


def finished_marketplaces(store: Store, run_id: str, marketplaces: Sequence[str]) -> list[str]:
    """The marketplaces whose part of the run already wrote its run record."""
    done = []
    for name in marketplaces:
        try:
            store.read_document(run_record_key(run_id, name))
        except KeyError:
            continue
        done.append(name)
    return done


def repair_catalog(store: Store, catalog: Catalog, run_id: str,
                   now: dt.datetime) -> int:
    """Index the run's manifests that reached the store but not the catalog; returns how many.

    Only manifests dated from the run's start (its ULID time) until `now` are looked at, and
    only those whose capture id is not older than the run are read.
    """
    start = ulid_time(run_id) - dt.timedelta(minutes=1)
    day = start.date()
    repaired = 0
    while day <= now.date() + dt.timedelta(days=1):
        prefix = captures_day_prefix(day)
        for key in store.list_documents(prefix):
            capture_id = key.rsplit("/", 1)[-1].removesuffix(".json")
            if not is_ulid(capture_id) or ulid_time(capture_id) < start:
                continue
            if catalog.get(capture_id) is not None:
                continue
            data = store.read_document(key)
            manifest = json.loads(data)
            if manifest.get("run_id") != run_id:
                continue
            catalog.index_capture(manifest, key, hashlib.sha256(data).hexdigest())
            repaired += 1
        day += dt.timedelta(days=1)
    if repaired:
        logger.info("indexed %d stored captures of run %s the catalog had missed", repaired,
                    run_id)
    return repaired


def stored_entries(catalog: Catalog, run_id: str, marketplace: str) -> list[dict[str, Any]]:
    """Catalog rows of the captures one marketplace's part of a run already stored."""
    return catalog.find(CaptureQuery(run_id=run_id, marketplace=marketplace))


def ledger_entries(rows: list[dict[str, Any]]) -> list[CaptureEntry]:
    """Run-record entries for catalog rows."""
    return [CaptureEntry(r["capture_id"], r["kind"], r["url"], r["manifest_key"],
                         r["manifest_sha256"]) for r in rows]


def is_resumed(response: Any) -> bool:
    """Whether a response was answered from evidence the resumed run already stored."""
    return bool(response.meta.get(RESUMED_META))


def preload_ledger(ledger: RunLedger, catalog: Catalog) -> None:
    """Put the captures this part of the run stored before it was interrupted into its ledger."""
    rows = stored_entries(catalog, ledger.run_id, ledger.marketplace)
    ledger.captures.extend(ledger_entries(rows))
    if rows:
        ledger.started_at = min(ledger.started_at, parse_utc(rows[0]["started_at"]))
        logger.info("resumed run %s on %s with %d captures already stored", ledger.run_id,
                    ledger.marketplace, len(rows))


@dataclass
class RunPlan:
    """What one invocation of a run does: which run id, which marketplaces are left."""

    run_id: str
    pending: list[str]
    """Marketplaces still to crawl, in order."""
    done: list[str]
    """Marketplaces an earlier, interrupted invocation of the run already finished."""
    state: RunState | None
    """None when the run is not resumable (`--no-resume`)."""

    @property
    def settings(self) -> dict[str, Any]:
        """Scrapy settings that switch resuming on for the crawl."""
        return {"MARKWATCH_RUN_ID": self.run_id,
                "MARKWATCH_RESUME": bool(self.state and self.state.resuming),
                "MARKWATCH_RESUMABLE": self.state is not None}

    def previous_records(self, store: Store) -> list[dict[str, Any]]:
        """Run records of the marketplaces finished before this invocation."""
        return [json.loads(store.read_document(run_record_key(self.run_id, m)))
                for m in self.done]

    def close(self, complete: bool) -> None:
        """Forget the run once every marketplace has its record; release the lock either way."""
        if self.state is None:
            return
        if complete:
            self.state.finish()
        else:
            logger.warning("run %s is unfinished; the next run of the same watchlist and "
                           "selection resumes it", self.run_id)
        self.state.release()


def plan_run(watchlist: Path, marketplaces: Sequence[str], brands: Sequence[str],
             chosen: Sequence[str], store_uri: str, catalog_uri: str, started: dt.datetime,
             new_run_id: str, resume: bool) -> RunPlan:
    """Take the selection's lock and decide whether this invocation starts or resumes a run."""
    from storage.uri import open_store

    if not resume:
        return RunPlan(new_run_id, list(chosen), [], None)
    state = RunState.open(state_dir(store_uri), watchlist, marketplaces, brands, store_uri)
    if not state.resuming:
        state.begin(new_run_id, started, store_uri)
        return RunPlan(new_run_id, list(chosen), [], state)
    assert state.run_id is not None and state.started_at is not None
    store = open_store(store_uri)
    try:
        with Catalog(catalog_uri) as catalog:
            repair_catalog(store, catalog, state.run_id, started)
        done = finished_marketplaces(store, state.run_id, chosen)
    finally:
        store.close()
    logger.warning("resuming unfinished run %s (started %s)", state.run_id,
                   isoformat(state.started_at))
    return RunPlan(state.run_id, [m for m in chosen if m not in done], done, state)


def crawler_stats(crawler: Any) -> dict[str, Any]:
    """A crawler's stats; empty when its crawl never started (Scrapy raises then)."""
    try:
        stats = crawler.stats
    except RuntimeError:
        return {}
    return dict(stats.get_stats()) if stats else {}


def stopped_by_signal(crawler: Any) -> bool:
    """Whether a crawler was stopped by SIGTERM/SIGINT (Scrapy's finish reason `shutdown`)."""
    return crawler_stats(crawler).get("finish_reason") == "shutdown"
