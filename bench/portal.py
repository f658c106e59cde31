"""Catalog query latency at a million captures, on SQLite and PostgreSQL side by side, and
the portal's pages over HTTP (not a test: it prints figures).

    .venv/bin/python bench/portal.py --captures 1000000 --catalog sqlite --catalog postgresql
    .venv/bin/python bench/portal.py --captures 1000000 --http --store file://./markwatch-data

Each `--catalog` (`sqlite`: a new file in a temporary folder; `postgresql`: a throwaway
PostgreSQL server on 127.0.0.1, Debian's, started for the run; or a `postgresql://` URI of an
empty database) gets the same synthetic catalog (bench/catalog_synth.py: 20 cases, 5
marketplaces, 2,000 sellers, listings captured 1-40 times each, two image artifacts per
capture), its schema and indexes made by the catalog itself, the rows bulk-loaded. Then the
queries the CLI and the portal make are timed in this process through their own functions
(`crawler.portal.queries`, `crawler.portal.views.listing_query`, the `Catalog` methods), and
one table prints p50/p95 per engine side by side (goal: p95 < 50 ms).

With `--http`, the first SQLite catalog is also served by the portal (uvicorn on 127.0.0.1, one
client signed in with a session cookie) and the server-side time of its HTML pages is measured
by an ASGI middleware, from the first byte of the request to the last byte of the response.
With `--store` (a real store, e.g. the one `make demo` fills; copied first, since every capture
view appends to its custody log), that store's captures are added and the capture page is
measured on them in full: manifest read, every artifact re-hashed, seal verified, custody event
appended, page rendered.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.catalog_synth import (  # noqa: E402
    CASES,
    MARKETS,
    RUN_SIZE,
    SELLERS,
    load_postgresql,
    load_sqlite,
)


def open_catalog(uri: str) -> Any:
    """The product's catalog for `uri`, as the CLI opens it."""
    from storage.catalog import Catalog

    try:
        import storage.db  # noqa: F401 - the catalog takes URIs (SQLite or PostgreSQL)
    except ImportError:  # the SQLite-only catalog takes a path
        from storage.uri import sqlite_path

        return Catalog(sqlite_path(uri))
    return Catalog(uri)


def redact(uri: str) -> str:
    """A catalog URI without its password, for printing."""
    from crawler.frontier.uri import redact as redact_uri

    return redact_uri(uri)


@contextmanager
def catalog_uri(spec: str, tmp: Path, index: int) -> Iterator[str]:
    """The URI of an empty catalog for `spec`, the server it needs running meanwhile."""
    if spec == "sqlite":
        yield f"sqlite:///{tmp / f'catalog{index}.db'}"
    elif spec == "postgresql":
        from tests.servers.postgres import PostgresServer

        with PostgresServer() as server:
            yield server.new_database("markwatch_bench")
    elif spec.startswith(("postgresql://", "postgresql+psycopg://")):
        yield spec
    else:
        raise SystemExit(f"--catalog: sqlite, postgresql or a postgresql:// URI, not {spec!r}")


def build_catalog(uri: str, n: int) -> None:
    """Make the catalog's schema with the catalog's own code, then bulk-load N captures."""
    open_catalog(uri).close()
    if uri.startswith("sqlite:"):
        from storage.uri import sqlite_path

        load_sqlite(sqlite_path(uri), n)
    else:
        with open_catalog(uri) as cat:
            if cat.query("SELECT capture_id FROM captures LIMIT 1", []):
                raise SystemExit(f"{redact(uri)}: not an empty catalog; give an empty database")
        load_postgresql(uri, n)


def timed_queries(n: int) -> dict[str, Callable[[Any, random.Random], object]]:
    """The queries the CLI and the portal make, each through the product's own function."""
    from crawler.portal import queries, views

    listings = max(n // 20, 1)
    runs = max(n // RUN_SIZE, 1)

    def case(rng: random.Random) -> str:
        return f"CASE-{rng.randrange(CASES):02d}"

    def listing(rng: random.Random) -> tuple[str, str]:
        k = rng.randrange(1, listings)
        return f"market{k % MARKETS}", f"L{k}"

    def page(params: dict[str, str]) -> Callable[[Any, random.Random], object]:
        def run(cat: Any, rng: random.Random) -> object:
            c = case(rng)
            query = views.listing_query({k: v.format(seller=rng.randrange(SELLERS))
                                         for k, v in params.items()}, c, views.PAGE_SIZE)
            return queries.search(cat, query, None)
        return run

    from crawler.portal.queries import ListingQuery

    return {
        "portal listings: a case, newest first": page({}),
        "portal listings: case + seller": page({"seller": "Seller {seller}"}),
        "portal listings: case + price range, by price": page(
            {"price_min": "100", "price_max": "200", "currency": "EUR", "sort": "price",
             "order": "asc"}),
        "portal listings: page 20 (offset 950)": page({"offset": "950"}),
        "portal timeline of a listing": lambda cat, rng: queries.timeline(cat, *listing(rng)),
        "portal/CLI capture row + artifacts": lambda cat, rng: queries.capture(
            cat, f"S{rng.randrange(n):025d}"),
        "CLI evidence list --brand, 50": lambda cat, rng: queries.search(
            cat, ListingQuery(brand=f"brand{rng.randrange(7)}", limit=50)),
        "CLI evidence list --seller, 50": lambda cat, rng: queries.search(
            cat, ListingQuery(seller=f"seller {rng.randrange(SELLERS)}", limit=50)),
        "CLI evidence show: listing history": lambda cat, rng: cat.history(*listing(rng)),
        "CLI runs show / finalize: a run's captures": lambda cat, rng: cat.find_run(
            f"RUN{rng.randrange(runs):06d}"),
        "capture pipeline: previous capture": lambda cat, rng: cat.previous_capture(
            *listing(rng), "2026-07-01T00:00:00.000000Z"),
        "portal cases page (every case, counts)": lambda cat, rng: queries.cases(cat),
    }


def measure(uri: str, n: int, requests: int) -> dict[str, list[float]]:
    """Milliseconds per call of each timed query, 3 warm-up calls not counted."""
    out: dict[str, list[float]] = {}
    with open_catalog(uri) as cat:
        for label, call in timed_queries(n).items():
            rng = random.Random(1)
            for _ in range(3):
                call(cat, rng)
            samples = []
            for _ in range(requests):
                began = time.perf_counter()
                call(cat, rng)
                samples.append((time.perf_counter() - began) * 1000)
            out[label] = samples
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(samples)
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.95))]


def print_side_by_side(names: list[str], results: list[dict[str, list[float]]]) -> None:
    head = f"{'query':46}" + "".join(f" {name[:21]:>21}" for name in names)
    print(head)
    print(f"{'':46}" + "".join(f" {'p50 ms':>10} {'p95 ms':>10}" for _ in names))
    for label in results[0]:
        cells = ""
        for result in results:
            p50, p95 = percentiles(result[label])
            cells += f" {p50:10.1f} {p95:10.1f}"
        print(f"{label:46}{cells}")


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


def serve_pages(catalog_uri_: str, n: int, store_uri: str | None, tmp: Path,
                requests: int) -> None:
    """The portal's HTML pages over HTTP on the SQLite catalog `catalog_uri_`."""
    import hashlib
    import json

    import uvicorn

    from crawler.portal.app import PortalConfig, create_app
    from crawler.portal.users import UserDB
    from crawler.seal.config import SealConfig
    from storage.local import LocalStore
    from storage.uri import local_path, sqlite_path

    catalog = sqlite_path(catalog_uri_)
    store = tmp / "store"
    real: list[str] = []
    if store_uri:
        shutil.copytree(local_path(store_uri), store,
                        ignore=shutil.ignore_patterns("catalog.db*", "portal.db*", "spool"))
        with open_catalog(catalog_uri_) as cat:
            s = LocalStore(store)
            for key in s.list_documents("captures/"):
                data = s.read_document(key)
                cat.index_capture(json.loads(data), key, hashlib.sha256(data).hexdigest())
            for key in s.list_documents("runs/"):
                data = s.read_document(key)
                cat.index_run(json.loads(data), key, hashlib.sha256(data).hexdigest())
            real = [r["capture_id"] for r in cat.query(
                "SELECT capture_id FROM captures WHERE kind = 'listing' "
                "AND capture_id NOT LIKE 'S%'", [])]
    else:
        store.mkdir()
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

    listings = max(n // 20, 1)
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
        "timeline": lambda: (lambda k: f"/cases/CASE-{k % CASES:02d}/listings/"
                             f"market{k % MARKETS}/L{k}")(rng.randrange(1, listings)),
    }
    if real:
        pages["capture page (verified, custody logged)"] = \
            lambda: f"/captures/{rng.choice(real)}"
    for label, make in pages.items():
        for i in range(requests + 3):  # the first 3 warm the caches, not counted
            try:
                get(label if i >= 3 else "", make())
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
    print(f"\nportal pages over HTTP (SQLite), server-side:\n"
          f"{'page':44} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
    for label, samples in timed.samples.items():
        p50, p95 = percentiles([x * 1000 for x in samples])
        print(f"{label:44} {len(samples):4} {p50:8.1f} {p95:8.1f}")
    server.should_exit = True
    thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captures", type=int, default=1_000_000)
    parser.add_argument("--catalog", action="append", dest="catalogs",
                        help="sqlite, postgresql (a throwaway local server) or a postgresql:// "
                             "URI of an empty database; repeat to compare (default: sqlite).")
    parser.add_argument("--requests", type=int, default=60, help="Calls per query kind.")
    parser.add_argument("--http", action="store_true",
                        help="Also time the portal's pages over HTTP (first SQLite catalog).")
    parser.add_argument("--store", help="A real store (file://) for the capture page (--http).")
    args = parser.parse_args()
    specs = args.catalogs or ["sqlite"]

    tmp = Path(tempfile.mkdtemp(prefix="markwatch-bench-portal-"))
    names: list[str] = []
    results: list[dict[str, list[float]]] = []
    try:
        with ExitStack() as servers:
            for index, spec in enumerate(specs):
                uri = servers.enter_context(catalog_uri(spec, tmp, index))
                t0 = time.perf_counter()
                build_catalog(uri, args.captures)
                print(f"{redact(uri)}: {args.captures:,} synthetic captures loaded in "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
                names.append(uri.split(":", 1)[0].split("+", 1)[0])
                results.append(measure(uri, args.captures, args.requests))
                if args.http and spec == "sqlite" and not any(
                        s == "sqlite" for s in specs[:index]):
                    serve_pages(uri, args.captures, args.store, tmp, args.requests)
        print(f"\n{args.captures:,} captures, {args.requests} calls per query after 3 warm-up "
              "calls, in-process through the product's query functions:")
        print_side_by_side(names, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
