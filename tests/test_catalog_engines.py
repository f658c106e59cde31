"""The catalog on both engines, real SQLite and a real PostgreSQL (Debian's, started by the
tests): Alembic up and down, the schema equal to the declared tables, a catalog made by the
previous release migrated, filters that match ignoring case, concurrent writers losing nothing,
and passwords never shown."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tarfile
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from crawler.alerts.records import AlertIndex
from crawler.portal import queries as portal
from crawler.triage.records import index_page, index_score
from storage import migrate
from storage.case_summary import TABLES as CASE_TABLES
from storage.catalog import CaptureQuery, Catalog
from storage.db import catalog_file, engine_for, redact
from storage.local import LocalStore
from storage.schema import load_metadata
from tests.helpers import run_markwatch
from tests.servers.postgres import PASSWORD

pytest_plugins = ["tests.servers"]

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
CATALOG_TABLES = sorted(t for t in load_metadata().tables)


def manifest(n: int, *, brand: str = "Lumara", seller: str = "QualityFirst",
             price: str | None = "10.50", case: str | None = "CASE-1",
             run: str = "RUN1") -> dict[str, Any]:
    """A capture manifest with what the catalog indexes."""
    cid = f"C{n:08d}"
    when = f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000000Z"
    return {
        "capture_id": cid, "run_id": run, "kind": "listing",
        "watch": {"marketplace": "demo", "brand": brand, "term": brand.lower(), "case": case},
        "listing": {"listing_id": f"L{n}", "title": f"item {n}", "price": price,
                    "currency": "EUR", "seller_name": seller, "seller_url": None,
                    "images": ["a"], "field_sources": {"title": "jsonld"}},
        "request_url": f"http://shop.example/item/{n}", "final_url": None, "status": 200,
        "started_at": when, "finished_at": when,
        "artifacts": [{"name": "page.html", "media_type": "text/html", "size": 10,
                       "sha256": f"{n:064x}", "key": f"blobs/{n:064x}"}],
    }


def _index_sql(catalog: Catalog, name: str) -> str:
    if catalog.dialect == "sqlite":
        rows = catalog.query("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
        return str(rows[0]["sql"]) if rows else ""
    rows = catalog.query("SELECT indexdef AS sql FROM pg_indexes WHERE indexname = ?", (name,))
    return str(rows[0]["sql"]) if rows else ""


def _tables(uri: str) -> set[str]:
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) & set(CATALOG_TABLES)
    finally:
        engine.dispose()


def test_migrations_go_up_and_down(catalog_uri: str) -> None:
    engine = engine_for(catalog_uri)
    assert migrate.upgrade(engine, "0001_baseline_0_1_0") == (None, "0001_baseline_0_1_0")
    assert _tables(catalog_uri) == (set(CATALOG_TABLES) - set(CASE_TABLES)
                                    - {"search_results", "seller_keys"})
    # (the case tables are made by 0003, search_results by 0004, seller_keys by 0005)
    if catalog_file(catalog_uri) is None:  # PostgreSQL: a shared catalog is never moved
        with pytest.raises(migrate.SchemaError, match="run `markwatch catalog migrate"):
            Catalog(catalog_uri)
    before, after = migrate.upgrade(engine, "head")
    assert (before, after) == ("0001_baseline_0_1_0", migrate.head())
    with Catalog(catalog_uri) as cat:
        assert "lower(brand)" in _index_sql(cat, "captures_brand").replace('"', "")
        cat.index_capture(manifest(1, brand="LuMaRa"), "captures/C1.json", "0" * 64)
        assert [r["capture_id"] for r in cat.find(CaptureQuery(brand="lumara"))] == ["C00000001"]
    assert migrate.downgrade(engine, "0001_baseline_0_1_0")[1] == "0001_baseline_0_1_0"
    with _raw(catalog_uri) as cat:
        assert "lower(" not in _index_sql(cat, "captures_brand")
        assert cat.capture_ids() == ["C00000001"]  # a downgrade of indexes keeps the rows
    assert migrate.downgrade(engine, "base")[1] is None
    assert _tables(catalog_uri) == set()
    assert migrate.upgrade(engine, "head")[1] == migrate.head()
    assert _tables(catalog_uri) == set(CATALOG_TABLES)
    engine.dispose()


class _raw:
    """A catalog opened without the revision check (to look at an older schema)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __enter__(self) -> Catalog:
        cat = Catalog.__new__(Catalog)
        cat.uri, cat.engine = self.uri, engine_for(self.uri)
        cat.path = catalog_file(self.uri)
        cat._local = threading.local()
        self.cat = cat
        return cat

    def __exit__(self, *exc: object) -> None:
        self.cat.engine.dispose()


def test_the_migrated_schema_is_the_declared_one(catalog_uri: str) -> None:
    with Catalog(catalog_uri) as cat, cat.engine.connect() as conn, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alembic skips expression indexes, and says so
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                 load_metadata())
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    real = [d for d in flat if not (
        # SQLite lets a TEXT primary key hold NULL (its old quirk); the table is the same
        (cat.dialect == "sqlite" and d[0] == "modify_nullable")
        # alembic cannot compare an index declared per engine (ddl_if); names checked below
        or (d[0] in ("add_index", "remove_index") and d[1].name == "captures_case_price"))]
    assert real == []
    declared = {i.name for t in load_metadata().tables.values() for i in t.indexes}
    assert all(_index_sql(cat, name) for name in declared)  # expression indexes too


def test_a_catalog_of_the_previous_release_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "previous.sqlite"
    path.write_bytes(gzip.decompress((DATA / "catalog-previous.sqlite.gz").read_bytes()))
    with tarfile.open(DATA / "store-0.1.0.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    store = LocalStore(tmp_path / "store")
    uri = f"sqlite:///{path}"
    status = run_markwatch(["catalog", "migrate", "--status", "--catalog", uri], cwd=tmp_path)
    assert status.code == 0 and "made by 0.1.0, unversioned" in status.out
    assert "COLLATE NOCASE" in _plain_sql(path, "captures_case_brand")
    moved = run_markwatch(["catalog", "migrate", "--catalog", uri], cwd=tmp_path)
    assert moved.code == 0, moved.err
    assert f"-> {migrate.head()}" in moved.out
    with Catalog(path) as old, Catalog(tmp_path / "fresh.db") as fresh:
        fresh.rebuild(store)
        assert "lower(brand)" in _index_sql(old, "captures_case_brand")
        for table in CATALOG_TABLES:
            assert list(old.iter_rows(table)) == list(fresh.iter_rows(table)), table
        assert len(old.capture_ids()) == 3
        old.rebuild(store)  # and it rebuilds in place
        for table in CATALOG_TABLES:
            assert list(old.iter_rows(table)) == list(fresh.iter_rows(table)), table


def test_an_old_sqlite_catalog_is_upgraded_when_opened(tmp_path: Path) -> None:
    """SQLite (the embedded default) is migrated on open, as 0.1.0 applied its schema then."""
    path = tmp_path / "previous.sqlite"
    path.write_bytes(gzip.decompress((DATA / "catalog-previous.sqlite.gz").read_bytes()))
    with Catalog(path) as cat:
        assert migrate.status(cat.engine)["current"] == migrate.head()
        assert len(cat.find(CaptureQuery(brand="LUMARA"))) == 3


def _plain_sql(path: Path, name: str) -> str:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        return str(row[0])
    finally:
        db.close()


def test_filters_match_the_same_on_both_engines(catalog_uri: str) -> None:
    with Catalog(catalog_uri) as cat:
        for n, (brand, seller, price, case) in enumerate([
                ("Lumara", "QualityFirst", "10.50", "CASE-1"),
                ("LUMARA", "qualityfirst", "9.99", None),
                ("Corvane", "Other", "not a price", "CASE-1"),
                ("lumara", "Third", None, "CASE-2")]):
            cat.index_capture(manifest(n, brand=brand, seller=seller, price=price, case=case),
                              f"captures/{n}.json", f"{n:064x}")
        assert len(cat.find(CaptureQuery(brand="lumara"))) == 3
        assert len(cat.find(CaptureQuery(seller="QUALITYFIRST"))) == 2
        page = portal.search(cat, portal.ListingQuery(brand="Lumara", price_min=10.0))
        assert [r["capture_id"] for r in page.rows] == ["C00000000"]
        by_price = portal.search(cat, portal.ListingQuery(sort="price"))
        # numbers in order, after what is no number (SQLite casts it to 0, PostgreSQL to NULL)
        assert [r["price"] for r in by_price.rows][2:] == ["9.99", "10.50"]
        cases = {c["name"]: c for c in portal.cases(cat)}
        assert set(cases) == {"CASE-1", "CASE-2", "_none"}
        assert sorted(cases["CASE-1"]["brands"].split(",")) == ["Corvane", "Lumara"]
        assert portal.search(cat, portal.ListingQuery(case="_none")).rows[0]["brand"] == "LUMARA"


CONTESTED = 999_999
"""The capture every writer scores."""

WRITER = """
import sys
from storage.catalog import Catalog
from tests.test_catalog_engines import write_many
write_many(Catalog(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
"""


def write_many(cat: Catalog, worker: int, count: int) -> None:
    """Captures, triage pages, a contested score and alert events, as a worker writes them."""
    alerts = AlertIndex(cat)
    for i in range(count):
        n = worker * 1000 + i
        cat.index_capture(manifest(n, run=f"R{worker}"), f"captures/{n}.json", f"{n:064x}")
        index_page(cat, {"capture_id": f"C{n:08d}", "seller_rating": 4.5,
                         "images": [{"name": "image-0", "sha256": "a" * 64, "phash": "f" * 16}],
                         "contacts": [{"kind": "email", "value": f"s{n}@x.example"}]},
                   f"triage/pages/{n}.json")
        # every worker scores the same capture: the newest score id must stand
        index_score(cat, {"capture_id": f"C{CONTESTED:08d}", "score_id": f"S{i:04d}-{worker}",
                          "scorer": {"version": "1"}, "score": i, "suspicious": i % 2 == 0,
                          "signals": {}, "computed_at": "2026-01-01T00:00:00Z"},
                    f"triage/scores/{n}.json")
        alerts.index_event({"event_id": f"E{n}", "type": "suspicious_listing",
                            "occurred_at": "2026-01-01T00:00:00Z", "capture_ids": [n],
                            "summary": "s"}, f"alerts/events/E{n}.json")
        cat.index_run({"run_id": f"R{worker}", "marketplace": "demo",
                       "started_at": "2026-01-01T00:00:00Z",
                       "finished_at": "2026-01-01T00:00:00Z", "status": "finished",
                       "counts": {"captures": i + 1}}, f"runs/R{worker}.json", "0" * 64)


def test_concurrent_writers_lose_nothing(catalog_uri: str) -> None:
    threads_n, procs_n, count = 4, 2, 25
    with Catalog(catalog_uri) as cat:
        cat.index_capture(manifest(CONTESTED), "captures/contested.json", "0" * 64)
    errors: list[BaseException] = []

    def thread(worker: int) -> None:
        try:
            with Catalog(catalog_uri) as own:
                write_many(own, worker, count)
        except BaseException as exc:
            import traceback

            traceback.print_exc()
            errors.append(exc)

    procs = [subprocess.Popen([sys.executable, "-c", WRITER, catalog_uri, str(threads_n + p),
                               str(count)], cwd=ROOT, stderr=subprocess.PIPE)
             for p in range(procs_n)]
    threads = [threading.Thread(target=thread, args=(w,)) for w in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-3000:]
    assert errors == []
    writers = threads_n + procs_n
    with Catalog(catalog_uri) as cat:
        counts = {t: cat.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
                  for t in ("captures", "artifacts", "listing_fields", "triage_pages",
                            "triage_images", "triage_contacts", "alert_events", "runs")}
        score = cat.query("SELECT score_id FROM triage_scores WHERE capture_id = ?",
                          (f"C{CONTESTED:08d}",))
        runs = {r["run_id"]: r["captures"] for r in cat.runs()}
    total = writers * count
    assert counts == {"captures": total + 1, "artifacts": total + 1, "listing_fields": total + 1,
                      "triage_pages": total, "triage_images": total, "triage_contacts": total,
                      "alert_events": total, "runs": writers}
    newest = max(f"S{count - 1:04d}-{w}" for w in range(writers))
    assert score == [{"score_id": newest}]
    assert set(runs.values()) == {count}


def test_a_postgresql_password_is_never_shown(pg_database: str, tmp_path: Path) -> None:
    assert PASSWORD in pg_database
    assert PASSWORD not in redact(pg_database) and ":***@127.0.0.1:" in redact(pg_database)
    with Catalog(pg_database) as cat:
        assert PASSWORD not in repr(cat)
    status = run_markwatch(["catalog", "migrate", "--status", "--catalog", pg_database],
                           cwd=tmp_path)
    assert status.code == 0 and PASSWORD not in status.out + status.err
    wrong = pg_database.replace(PASSWORD, "not-the-password-" + PASSWORD[::-1])
    failed = run_markwatch(["evidence", "list", "--catalog", wrong, "--store",
                            f"file://{tmp_path}/store"], cwd=tmp_path)
    assert failed.code != 0
    assert PASSWORD[::-1] not in failed.out + failed.err
    assert json.dumps(failed.err)  # said something
    # the documented way to keep it out of URIs: PGPASSWORD (or ~/.pgpass), read by libpq
    bare = pg_database.replace(f":{PASSWORD}@", "@")
    assert PASSWORD not in bare
    status = run_markwatch(["catalog", "migrate", "--status", "--catalog", bare], cwd=tmp_path,
                           env={"PGPASSWORD": PASSWORD})
    assert status.code == 0, status.err
