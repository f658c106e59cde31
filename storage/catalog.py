"""The SQLite catalog: an index of captures and runs, rebuildable from the store alone.

Nothing lives only here. `rebuild` drops every row and re-reads the store's manifests and run
records, so the catalog can always be thrown away and made again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.base import Store
from storage.layout import CAPTURES, RUNS
from storage.sqlite import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS captures (
    capture_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    brand TEXT NOT NULL,
    term TEXT NOT NULL,
    case_ref TEXT,
    listing_id TEXT,
    title TEXT,
    price TEXT,
    currency TEXT,
    seller_name TEXT,
    seller_url TEXT,
    url TEXT NOT NULL,
    final_url TEXT,
    status INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    suspicious INTEGER NOT NULL DEFAULT 0,
    block_kind TEXT,
    manifest_key TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS captures_brand ON captures (brand, started_at);
CREATE INDEX IF NOT EXISTS captures_term ON captures (term, started_at);
CREATE INDEX IF NOT EXISTS captures_marketplace ON captures (marketplace, started_at);
CREATE INDEX IF NOT EXISTS captures_listing ON captures (marketplace, listing_id, started_at);
CREATE INDEX IF NOT EXISTS captures_seller ON captures (seller_name, started_at);
CREATE INDEX IF NOT EXISTS captures_time ON captures (started_at);
CREATE INDEX IF NOT EXISTS captures_run ON captures (run_id);
CREATE TABLE IF NOT EXISTS artifacts (
    capture_id TEXT NOT NULL REFERENCES captures (capture_id),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT,
    PRIMARY KEY (capture_id, name)
);
CREATE INDEX IF NOT EXISTS artifacts_sha ON artifacts (sha256);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status TEXT NOT NULL,
    captures INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    record_key TEXT NOT NULL,
    record_sha256 TEXT NOT NULL,
    PRIMARY KEY (run_id, marketplace)
);
"""

_FILTERS = {
    "brand": "brand = ? COLLATE NOCASE",
    "term": "term = ? COLLATE NOCASE",
    "marketplace": "marketplace = ?",
    "seller": "seller_name = ? COLLATE NOCASE",
    "listing_id": "listing_id = ?",
    "kind": "kind = ?",
    "run_id": "run_id = ?",
    "since": "started_at >= ?",
    "until": "started_at < ?",
}


@dataclass(frozen=True)
class CaptureQuery:
    """Filters for `Catalog.find`; None means any."""

    brand: str | None = None
    term: str | None = None
    marketplace: str | None = None
    seller: str | None = None
    listing_id: str | None = None
    kind: str | None = None
    run_id: str | None = None
    since: str | None = None
    until: str | None = None
    suspicious: bool = False
    limit: int | None = None


class Catalog:
    """An SQLite index of the store. Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_db(self.path, SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def index_capture(self, manifest: dict[str, Any], key: str, sha256: str) -> None:
        """Index one manifest (idempotent: the same capture indexed twice is one row)."""
        listing = manifest.get("listing") or {}
        watch = manifest["watch"]
        triage = (manifest.get("notes") or {}).get("triage") or {}
        row = (
            manifest["capture_id"], manifest["run_id"], manifest["kind"], watch["marketplace"],
            watch["brand"], watch["term"], watch.get("case"), listing.get("listing_id"),
            listing.get("title"), listing.get("price"), listing.get("currency"),
            listing.get("seller_name"), listing.get("seller_url"), manifest["request_url"],
            manifest.get("final_url"), manifest.get("status"), manifest["started_at"],
            manifest["finished_at"], 1 if triage.get("below_msrp") else 0,
            (manifest.get("block") or {}).get("kind"), key, sha256,
        )
        artifacts = [
            (manifest["capture_id"], a["name"], a["media_type"], a["size"], a["sha256"],
             a["key"], a.get("version_id"))
            for a in manifest["artifacts"]
        ]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    f"INSERT OR REPLACE INTO captures VALUES ({','.join('?' * len(row))})",  # noqa: S608 - placeholders only
                    row
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?,?)", artifacts
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def index_run(self, record: dict[str, Any], key: str, sha256: str) -> None:
        """Index one run record (idempotent)."""
        counts = record.get("counts", {})
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                (record["run_id"], record["marketplace"], record["started_at"],
                 record["finished_at"], record["status"], counts.get("captures", 0),
                 counts.get("failures", 0), key, sha256),
            )

    def rebuild(self, store: Store) -> tuple[int, int]:
        """Forget everything and re-index the store. Returns (captures, runs) indexed."""
        with self._lock:
            self._db.executescript("DELETE FROM artifacts; DELETE FROM captures; DELETE FROM runs;")
        captures = runs = 0
        for key in store.list_documents(CAPTURES):
            data = store.read_document(key)
            self.index_capture(json.loads(data), key, _sha256(data))
            captures += 1
        for key in store.list_documents(RUNS):
            data = store.read_document(key)
            self.index_run(json.loads(data), key, _sha256(data))
            runs += 1
        return captures, runs

    # -- reading ---------------------------------------------------------------------------

    def find(self, query: CaptureQuery) -> list[dict[str, Any]]:
        """Captures matching every given filter, oldest first."""
        clauses, params = [], []
        for name, clause in _FILTERS.items():
            value = getattr(query, name)
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if query.suspicious:
            clauses.append("suspicious = 1")
        sql = "SELECT * FROM captures"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY started_at, capture_id"
        if query.limit:
            sql += f" LIMIT {int(query.limit)}"
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, params)]

    def get(self, capture_id: str) -> dict[str, Any] | None:
        """One capture's row with its artifacts, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM captures WHERE capture_id = ?", (capture_id,)
            ).fetchone()
            if row is None:
                return None
            out = dict(row)
            out["artifacts"] = [
                dict(a) for a in self._db.execute(
                    "SELECT * FROM artifacts WHERE capture_id = ? ORDER BY name", (capture_id,)
                )
            ]
        return out

    def previous_capture(self, marketplace: str, listing_id: str, before: str) -> str | None:
        """The latest capture of the same listing started before `before`."""
        with self._lock:
            row = self._db.execute(
                "SELECT capture_id FROM captures WHERE marketplace = ? AND listing_id = ? "
                "AND kind = 'listing' AND started_at < ? "
                "ORDER BY started_at DESC, capture_id DESC LIMIT 1",
                (marketplace, listing_id, before),
            ).fetchone()
        return None if row is None else str(row[0])

    def history(self, marketplace: str, listing_id: str) -> list[dict[str, Any]]:
        """Every capture of one listing, oldest first."""
        return self.find(CaptureQuery(marketplace=marketplace, listing_id=listing_id,
                                      kind="listing"))

    def find_run(self, run_id: str) -> list[dict[str, Any]]:
        """Every capture of one run, oldest first."""
        return self.find(CaptureQuery(run_id=run_id))

    def capture_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT capture_id FROM captures ORDER BY capture_id")]

    def runs(self, run_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        params: Sequence[str] = ()
        if run_id:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        with self._lock:
            return [dict(r) for r in self._db.execute(sql + " ORDER BY started_at", params)]

    def iter_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Every row of a table in a stable order (for comparing catalogs)."""
        if table not in ("captures", "artifacts", "runs"):
            raise ValueError(table)
        with self._lock:
            rows = [dict(r) for r in self._db.execute(
                f"SELECT * FROM {table} ORDER BY 1, 2")]  # noqa: S608 - table name checked
        return iter(rows)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
