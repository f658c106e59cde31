"""Seller names by normalised key, on both engines (real SQLite, Debian's PostgreSQL): triage's
cross-marketplace look-up finds the same marketplaces as reading every seller did, through an
index; a re-parse that changes a seller is followed; the migration computes the keys of the
sellers a catalog already holds, the same rows a rebuild makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler.fields.index import index_reparse
from crawler.triage.sellers import key_rows, marketplaces_selling_as, seller_key
from storage import migrate
from storage.catalog import Catalog
from storage.db import engine_for

pytest_plugins = ["tests.servers"]

FULLWIDTH = "\uff21\uff55\uff52\uff55\uff4d \uff2c\uff55\uff58\uff45"  # Aurum Luxe, fullwidth
SELLERS = [("demo", "Aurum-Luxe Store"), ("ebay", "aurumluxe"), ("amazon", "AURUM LUXE LTD"),
           ("etsy", "Quality First"), ("demo", FULLWIDTH), ("temu", None)]


def manifest(n: int, marketplace: str, seller: str | None, kind: str = "listing") -> dict[str, Any]:
    cid = f"C{n:08d}"
    when = f"2026-12-05T10:00:{n:02d}.000000Z"
    return {
        "capture_id": cid, "run_id": "RUN1", "kind": kind,
        "watch": {"marketplace": marketplace, "brand": "Lumara", "term": "lumara", "case": None},
        "listing": {"listing_id": f"L{n}", "title": f"item {n}", "price": "10.00",
                    "currency": "EUR", "seller_name": seller, "seller_url": None,
                    "images": [], "field_sources": {}},
        "request_url": f"http://127.0.0.1/item/{n}", "final_url": None, "status": 200,
        "started_at": when, "finished_at": when, "artifacts": [],
    }


def fill(cat: Catalog) -> None:
    cat.index_captures([(manifest(n, m, s), f"captures/{n}.json", f"{n:064x}")
                        for n, (m, s) in enumerate(SELLERS)])
    # a search page's seller-like text is not a listing's seller
    cat.index_capture(manifest(50, "jd", "Aurum Luxe", kind="search"), "captures/50.json",
                      "f" * 64)


def reference(cat: Catalog, key: str) -> set[str]:
    """What triage read before: every distinct seller of the catalog, keyed in Python."""
    return {r["marketplace"] for r in cat.query(
        "SELECT DISTINCT marketplace, seller_name FROM captures "
        "WHERE kind = 'listing' AND seller_name IS NOT NULL")
        if key and seller_key(r["seller_name"]) == key}


def test_the_indexed_look_up_finds_what_the_scan_found(catalog_uri: str) -> None:
    with Catalog(catalog_uri) as cat:
        fill(cat)
        key = seller_key("aurum luxe")
        assert key == "aurumluxe"
        assert marketplaces_selling_as(cat, key) == {"demo", "ebay", "amazon"} \
            == reference(cat, key)
        assert marketplaces_selling_as(cat, seller_key("Quality-First Shop")) == {"etsy"}
        assert marketplaces_selling_as(cat, "") == set()
        assert marketplaces_selling_as(cat, "nobody") == set()


def test_a_reparse_that_changes_the_seller_is_followed(catalog_uri: str) -> None:
    with Catalog(catalog_uri) as cat:
        fill(cat)
        record = {"capture_id": "C00000003", "parsed_at": "2026-12-05T11:00:00.000000Z",
                  "parser_version": "2", "listing": {**manifest(3, "etsy", None)["listing"],
                                                     "seller_name": "Aurum Luxe Official"}}
        with cat.transaction() as tx:
            index_reparse(tx, record, "fields/reparse/C00000003/1.json")
        assert marketplaces_selling_as(cat, "aurumluxe") == {"demo", "ebay", "amazon", "etsy"} \
            == reference(cat, "aurumluxe")
        assert marketplaces_selling_as(cat, "quality") == set()  # no capture sells as it now


def test_the_migration_keys_the_sellers_already_there(catalog_uri: str) -> None:
    with Catalog(catalog_uri) as cat:
        fill(cat)
        before = list(cat.iter_rows("seller_keys"))
    assert len(before) == 5  # the distinct listing sellers with a key
    engine = engine_for(catalog_uri)
    try:
        assert migrate.downgrade(engine, "0004_search_results")[1] == "0004_search_results"
        assert migrate.upgrade(engine, "head")[1] == migrate.head()
    finally:
        engine.dispose()
    with Catalog(catalog_uri) as cat:
        assert list(cat.iter_rows("seller_keys")) == before
        assert marketplaces_selling_as(cat, "aurumluxe") == {"demo", "ebay", "amazon"}


def test_the_look_up_reads_through_indexes(tmp_path: Path) -> None:
    """SQLite's plan: the key's index, then the captures of each matching name (no scan)."""
    with Catalog(tmp_path / "catalog.db") as cat:
        fill(cat)
        plan = " ".join(str(r["detail"]) for r in cat.query(
            "EXPLAIN QUERY PLAN SELECT DISTINCT c.marketplace FROM seller_keys k "
            "JOIN captures c ON c.seller_name = k.seller_name "
            "WHERE k.seller_key = ? AND c.kind = 'listing'", ("aurumluxe",)))
    assert "seller_keys_key" in plan and "captures_seller_name" in plan, plan
    assert "SCAN" not in plan.replace("USING COVERING INDEX", ""), plan


def test_names_without_a_key_get_no_row() -> None:
    rows = key_rows(["Shop", "", None, "Lux", "Lux"])
    assert rows == [("Lux", "lux")]


def test_the_migration_keys_sellers_a_batch_at_a_time(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    names = [f"Seller {n:05d} Trading Co" for n in range(2345)]  # more than two batches
    with Catalog(uri) as cat:
        cat.index_captures([(manifest(n, "demo", name), f"captures/{n}.json", f"{n:064x}")
                            for n, name in enumerate(names)])
        before = list(cat.iter_rows("seller_keys"))
    assert len(before) == 2345
    engine = engine_for(uri)
    try:
        migrate.downgrade(engine, "0004_search_results")
        migrate.upgrade(engine, "head")
    finally:
        engine.dispose()
    with Catalog(uri) as cat:
        assert list(cat.iter_rows("seller_keys")) == before
        assert marketplaces_selling_as(cat, seller_key("seller 01234")) == {"demo"}
