"""Chromium's sandbox: on for an unprivileged user (a real crawl as such a user, the state read
from the browser's own command line), off and recorded as such for root."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.sandbox import NO_SANDBOX, launch_options, sandbox_wanted
from tests.helpers import ROOT

USER = "markwatch-sandbox"


def test_the_sandbox_is_on_unless_root() -> None:
    base = {"args": ["--disable-gpu", NO_SANDBOX]}
    user = launch_options(base, "auto", euid=1000)
    assert user["chromium_sandbox"] is True and NO_SANDBOX not in user["args"]
    root = launch_options(base, "auto", euid=0)
    assert root["chromium_sandbox"] is False and NO_SANDBOX in root["args"]
    assert sandbox_wanted("auto", euid=0) == (False, "off (running as root)")
    assert sandbox_wanted("off", euid=1000)[0] is False  # a container without user namespaces
    assert sandbox_wanted("on", euid=0)[0] is True


def test_the_project_settings_follow_the_user() -> None:
    settings = Settings()
    settings.setmodule("crawler.settings")
    options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert options["chromium_sandbox"] is (os.geteuid() != 0)
    assert (NO_SANDBOX in options["args"]) is (os.geteuid() == 0)


def _manifests(store: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in (store / "captures").rglob("*.json")]


def _python_for(user: str) -> tuple[str, dict[str, str]] | None:
    """An interpreter `user` may run with this project and its dependencies importable."""
    site = sysconfig.get_paths()["purelib"]
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{site}"}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(version), "/usr/bin/python3"):
        if not candidate:
            continue
        probe = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}",
                                "--clear-groups", "env", *[f"{k}={v}" for k, v in env.items()],
                                candidate, "-c", "import crawler, scrapy, playwright"],
                               capture_output=True, timeout=60, check=False)
        if probe.returncode == 0:
            return candidate, env
    return None


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to create the user) and setpriv")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", USER], check=True, timeout=60)
    yield USER


@pytest.mark.browser
def test_a_crawl_as_an_unprivileged_user_runs_sandboxed(unprivileged: str,
                                                          chromium: str) -> None:
    found = _python_for(unprivileged)
    assert found is not None, f"no Python that user {unprivileged} can run with markwatch"
    python, env = found
    home = Path(tempfile.mkdtemp(prefix="markwatch-sandbox-"))
    try:
        shutil.chown(home, unprivileged, unprivileged)
        run_env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "MARKWATCH_PROGRESS": "off",
                   "MARKWATCH_CHROMIUM": chromium, **env}
        out = subprocess.run(
            ["setpriv", f"--reuid={unprivileged}", f"--regid={unprivileged}", "--clear-groups",
             "env", "-i", *[f"{k}={v}" for k, v in run_env.items()],
             python, "-m", "crawler", "demo", "--store", f"file://{home}/store",
             "--max-listings", "1"],
            cwd=home, capture_output=True, text=True, timeout=600, check=False)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        manifests = _manifests(home / "store")
        assert manifests
        assert {m["browser"]["sandbox"] for m in manifests} == {"on"}  # type: ignore[index]
        assert "browser sandbox: off" not in out.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.browser
def test_a_crawl_as_root_records_the_sandbox_off(tmp_path: Path, chromium: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("runs as root only")
    from tests.helpers import run_markwatch

    out = run_markwatch(["demo", "--store", f"file://{tmp_path}/store", "--max-listings", "1"],
                        cwd=tmp_path)
    assert out.code == 0, out.err[-3000:]
    assert "browser sandbox: off (running as root)" in out.err  # said at start
    manifests = _manifests(tmp_path / "store")
    assert {m["browser"]["sandbox"] for m in manifests} == {  # type: ignore[index]
        "off (running as root)"}
