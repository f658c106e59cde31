"""Per-capture seller look-ups against the catalog's size, same run: triage's
cross-marketplace signal and takedown's relisting candidates.

For each catalog size, a SQLite catalog (real `Catalog.index_captures`, so `seller_keys` is
filled as in a crawl) of that many listing captures, one distinct seller name per two captures
across six marketplaces, then one look-up per sampled seller, two ways:

* scan     what triage did before: every distinct seller name of the catalog read and keyed
           in Python, for each score (the baseline);
* indexed  `crawler.triage.sellers.marketplaces_selling_as`: the key's index, then the
           captures of the matching names.

Both must give the same marketplaces for every look-up (checked). It prints milliseconds per
look-up (process CPU) for each, and the scan's time over the indexed one's.

Then, with one listing in ten of the catalog observed removed, the relisting candidates of a
new listing (`crawler.takedown.observe.Observer.relisting`: removed listings of the
marketplace whose last live capture has the new listing's seller), two ways: every removal of
the marketplace read and each one's last live capture looked up (before), and the removals of
the seller's own listings only (now); the same candidates for every look-up (checked).

    python bench/seller_lookup.py [--sizes 1000,10000,100000] [--lookups 50]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from crawler.takedown import queries
from crawler.takedown.schema import takedown_observations
from crawler.triage.sellers import marketplaces_selling_as, seller_key
from storage.catalog import Catalog

MARKETPLACES = ("amazon", "ebay", "aliexpress", "dhgate", "etsy", "temu")
WORDS = ("aurum", "luxe", "nova", "prime", "zen", "ultra", "gold", "star", "best", "top")


def seller(n: int) -> str:
    a, b, c = WORDS[n % 10], WORDS[n // 10 % 10], n // 100
    return f"{a.title()} {b.title()} {c} Store"


def manifest(n: int, name: str) -> dict[str, Any]:
    when = f"2026-12-05T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000000Z"
    return {
        "capture_id": f"C{n:010d}", "run_id": "RUN", "kind": "listing",
        "watch": {"marketplace": MARKETPLACES[n % len(MARKETPLACES)], "brand": "Lumara",
                  "term": "lumara", "case": None},
        "listing": {"listing_id": f"L{n}", "title": f"item {n}", "price": "10.00",
                    "currency": "EUR", "seller_name": name, "seller_url": None, "images": [],
                    "field_sources": {}},
        "request_url": f"http://127.0.0.1/item/{n}", "final_url": None, "status": 200,
        "started_at": when, "finished_at": when, "artifacts": [],
    }


def scan(cat: Catalog, key: str) -> set[str]:
    return {r["marketplace"] for r in cat.query(
        "SELECT DISTINCT marketplace, seller_name FROM captures "
        "WHERE kind = 'listing' AND seller_name IS NOT NULL")
        if key and seller_key(r["seller_name"]) == key}


REMOVED_ALL = ("SELECT o.listing_id FROM takedown_observations o WHERE o.marketplace = ? "
               "AND o.availability = 'removed' AND o.listing_id != ? AND o.started_at <= ? "
               "ORDER BY o.started_at")
REMOVED_OF_SELLER = (
    "SELECT o.listing_id FROM takedown_observations o WHERE o.marketplace = ? "
    "AND o.availability = 'removed' AND o.listing_id != ? AND o.started_at <= ? "
    "AND o.listing_id IN (SELECT c.listing_id FROM captures c WHERE c.seller_name = ? "
    "AND c.kind = 'listing' AND c.marketplace = ?) ORDER BY o.started_at")
LATE = "2026-12-06T00:00:00.000000Z"


def candidates(cat: Catalog, sql: str, market: str, name: str) -> list[str]:
    params: tuple[str, ...] = (market, "NEW", LATE)
    if "IN (" in sql:
        params += (name, market)
    out = []
    for gone in cat.query(sql, params):
        live = queries.last_live_capture(cat, market, gone["listing_id"])
        if live is not None and live.get("seller_name") == name:
            out.append(gone["listing_id"])
    return out


def timed(fn: Any, cat: Catalog, keys: list[Any]) -> tuple[float, list[Any]]:
    start = time.process_time()
    found = [fn(cat, key) for key in keys]
    return (time.process_time() - start) * 1000 / len(keys), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--lookups", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(5)
    print("| listing captures | distinct sellers | scan ms/look-up | indexed ms/look-up | "
          "scan / indexed |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    relist_rows: list[str] = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp, Catalog(Path(tmp) / "catalog.db") as cat:
            batch = []
            for n in range(size):
                batch.append((manifest(n, seller(n // 2)), f"captures/{n}.json", f"{n:064x}"))
                if len(batch) == 1000:
                    cat.index_captures(batch, summaries=False)
                    batch = []
            cat.index_captures(batch, summaries=False)
            keys = [seller_key(seller(rng.randrange(size // 2))) for _ in range(args.lookups)]
            timed(marketplaces_selling_as, cat, keys[:3])  # warm both paths' statements
            indexed_ms, indexed = timed(marketplaces_selling_as, cat, keys)
            scan_ms, scanned = timed(scan, cat, keys)
            assert indexed == scanned, "the two look-ups disagree"
            print(f"| {size:,} | {size // 2:,} | {scan_ms:.2f} | {indexed_ms:.3f} | "
                  f"{scan_ms / indexed_ms:,.0f} |", flush=True)
            removed = [{"capture_id": f"R{n:010d}", "case_ref": None,
                        "marketplace": MARKETPLACES[n % len(MARKETPLACES)],
                        "listing_id": f"L{n}", "url": f"http://127.0.0.1/item/{n}",
                        "availability": "removed", "proof": "404",
                        "started_at": "2026-12-05T23:00:00.000000Z"} for n in range(0, size, 10)]
            with cat.transaction() as tx:
                tx.upsert(takedown_observations, removed)
            # half the new listings by sellers with a removed listing there, half by anyone
            picks = [(MARKETPLACES[n % len(MARKETPLACES)], seller(n // 2))
                     for i in range(max(4, args.lookups // 5))
                     for n in [rng.randrange(0, size, 10) if i % 2 else rng.randrange(size)]]

            def before(cat: Catalog, pick: tuple[str, str]) -> list[str]:
                return candidates(cat, REMOVED_ALL, *pick)

            def after(cat: Catalog, pick: tuple[str, str]) -> list[str]:
                return candidates(cat, REMOVED_OF_SELLER, *pick)

            after_ms, found_after = timed(after, cat, picks)
            before_ms, found_before = timed(before, cat, picks)
            assert found_after == found_before, "the two relisting searches disagree"
            assert any(found_after), "no look-up found a candidate: nothing was compared"
            relist_rows.append(f"| {size:,} | {len(removed):,} | {before_ms:.2f} | "
                               f"{after_ms:.3f} | {before_ms / after_ms:,.0f} |")
    print()
    print("| listing captures | removed listings | relisting candidates before, ms/new listing "
          "| now, ms | before / now |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(relist_rows))


if __name__ == "__main__":
    main()
