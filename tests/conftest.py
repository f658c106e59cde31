"""Shared fixtures: the demo marketplace on 127.0.0.1, the markwatch CLI as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.browser import find_chromium
from crawler.demo import DemoMarketplace

ROOT = Path(__file__).resolve().parents[1]
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
