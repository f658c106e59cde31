"""Triage's cross-marketplace seller look-up against the catalog's size, same run.

For each catalog size, a SQLite catalog (real `Catalog.index_captures`, so `seller_keys` is
filled as in a crawl) of that many listing captures, one distinct seller name per two captures
across six marketplaces, then one look-up per sampled seller, two ways:

* scan     what triage did before: every distinct seller name of the catalog read and keyed
           in Python, for each score (the baseline);
* indexed  `crawler.triage.sellers.marketplaces_selling_as`: the key's index, then the
           captures of the matching names.

Both must give the same marketplaces for every look-up (checked). It prints milliseconds per
look-up (process CPU) for each, and the scan's time over the indexed one's.

    python bench/seller_lookup.py [--sizes 1000,10000,100000] [--lookups 50]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

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


def timed(fn: Any, cat: Catalog, keys: list[str]) -> tuple[float, list[set[str]]]:
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


if __name__ == "__main__":
    main()
