"""A store made by real crawls of the demo marketplace, and `markwatch serve` running on it.

Two cases: CASE-A (Lumara, crawled twice, one price changed between the runs, one listing
titled with markup) and CASE-B (Corvane, crawled once). Sealed with an Ed25519 key and the
tests' RFC 3161 TSA, so the capture page's three verdicts can all pass.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crawler.demo import DemoMarketplace
from crawler.demo.data import build_catalog
from storage.catalog import CaptureQuery, Catalog
from storage.local import LocalStore
from tests.helpers import MARKWATCH, CliResult, isolated_env, run_markwatch
from tests.tsa_server import TSAServer

HOSTILE_TITLE = ('Lumara handbag <script>document.title="pwned"</script>'
                 '<img src=x onerror="document.title=\'pwned\'">')
PASSWORD = "correct horse battery staple"

WATCHLIST = """\
version: 1
case: "{case}"
settings:
  max_pages: 1
  max_listings: {n}
  egress: {{allow: [127.0.0.1]}}
brands:
  - name: {brand}
    terms: ["{term}"]
    marketplaces: [demo]
"""


def hostile_catalog() -> Any:
    """The demo catalog with the first "lumara handbag" result titled with markup."""
    catalog = build_catalog()
    first = catalog.search("lumara handbag")[0]
    items = tuple(dataclasses.replace(x, title=HOSTILE_TITLE) if x.listing_id == first.listing_id
                  else x for x in catalog.listings)
    return dataclasses.replace(catalog, listings=items)


def repriced(catalog: Any, listing_id: str) -> Any:
    """The catalog with one listing's price raised by 100."""
    items = []
    for x in catalog.listings:
        if x.listing_id == listing_id:
            price = x.price + 100
            x = dataclasses.replace(x, price=price, price_text=f"{price} {x.currency}")
        items.append(x)
    return dataclasses.replace(catalog, listings=tuple(items))


class Site:
    """The folder: watchlists, a key, a store; the CLI run in it."""

    def __init__(self, root: Path, market: DemoMarketplace, tsa: TSAServer) -> None:
        self.root = root
        self.store = root / "store"
        self.market = market
        self.env = {
            "MARKWATCH_STORE": f"file://{self.store}",
            "MARKWATCH_DEMO_URL": market.base_url,
            "MARKWATCH_SEAL_KEY": str(root / "keys" / "seal.pem"),
            "MARKWATCH_SEAL_TSAS": json.dumps([{"url": tsa.url, "ca": str(tsa.pki.ca_pem),
                                                "name": "test-tsa", "attempts": 1,
                                                "timeout": 5}]),
            "MARKWATCH_OPERATOR": "crawler",
        }

    def cli(self, *args: str, stdin: str | None = None) -> CliResult:
        if stdin is None:
            return run_markwatch(list(args), cwd=self.root, env=self.env)
        env = isolated_env()
        env.update(self.env)
        proc = subprocess.run([MARKWATCH, *args], cwd=self.root, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def crawl(self, case: str, brand: str, term: str, n: int) -> None:
        path = self.root / f"{case}.yaml"
        path.write_text(WATCHLIST.format(case=case, brand=brand, term=term, n=n),
                        encoding="utf-8")
        out = self.cli("crawl", "-w", path.name, "--log-level", "WARNING", "--no-resume")
        assert out.code == 0, out.out + out.err[-3000:]

    def user(self, name: str, role: str, *cases: str) -> str:
        out = self.cli("users", "add", name, "--role", role, "--password-stdin",
                       stdin=PASSWORD + "\n")
        assert out.code == 0, out.err
        for case in cases:
            assert self.cli("users", "grant", name, case).code == 0
        token = self.cli("users", "token", name)
        assert token.code == 0, token.err
        return token.out.strip()

    def listings(self, case: str) -> list[dict[str, Any]]:
        """The manifests of the case's listing captures, oldest first."""
        store = LocalStore(self.store)
        with Catalog(self.store / "catalog.db") as cat:
            rows = cat.find(CaptureQuery(kind="listing"))
        return [m for m in (json.loads(store.read_document(r["manifest_key"])) for r in rows)
                if m["watch"].get("case") == case]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(site: Site, *extra: str, scheme: str = "http") -> Iterator[str]:
    """`markwatch serve` on a free loopback port; yields its base URL."""
    port = free_port()
    env = isolated_env()
    env.update(site.env)
    proc = subprocess.Popen([MARKWATCH, "serve", "--port", str(port), *extra], cwd=site.root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"{scheme}://127.0.0.1:{port}"
    context = ssl._create_unverified_context() if scheme == "https" else None  # self-signed
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode() if proc.stdout else "")
            try:
                urllib.request.urlopen(base + "/api/openapi.json", timeout=2,
                                       context=context).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("markwatch serve did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
