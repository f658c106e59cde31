"""The catalog: an index of captures and runs, rebuildable from the store alone.

Nothing lives only here. `rebuild` drops every row and re-reads the store's manifests and run
records, so the catalog can always be thrown away and made again. It runs on SQLite (the
embedded default, `sqlite:///PATH` or a plain path) or PostgreSQL (`postgresql://...`), one
code path through SQLAlchemy Core (`storage.db`); its schema is made and changed by the
Alembic history in `storage/migrations` (`storage.migrate`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import crawler.portal.catalog_schema  # noqa: F401 - declares the portal's indexes
from crawler.alerts.records import rebuild_alert_index
from crawler.fields.index import capture_fields_row, listing_fields, rebuild_fields
from crawler.triage.sellers import index_seller_names
from storage.base import Store
from storage.case_summary import TABLES as CASE_TABLES
from storage.case_summary import count_new, insert_captures
from storage.case_summary import fill as fill_case_summaries
from storage.db import Tx, catalog_url, engine_for, is_postgres, redact, transaction
from storage.index_bounds import bound_row
from storage.layout import CAPTURES, RUNS
from storage.tables import TRIAGE_SCORE, artifacts, capture_where, captures, runs

REBUILD_BATCH = 500
"""Manifests indexed per statement by `rebuild`."""


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
    min_score: int | None = None
    """Only captures whose triage score is at least this."""
    sort: str = "time"
    """`time` (oldest first) or `score` (highest triage score first)."""


class Catalog:
    """An index of the store on SQLite or PostgreSQL. Thread-safe: every call takes a pooled
    connection; calls made inside `transaction()` on the same thread join its transaction."""

    def __init__(self, target: str | Path, *, migrate: bool | None = None) -> None:
        from storage.migrate import ensure_schema
        from storage.schema import load_metadata

        load_metadata()
        self.uri = str(target) if isinstance(target, str) else f"sqlite:///{target}"
        self.url = catalog_url(target)
        self.path: Path | None = (None if is_postgres(self.uri)
                                  else Path(self.url[len("sqlite:///"):]))
        self.engine = engine_for(target)
        self._local = threading.local()
        ensure_schema(self.engine, migrate=migrate)

    def __repr__(self) -> str:
        return f"Catalog({redact(self.uri)!r})"

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return str(self.engine.dialect.name)

    def close(self) -> None:
        """Close a SQLite catalog's connections (PostgreSQL's pool is the process's)."""
        if self.path is not None:
            self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """One transaction; catalog calls on this thread inside it join it."""
        current: Tx | None = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with transaction(self.engine, write=write) as tx:
            self._local.tx = tx
            try:
                yield tx
            finally:
                self._local.tx = None

    # -- writing ---------------------------------------------------------------------------

    def index_capture(self, manifest: dict[str, Any], key: str, sha256: str) -> None:
        """Index one manifest (idempotent: the same capture indexed twice is one row)."""
        self.index_captures([(manifest, key, sha256)])

    def index_captures(self, items: Sequence[tuple[dict[str, Any], str, str]], *,
                       summaries: bool = True) -> None:
        """Index manifests (with their keys and digests) in one transaction, a statement per
        table (a rebuild's batches: one round trip each on PostgreSQL). Captures newly
        inserted are counted in the per-case summaries (`storage.case_summary`); a capture
        already there is replaced, not counted again. `summaries=False` leaves them to the
        caller (a rebuild makes them once at the end)."""
        rows, arts, fields = [], [], []
        # rows in one order (by capture id) in every writer: concurrent batches that share
        # captures wait for each other, never in a cycle
        for manifest, key, sha256 in sorted(items, key=lambda i: str(i[0]["capture_id"])):
            row, more = _capture_rows(manifest, key, sha256)
            rows.append(row)
            arts.extend(more)
            if (found := capture_fields_row(manifest)) is not None:
                fields.append(found)
        names = [c.name for c in captures.columns]
        values = [bound_row(captures, dict(zip(names, row, strict=True))) for row in rows]
        with self.transaction() as tx:
            if summaries:
                new = insert_captures(tx, values)
                made = {r["capture_id"] for r in new}
                tx.upsert(captures, [v for v in values if v["capture_id"] not in made])
                count_new(tx, new)
            else:
                tx.upsert(captures, values)
            tx.upsert(artifacts, arts)
            tx.upsert(listing_fields, fields)
            index_seller_names(tx, [v["seller_name"] for v in values if v["kind"] == "listing"])

    def index_run(self, record: dict[str, Any], key: str, sha256: str) -> None:
        """Index one run record (idempotent)."""
        counts = record.get("counts", {})
        with self.transaction() as tx:
            tx.upsert(runs, [(record["run_id"], record["marketplace"], record["started_at"],
                              record["finished_at"], record["status"],
                              counts.get("captures", 0), counts.get("failures", 0), key,
                              sha256)])

    def rebuild(self, store: Store) -> tuple[int, int]:
        """Forget everything and re-index the store, in one transaction (readers see the old
        catalog until it commits). Returns (captures, runs) indexed."""
        from crawler.takedown.records import rebuild as rebuild_takedown
        from crawler.triage.records import rebuild as rebuild_triage

        with self.transaction() as tx:
            for table in ("artifacts", "listing_fields", "search_results", "seller_keys",
                          "captures", "runs", *CASE_TABLES):
                tx.query(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            captures_n = runs_n = 0
            batch: list[tuple[dict[str, Any], str, str]] = []
            for key in store.list_documents(CAPTURES):
                data = store.read_document(key)
                batch.append((json.loads(data), key, _sha256(data)))
                if len(batch) >= REBUILD_BATCH:
                    self.index_captures(batch, summaries=False)
                    captures_n, batch = captures_n + len(batch), []
            self.index_captures(batch, summaries=False)
            captures_n += len(batch)
            fill_case_summaries(tx)  # once, from every capture (not batch by batch)
            for key in store.list_documents(RUNS):
                data = store.read_document(key)
                self.index_run(json.loads(data), key, _sha256(data))
                runs_n += 1
            rebuild_alert_index(self, store, tx)
            rebuild_triage(self, store)
            rebuild_fields(tx, store)
            rebuild_takedown(self, store)
        return captures_n, runs_n

    def write(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement (`?` placeholders) for each row in a transaction (for indexes
        other modules own)."""
        with self.transaction() as tx:
            tx.write(sql, rows)

    def upsert(self, table: Any, rows: Sequence[Sequence[Any]], *, replace: bool = True,
               unless_newer: str | None = None) -> None:
        """Insert rows into one of the catalog's tables, replacing (or keeping) a row with
        the same primary key (see `storage.db.Tx.upsert`)."""
        with self.transaction() as tx:
            tx.upsert(table, rows, replace=replace, unless_newer=unless_newer)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of one read-only statement, as dicts (for indexes other modules own)."""
        with self.transaction(write=False) as tx:
            return tx.query(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of one SQL statement, committed (for modules that keep their own tables)."""
        with self.transaction() as tx:
            return tx.query(sql, params)

    # -- reading ---------------------------------------------------------------------------

    def find(self, query: CaptureQuery) -> list[dict[str, Any]]:
        """Captures matching every given filter, oldest first (or by score)."""
        clauses, params = capture_where(asdict(query), self.dialect)
        if query.suspicious:
            clauses.append("suspicious = 1")
        sql = ("SELECT * FROM (SELECT captures.*, "  # noqa: S608 - fixed SQL
               f"{TRIAGE_SCORE} AS triage_score FROM captures) c")
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if query.sort == "score":
            sql += " ORDER BY triage_score IS NULL, triage_score DESC, started_at, capture_id"
        else:
            sql += " ORDER BY started_at, capture_id"
        if query.limit:
            sql += f" LIMIT {int(query.limit)}"
        return self.query(sql, params)

    def get(self, capture_id: str) -> dict[str, Any] | None:
        """One capture's row with its artifacts, or None."""
        with self.transaction(write=False) as tx:
            rows = tx.query("SELECT * FROM captures WHERE capture_id = ?", (capture_id,))
            if not rows:
                return None
            out = rows[0]
            out["artifacts"] = tx.query(
                "SELECT * FROM artifacts WHERE capture_id = ? ORDER BY name", (capture_id,))
        return out

    def previous_capture(self, marketplace: str, listing_id: str, before: str) -> str | None:
        """The latest capture of the same listing started before `before`."""
        rows = self.query(
            "SELECT capture_id FROM captures WHERE marketplace = ? AND listing_id = ? "
            "AND kind = 'listing' AND started_at < ? "
            "ORDER BY started_at DESC, capture_id DESC LIMIT 1",
            (marketplace, listing_id, before))
        return str(rows[0]["capture_id"]) if rows else None

    def history(self, marketplace: str, listing_id: str) -> list[dict[str, Any]]:
        """Every capture of one listing, oldest first."""
        return self.find(CaptureQuery(marketplace=marketplace, listing_id=listing_id,
                                      kind="listing"))

    def find_run(self, run_id: str) -> list[dict[str, Any]]:
        """Every capture of one run, oldest first."""
        return self.find(CaptureQuery(run_id=run_id))

    def capture_ids(self) -> list[str]:
        return [r["capture_id"] for r in self.query(
            "SELECT capture_id FROM captures ORDER BY capture_id")]

    def runs(self, run_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        params: Sequence[str] = ()
        if run_id:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        return self.query(sql + " ORDER BY started_at", params)

    def iter_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Every row of a catalog table in a stable order (for comparing catalogs)."""
        from storage.schema import load_metadata

        known = load_metadata().tables.get(table)
        if known is None:
            raise ValueError(table)
        order = ", ".join(c.name for c in known.primary_key.columns) or "1"
        return iter(self.query(f"SELECT * FROM {table} ORDER BY {order}"))  # noqa: S608


def _capture_rows(manifest: dict[str, Any], key: str,
                  sha256: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The `captures` row of a manifest and its `artifacts` rows."""
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
    arts = [(manifest["capture_id"], a["name"], a["media_type"], a["size"], a["sha256"],
             a["key"], a.get("version_id")) for a in manifest["artifacts"]]
    return row, arts


def open_catalog(target: str | Path | Catalog, *, migrate: bool | None = None) -> Catalog:
    """A catalog from a URI (`sqlite:///PATH`, `postgresql://...`, `postgres://...`), a
    SQLite path, or an open catalog (returned as it is)."""
    if isinstance(target, Catalog):
        return target
    return Catalog(target, migrate=migrate)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
