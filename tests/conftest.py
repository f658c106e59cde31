"""Shared fixtures: Chromium, the demo marketplace on 127.0.0.1, the test servers' plugins.

Helpers that tests import (servers on 127.0.0.1, the CLI as a subprocess, stores) live in
`tests.helpers`; a conftest is for pytest to load, not for tests to import.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.browser.chromium import find_chromium
from crawler.demo import DemoMarketplace

# Fixture plugins registered here, before any test module imports them, so pytest rewrites
# their asserts: the S3 and fault-injecting proxy servers, and the RFC 3161 timestamp server.
pytest_plugins = ["tests.servers", "tests.tsa_server", "tests.portal_fixtures"]

# Crawls create a sealing key under $XDG_CONFIG_HOME/markwatch/ on first use: never the real
# ~/.config in tests (every subprocess inherits this too).
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="markwatch-test-config-")


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


@pytest.fixture(scope="session")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with nothing but `cryptography` (no markwatch, no rfc3161-client)."""
    home = tmp_path_factory.mktemp("clean-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    python = home / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "cryptography"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    for module in ("crawler", "rfc3161_client", "rfc8785"):
        probe = subprocess.run(
            [str(python), "-c", f"import {module}"], capture_output=True, cwd=home, check=False
        )
        assert probe.returncode != 0, f"{module} must not be importable in the clean venv"
    return python
