"""Shared fixtures: the demo marketplace on 127.0.0.1, the markwatch CLI as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from crawler.browser import find_chromium
from crawler.config import MarkwatchConfig
from crawler.demo import DemoMarketplace

# Fixture plugins registered here, before any test module imports them, so pytest rewrites
# their asserts: the S3 and fault-injecting proxy servers, and the RFC 3161 timestamp server.
pytest_plugins = ["tests.servers", "tests.tsa_server"]

ROOT = Path(__file__).resolve().parents[1]

# Crawls create a sealing key under $XDG_CONFIG_HOME/markwatch/ on first use: never the real
# ~/.config in tests (every subprocess inherits this too).
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="markwatch-test-config-")
MARKWATCH = str(Path(sys.executable).with_name("markwatch"))


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium the crawls will use; its absence is an error, not a skip."""
    path = find_chromium()
    if path is None:
        pytest.fail("no Chromium found: run scripts/ensure-chromium.sh or set MARKWATCH_CHROMIUM")
    return path


@pytest.fixture(scope="session")
def demo_market() -> Iterator[DemoMarketplace]:
    """The demo marketplace, started once for the session."""
    with DemoMarketplace() as market:
        yield market


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


def run_markwatch(args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None,
                  timeout: float = 600) -> CliResult:
    """Run the installed `markwatch` console script in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MARKWATCH_")}
    full_env.update(env or {})
    full_env.setdefault("MARKWATCH_PROGRESS", "off")
    proc = subprocess.run([MARKWATCH, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
