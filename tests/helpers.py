"""Helpers the tests share: HTTP servers on 127.0.0.1, the `markwatch` CLI as a real subprocess,
the project's settings, and real stores (`LocalStore`) to tamper with.

Imported by test modules (`from tests.helpers import ...`); fixtures stay in `tests/conftest.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scrapy.settings import Settings

from crawler.config import MarkwatchConfig
from crawler.demo import DemoMarketplace
from crawler.egress import EgressPolicy, parse_allow
from crawler.exceptions import StoreUnavailable
from crawler.schedule.records import ScheduleLog
from storage.base import StoredObject
from storage.local import LocalStore

ROOT = Path(__file__).resolve().parents[1]
MARKWATCH = str(Path(sys.executable).with_name("markwatch"))


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) answering with `handler`; yields host:port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
         headers: dict[str, str]) -> None:
    """Answer one request of a test server: status, headers, a Content-Length and the body."""
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def project_config(**overrides: Any) -> MarkwatchConfig:
    """`MarkwatchConfig` from the project's settings with `overrides` on top."""
    settings = Settings()
    settings.setmodule("crawler.settings")
    settings.setdict(overrides)
    return MarkwatchConfig.from_settings(settings)


@dataclass
class CliResult:
    """What one `markwatch` invocation did."""

    code: int
    out: str
    err: str


def isolated_env() -> dict[str, str]:
    """This process's environment without the caller's markwatch settings (`MARKWATCH_*`), so
    a test's crawl is configured by the test alone; `MARKWATCH_CHROMIUM` is kept: the browser
    the whole suite runs on (`MARKWATCH_CHROMIUM=... make test`)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MARKWATCH_") or k == "MARKWATCH_CHROMIUM"}


def run_markwatch(args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None,
                  timeout: float = 600) -> CliResult:
    """Run the installed `markwatch` console script in a subprocess."""
    full_env = isolated_env()
    full_env.update(env or {})
    full_env.setdefault("MARKWATCH_PROGRESS", "off")
    proc = subprocess.Popen([MARKWATCH, *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _stop_stuck(proc)
        raise AssertionError(f"markwatch {' '.join(args)} still running after {timeout:.0f} s; "
                             f"its log ends (a status dump, if it answered SIGUSR2):\n"
                             f"{err[-20000:]}") from None
    return CliResult(proc.returncode, out, err)


def _stop_stuck(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Ask a stuck markwatch for its status (`crawler.extensions.status_dump`), then to stop,
    then kill it and its process group: what it wrote is returned."""
    for signum, wait in ((signal.SIGUSR2, 5), (signal.SIGTERM, 15), (signal.SIGTERM, 10)):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)  # the second SIGTERM: Scrapy stops without finishing
        try:
            return proc.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate()


def local_store(root: Path) -> LocalStore:
    """The real embedded store in folder `root` (created if missing)."""
    return LocalStore(root)


def overwrite_stored(store: LocalStore, key: str, data: bytes | None) -> None:
    """Change (or with None, remove) a stored object behind the store's back, as an attacker
    with the disk would: stored files are read-only, so the mode is lifted first."""
    path = store.root / key
    if data is None:
        path.unlink()
        return
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    path.write_bytes(data)


class OutageStore(LocalStore):
    """The real local store standing in for a remote that can be switched off (a `DOWN` file in
    `root`), logging every write that creates an object, in order (`created_log`)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "objects")
        self.control = root

    @property
    def down(self) -> bool:
        return (self.control / "DOWN").exists()

    def set_down(self, value: bool) -> None:
        flag = self.control / "DOWN"
        if value:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def created_log(self) -> list[str]:
        path = self.control / "created.log"
        return path.read_text().splitlines() if path.exists() else []

    def _reachable(self) -> None:
        if self.down:
            raise StoreUnavailable("the remote is down")

    def _log(self, obj: StoredObject, kind: str) -> StoredObject:
        if obj.created:
            with (self.control / "created.log").open("a") as log:
                log.write(f"{kind} {obj.key}\n")
        return obj

    def put_blob(self, source: bytes | Path, media_type: str) -> StoredObject:
        self._reachable()
        return self._log(super().put_blob(source, media_type), "blob")

    def put_document(self, key: str, data: bytes, media_type: str) -> StoredObject:
        self._reachable()
        return self._log(super().put_document(key, data, media_type), "document")

    def read_document(self, key: str) -> bytes:
        self._reachable()
        return super().read_document(key)

    def list_documents(self, prefix: str) -> Iterator[str]:
        self._reachable()
        return super().list_documents(prefix)


LOCAL_EGRESS = ["127.0.0.1"]
"""The egress allow list of tests whose sites run on 127.0.0.1 (`EGRESS_ALLOW`): given
explicitly by each test that needs it, as an operator would."""


def local_egress() -> EgressPolicy:
    """An egress policy that lets a recording proxy reach the test servers on 127.0.0.1."""
    return EgressPolicy(parse_allow(LOCAL_EGRESS))


def doc_recipes() -> list[str]:
    """The YAML blocks of docs/recipes.md (the recipes the e2e tests crawl)."""
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def watchlist_for(name: str, base_url: str, terms: tuple[str, ...] = ("lumara",),
                  settings: str = "settings: {egress: {allow: [127.0.0.1]}}\n") -> str:
    block = next(b for b in doc_recipes() if f"\n  {name}:\n" in b)
    block = re.sub(r'base_url: "[^"]+"', f'base_url: "{base_url}"', block, count=1)
    return (f"version: 1\n{settings}brands:\n  - name: Lumara\n    terms: {json.dumps(terms)}\n"
            f"    marketplaces: [{name}]\n{block}")


# -- runs of the demo watchlist, for the scheduler and resume tests ------------------------

WATCHLIST = """\
version: 1
case: "CASE-SCHED"
settings:
  max_pages: 2
  max_listings: {max_listings}
  schedule: "0 3 * * *"
  egress: {{allow: [127.0.0.1]}}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    exclude_terms: ["case for"]
    marketplaces: [demo]
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
{extra}"""


def write_watchlist(root: Path, max_listings: int = 3, extra: str = "") -> Path:
    path = root / "watchlist.yaml"
    path.write_text(WATCHLIST.format(max_listings=max_listings, extra=extra), encoding="utf-8")
    return path


def env_for(market: DemoMarketplace | None = None) -> dict[str, str]:
    env = isolated_env()
    env["MARKWATCH_PROGRESS"] = "off"
    if market is not None:
        env["MARKWATCH_DEMO_URL"] = market.base_url
    return env


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (cwd / "process.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen([MARKWATCH, *args], cwd=cwd, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(what: Callable[[], Any], timeout: float, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s")


def manifests(store: Path) -> list[Path]:
    return sorted((store / "captures").rglob("*.json")) if (store / "captures").exists() else []


def schedule_rows(store: Path) -> list[dict[str, Any]]:
    with ScheduleLog(store / "catalog.db") as log:
        return list(reversed(log.rows()))


def catalog_tables(catalog: Any) -> list[str]:
    """Every table of the catalog's schema (the tables every catalog module declares)."""
    try:
        from storage.db import METADATA
    except ImportError:  # the SQLite-only catalog: its tables as SQLite lists them
        rows = catalog.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                             "AND name NOT LIKE 'sqlite_%'", [])
        return sorted(r["name"] for r in rows)
    return sorted(t.name for t in METADATA.sorted_tables)


def dump_catalog(catalog: Any) -> dict[str, list[str]]:
    """Every row of every table, order-independent (each table's rows sorted)."""
    return {table: sorted(repr(sorted(row.items())) for row in catalog.query(
                f"SELECT * FROM {table}", []))
            for table in catalog_tables(catalog)}


def assert_same_catalogs(kept: Any, rebuilt: Any) -> None:
    """The catalog the run wrote equals one rebuilt from the store, table by table."""
    ours, theirs = dump_catalog(kept), dump_catalog(rebuilt)
    assert set(ours) == set(theirs)
    assert ours["captures"], "no captures indexed"
    for table in ours:
        assert ours[table] == theirs[table], table
