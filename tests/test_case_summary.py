"""The per-case summaries behind the portal's cases page (storage.case_summary), on real SQLite
and a real PostgreSQL: the page equals the old aggregate over every capture (several cases and
brands, listings captured again, captures without a case or a listing id), re-indexing counts
nothing twice, concurrent writers (threads and processes, some indexing the same captures)
keep the counts exact, the migration makes and fills the tables and goes down again, and a
catalog of the previous release migrated has the right summary."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

from crawler.portal import queries as portal
from storage import migrate
from storage.catalog import Catalog
from storage.db import engine_for
from storage.local import LocalStore
from tests.helpers import run_markwatch
from tests.test_catalog_engines import CATALOG_TABLES, manifest

pytest_plugins = ["tests.servers"]

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]

AGGREGATE = {
    "sqlite": "GROUP_CONCAT(DISTINCT brand)",
    "postgresql": "STRING_AGG(DISTINCT brand, ',')",
}


def aggregate(cat: Catalog) -> list[dict[str, Any]]:
    """The cases page as it was: one aggregate over every capture (brands as a sorted list:
    SQLite's GROUP_CONCAT keeps no order)."""
    rows = cat.query(
        "SELECT COALESCE(case_ref, '_none') AS name, COUNT(*) AS captures, "
        f"COUNT(DISTINCT listing_id) AS listings, {AGGREGATE[cat.dialect]} AS brands, "
        "MAX(started_at) AS last FROM captures GROUP BY COALESCE(case_ref, '_none') "
        "ORDER BY name")
    return [{**r, "captures": int(r["captures"]), "listings": int(r["listings"]),
             "brands": sorted(r["brands"].split(","))} for r in rows]


def page(cat: Catalog, allowed: list[str] | None = None) -> list[dict[str, Any]]:
    """The cases page now, brands as a list (they are sorted: check it)."""
    rows = portal.cases(cat, allowed)
    for r in rows:
        brands = r["brands"].split(",")
        assert brands == sorted(brands)
    return [{**r, "brands": r["brands"].split(",")} for r in rows]


def mixed(n: int) -> dict[str, Any]:
    """Capture n of a varied catalog: 3 cases and none, 4 brands, 7 listings captured again
    and again (one id seen in two cases), every 11th capture without a listing id."""
    case = [None, "CASE-A", "CASE-B", "CASE-C"][n % 4]
    m = manifest(n, brand=["Lumara", "Corvane", "LUMARA", "Brisk"][n % 5 % 4], case=case)
    m["listing"]["listing_id"] = None if n % 11 == 0 else f"L{n % 7}"
    m["started_at"] = f"2026-0{1 + n % 9}-01T00:00:{n % 60:02d}.000000Z"
    return m


def index(cat: Catalog, numbers: range | list[int], *, batch: bool = False) -> None:
    items = [(mixed(n), f"captures/{n}.json", f"{n:064x}") for n in numbers]
    if batch:
        cat.index_captures(items)
    else:
        for item in items:
            cat.index_capture(*item)


def test_the_cases_page_equals_the_aggregate_and_counts_nothing_twice(
        catalog_uri: str, tmp_path: Path) -> None:
    with Catalog(catalog_uri) as cat:
        assert portal.cases(cat) == []
        index(cat, range(60), batch=True)
        index(cat, range(40, 90))  # 20 captures indexed again, one by one
        expected = aggregate(cat)
        assert {r["name"] for r in expected} == {"_none", "CASE-A", "CASE-B", "CASE-C"}
        assert sum(r["captures"] for r in expected) == 90
        assert page(cat) == expected
        index(cat, range(90), batch=True)  # everything again, as a rebuild's batch
        index(cat, [5, 5, 6], batch=True)  # a batch naming a capture twice
        index(cat, range(0, 90, 3))  # and as a resume or a frontier retry does
        assert page(cat) == expected
        assert page(cat, ["CASE-B", "_none", "CASE-X"]) == [
            r for r in expected if r["name"] in ("CASE-B", "_none")]
        before = {t: list(cat.iter_rows(t)) for t in ("case_summary", "case_brands",
                                                      "case_listings")}
        with cat.transaction() as tx:  # the backfill makes the same rows
            from storage.case_summary import fill

            fill(tx)
        assert {t: list(cat.iter_rows(t)) for t in before} == before
        only_none = cat.query("SELECT * FROM case_listings WHERE listing_id IS NULL")
        assert only_none == []


def test_a_rebuild_makes_the_same_summaries(catalog_uri: str, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    import json

    for n in range(30):
        store.put_document(f"captures/x/C{n:08d}.json", json.dumps(mixed(n)).encode(),
                           "application/json")
    with Catalog(catalog_uri) as cat:
        cat.rebuild(store)
        expected = aggregate(cat)
        assert sum(r["captures"] for r in expected) == 30
        assert page(cat) == expected
        cat.rebuild(store)  # again in place: not counted twice
        assert page(cat) == expected


WRITER = """
import sys
from storage.catalog import Catalog
from tests.test_case_summary import write_some
write_some(Catalog(sys.argv[1]), int(sys.argv[2]))
"""

SHARED = 40
"""Captures every writer indexes (each must be counted once)."""


def write_some(cat: Catalog, worker: int) -> None:
    """A worker's own captures, one at a time and in batches, and the shared ones."""
    own = range(1000 * (worker + 1), 1000 * (worker + 1) + 30)
    index(cat, list(own)[:15])
    index(cat, list(own)[15:], batch=True)
    one, batch = list(range(SHARED // 2)), list(range(SHARED // 2, SHARED))
    if worker % 2:  # half the writers in the other order
        one.reverse()
        batch.reverse()
    index(cat, one)
    index(cat, batch, batch=True)
    index(cat, batch[:7], batch=True)


def test_concurrent_writers_keep_the_counts_exact(catalog_uri: str) -> None:
    Catalog(catalog_uri).close()  # the schema, made once
    threads_n, procs_n = 3, 2
    errors: list[BaseException] = []

    def thread(worker: int) -> None:
        try:
            with Catalog(catalog_uri) as own:
                write_some(own, worker)
        except BaseException as exc:  # reported below
            errors.append(exc)

    procs = [subprocess.Popen([sys.executable, "-c", WRITER, catalog_uri,
                               str(threads_n + p)], cwd=ROOT, stderr=subprocess.PIPE)
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
    with Catalog(catalog_uri) as cat:
        expected = aggregate(cat)
        assert sum(r["captures"] for r in expected) == SHARED + 30 * (threads_n + procs_n)
        assert page(cat) == expected


def test_the_migration_makes_fills_and_drops_the_tables(catalog_uri: str) -> None:
    engine = engine_for(catalog_uri)
    with Catalog(catalog_uri) as cat:
        index(cat, range(50), batch=True)
        expected = aggregate(cat)
    assert migrate.downgrade(engine, "0002_lower_indexes")[1] == "0002_lower_indexes"
    with engine.connect() as conn:
        from sqlalchemy import inspect

        assert not {"case_summary", "case_brands", "case_listings"} & set(
            inspect(conn).get_table_names())
    with engine.begin() as conn:  # captures indexed by the previous release meanwhile
        conn.exec_driver_sql("DELETE FROM artifacts WHERE capture_id = 'C00000049'")
        conn.exec_driver_sql("DELETE FROM listing_fields WHERE capture_id = 'C00000049'")
        conn.exec_driver_sql("DELETE FROM captures WHERE capture_id = 'C00000049'")
    assert migrate.upgrade(engine, "head") == ("0002_lower_indexes", migrate.head())
    engine.dispose()
    with Catalog(catalog_uri) as cat:
        assert page(cat) == aggregate(cat) != expected
        index(cat, range(50))  # the missing one is counted, the others are not
        assert page(cat) == expected


def test_a_catalog_of_the_previous_release_has_the_right_summary(tmp_path: Path) -> None:
    path = tmp_path / "previous.sqlite"
    path.write_bytes(gzip.decompress((DATA / "catalog-previous.sqlite.gz").read_bytes()))
    with tarfile.open(DATA / "store-0.1.0.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    moved = run_markwatch(["catalog", "migrate", "--catalog", f"sqlite:///{path}"],
                          cwd=tmp_path)
    assert moved.code == 0, moved.err
    with Catalog(path) as old, Catalog(tmp_path / "fresh.db") as fresh:
        fresh.rebuild(LocalStore(tmp_path / "store"))
        expected = aggregate(old)
        assert sum(r["captures"] for r in expected) == 3
        assert page(old) == expected == page(fresh)
        for table in CATALOG_TABLES:
            assert list(old.iter_rows(table)) == list(fresh.iter_rows(table)), table
