"""Portal latency on a large catalog: server-side p50/p95 of the listings page, a timeline and
a capture page (not a test: it prints figures).

    .venv/bin/python bench/portal.py --captures 1000000 --store file://./markwatch-data

Builds a synthetic catalog of N captures (20 cases, 5 marketplaces, 2,000 sellers, listings
captured 1-40 times each, two image artifacts per listing capture) in a temporary folder. With
`--store` (a real store, e.g. the one `make demo` fills; copied first, since every capture
view appends to its custody log), that store's captures are added to the catalog and the
capture page is measured on them in full: manifest read, every artifact re-hashed, seal
verified, custody event appended, page rendered. Without it, the capture page is not measured.

Requests for the HTML pages (signed in with a session cookie) go through uvicorn on 127.0.0.1
from one client; the time measured is the
application's, from the first byte of the request to the last byte of the response, taken by
an ASGI middleware.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CASES, MARKETS, SELLERS = 20, 5, 2000


def synthetic_rows(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    made = 0
    listing = 0
    while made < n:
        listing += 1
        market = f"market{listing % MARKETS}"
        case = f"CASE-{listing % CASES:02d}"
        seller = f"Seller {rng.randrange(SELLERS)}"
        price = round(rng.uniform(10, 3000), 2)
        for k in range(min(rng.randint(1, 40), n - made)):
            day = 1 + (listing + k) % 28
            stamp = f"2026-{1 + k % 12:02d}-{day:02d}T{listing % 24:02d}:00:{k % 60:02d}.000000Z"
            cid = f"S{made:025d}"
            yield (cid, f"RUN{k}", "listing", market, f"Brand{listing % 7}", "term",
                   case, f"L{listing}", f"Listing {listing} title", f"{price + k % 3:.2f}",
                   "EUR", seller, None, f"https://{market}.example/item/{listing}", None, 200,
                   stamp, stamp, listing % 5 == 0, None, f"captures/x/{cid}.json", "0" * 64)
            made += 1


def build_catalog(path: Path, n: int) -> None:
    from storage.catalog import Catalog

    Catalog(path).close()  # the schema and indexes, as the product makes them
    db = sqlite3.connect(path, isolation_level=None)
    indexes = [r[0] for r in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")]
    for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall():
        db.execute(f"DROP INDEX {name}")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    batch: list[tuple[Any, ...]] = []
    arts: list[tuple[Any, ...]] = []
    for row in synthetic_rows(n):
        batch.append(row)
        for i in (1, 2):
            arts.append((row[0], f"image-0{i}", "image/png", 1000, f"{i:064d}",
                         f"blobs/{i}", None))
        if len(batch) >= 20000:
            db.executemany(f"INSERT INTO captures VALUES ({','.join('?' * 22)})", batch)
            db.executemany("INSERT INTO artifacts VALUES (?,?,?,?,?,?,?)", arts)
            batch, arts = [], []
    if batch:
        db.executemany(f"INSERT INTO captures VALUES ({','.join('?' * 22)})", batch)
        db.executemany("INSERT INTO artifacts VALUES (?,?,?,?,?,?,?)", arts)
    db.execute("COMMIT")
    for sql in indexes:  # the product's indexes, built once over all the rows
        db.execute(sql)
    db.execute("ANALYZE")
    db.close()


class Timed:
    """ASGI middleware recording each request's server-side duration by path label."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.samples: dict[str, list[float]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        await self.app(scope, receive, send)
        label = dict(scope.get("headers") or []).get(b"x-bench-label", b"").decode()
        if label:
            self.samples.setdefault(label, []).append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captures", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60, help="Requests per page kind.")
    parser.add_argument("--store", help="A real store (file://) for the capture page.")
    args = parser.parse_args()

    import uvicorn

    from crawler.portal.app import PortalConfig, create_app
    from crawler.portal.users import UserDB
    from crawler.seal.config import SealConfig
    from storage.uri import local_path

    tmp = Path(tempfile.mkdtemp(prefix="markwatch-bench-portal-"))
    try:
        t0 = time.perf_counter()
        catalog = tmp / "catalog.db"
        store = tmp / "store"
        real: list[str] = []
        if args.store:
            shutil.copytree(local_path(args.store), store,
                            ignore=shutil.ignore_patterns("catalog.db*", "portal.db*", "spool"))
        else:
            store.mkdir()
        build_catalog(catalog, args.captures)
        if args.store:
            from storage.catalog import Catalog
            from storage.local import LocalStore

            with Catalog(catalog) as cat:
                s = LocalStore(store)
                import hashlib
                import json

                for key in s.list_documents("captures/"):
                    data = s.read_document(key)
                    cat.index_capture(json.loads(data), key, hashlib.sha256(data).hexdigest())
                for key in s.list_documents("runs/"):
                    data = s.read_document(key)
                    cat.index_run(json.loads(data), key, hashlib.sha256(data).hexdigest())
                real = [r["capture_id"] for r in cat.query(
                    "SELECT capture_id FROM captures WHERE kind = 'listing' "
                    "AND capture_id NOT LIKE 'S%'", [])]
        print(f"catalog of {args.captures:,} synthetic captures (+{len(real)} real) built in "
              f"{time.perf_counter() - t0:.0f} s: {catalog.stat().st_size / 2**20:.0f} MiB")
        with UserDB(tmp / "portal.db") as users:
            users.add("bench", "admin", "benchmark password")
            sid, _ = users.new_session("bench")
        config = PortalConfig(f"file://{store}", catalog, tmp / "portal.db", SealConfig())
        timed = Timed(create_app(config))
        server = uvicorn.Server(uvicorn.Config(timed, host="127.0.0.1", port=0,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        rng = random.Random(1)

        def get(label: str, path: str) -> None:
            req = urllib.request.Request(base + path, headers={
                "Cookie": f"mw_session={sid}", "X-Bench-Label": label})
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()

        listings = max(args.captures // 20, 1)
        pages = {
            "listings: case, newest first": lambda: f"/cases/CASE-{rng.randrange(CASES):02d}"
                                                    "/listings",
            "listings: case + seller": lambda: f"/cases/CASE-{rng.randrange(CASES):02d}"
                                               f"/listings?seller=Seller+{rng.randrange(SELLERS)}",
            "listings: case + price range, by price": lambda:
                f"/cases/CASE-{rng.randrange(CASES):02d}/listings?price_min=100"
                "&price_max=200&currency=EUR&sort=price&order=asc",
            "listings: page 20": lambda: f"/cases/CASE-{rng.randrange(CASES):02d}"
                                         "/listings?offset=950",
            "timeline": lambda: (lambda n: f"/cases/CASE-{n % CASES:02d}/listings/"
                                 f"market{n % MARKETS}/L{n}")(rng.randrange(1, listings)),
        }
        if real:
            pages["capture page (verified, custody logged)"] = \
                lambda: f"/captures/{rng.choice(real)}"
        for label, make in pages.items():
            for i in range(args.requests + 3):  # the first 3 warm the caches, not counted
                try:
                    get(label if i >= 3 else "", make())
                except urllib.error.HTTPError as exc:
                    if exc.code != 404:
                        raise
        print(f"{'page':44} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
        for label, samples in timed.samples.items():
            ms = sorted(s * 1000 for s in samples)
            p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
            print(f"{label:44} {len(ms):4} {statistics.median(ms):8.1f} {p95:8.1f}")
        server.should_exit = True
        thread.join(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
