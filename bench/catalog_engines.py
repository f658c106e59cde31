"""What the catalog costs on PostgreSQL against SQLite, measured in the same run: indexing
captures one transaction each (the crawl's write path) and `rebuild` of a store of synthetic
manifests. Prints each figure with the ratio PostgreSQL / SQLite.

    .venv/bin/python bench/catalog_engines.py [--captures 2000] [--postgres URI]

Without --postgres a throwaway PostgreSQL (Debian's, as the tests start it) is used.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.catalog import Catalog
from storage.layout import CAPTURES
from storage.local import LocalStore
from tests.test_catalog_engines import manifest


def fill_store(root: Path, n: int) -> LocalStore:
    store = LocalStore(root)
    for i in range(n):
        store.put_document(f"{CAPTURES}bench/C{i:08d}.json",
                           json.dumps(manifest(i)).encode(), "application/json")
    return store


def measure(uri: str, store: LocalStore, n: int) -> dict[str, float]:
    with Catalog(uri) as cat:
        began = time.perf_counter()
        for i in range(n):
            cat.index_capture(manifest(i), f"captures/{i}.json", f"{i:064x}")
        write = (time.perf_counter() - began) / n
        began = time.perf_counter()
        cat.rebuild(store)
        rebuild = time.perf_counter() - began
        began = time.perf_counter()
        for i in range(200):
            cat.find_run("RUN1") if i == 0 else cat.get(f"C{i:08d}")
        read = (time.perf_counter() - began) / 200
    return {"write_ms": write * 1000, "rebuild_s": rebuild, "get_ms": read * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captures", type=int, default=2000)
    parser.add_argument("--postgres", help="An empty PostgreSQL database's URI.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = fill_store(Path(tmp) / "store", args.captures)
        sqlite = measure(f"sqlite:///{tmp}/catalog.db", store, args.captures)
        if args.postgres:
            pg = measure(args.postgres, store, args.captures)
        else:
            from tests.servers.postgres import PostgresServer

            with PostgresServer() as server:
                pg = measure(server.new_database(), store, args.captures)
    print(f"{args.captures} captures (fsync off on the test PostgreSQL, as in the tests)")
    for name, unit in (("write_ms", "ms per capture indexed"), ("rebuild_s", "s to rebuild"),
                       ("get_ms", "ms per capture read")):
        print(f"{unit:24} sqlite {sqlite[name]:8.2f}  postgresql {pg[name]:8.2f}  "
              f"ratio {pg[name] / sqlite[name]:.2f}")


if __name__ == "__main__":
    main()
