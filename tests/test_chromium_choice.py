"""Which Chromium a crawl launches: the full browser before the headless shell (the shell draws
some pages differently, docs/fidelity.md), a named one before either.

Real executables on a PATH of our own (small shell scripts), the real `shutil.which`; the
crawl that records the build in every manifest is `tests/test_e2e_demo.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crawler.browser.chromium import (
    FULL_BROWSER,
    HEADLESS_SHELL,
    browser_build,
    find_chromium,
)
from crawler.exceptions import ConfigError


def _executables(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        path.chmod(0o755)
    return folder


def test_the_full_browser_is_preferred_to_the_headless_shell(tmp_path: Path) -> None:
    bin_dir = _executables(tmp_path / "bin", "chromium", "chromium-headless-shell")
    found = find_chromium({"PATH": str(bin_dir)})
    assert found == str(bin_dir / "chromium")
    assert browser_build(found) == FULL_BROWSER


def test_the_shell_when_it_is_the_only_one_installed(tmp_path: Path) -> None:
    bin_dir = _executables(tmp_path / "bin", "chromium-headless-shell")
    found = find_chromium({"PATH": str(bin_dir)})
    assert found == str(bin_dir / "chromium-headless-shell")
    assert browser_build(found) == HEADLESS_SHELL


def test_a_shell_earlier_on_the_path_does_not_beat_a_full_browser(tmp_path: Path) -> None:
    first = _executables(tmp_path / "first", "chrome-headless-shell")
    second = _executables(tmp_path / "second", "google-chrome")
    found = find_chromium({"PATH": os.pathsep.join([str(first), str(second)])})
    assert found == str(second / "google-chrome")


def test_the_named_browser_wins_whatever_is_installed(tmp_path: Path) -> None:
    bin_dir = _executables(tmp_path / "bin", "chromium", "chromium-headless-shell")
    named = str(bin_dir / "chromium-headless-shell")
    assert find_chromium({"PATH": str(bin_dir), "MARKWATCH_CHROMIUM": named}) == named
    assert browser_build(named) == HEADLESS_SHELL


def test_a_named_browser_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "chromium"
    with pytest.raises(ConfigError, match="is not an executable file"):
        find_chromium({"PATH": "", "MARKWATCH_CHROMIUM": str(missing)})
    plain = _executables(tmp_path / "bin", "chromium") / "chromium"
    plain.chmod(0o644)  # no execute bit for anyone: not even root may run it
    with pytest.raises(ConfigError, match="is not an executable file"):
        find_chromium({"PATH": "", "MARKWATCH_CHROMIUM": str(plain)})


def test_nothing_installed_leaves_it_to_playwright_whose_headless_is_the_shell(
        tmp_path: Path) -> None:
    assert find_chromium({"PATH": str(tmp_path)}) is None
    assert browser_build(None) == HEADLESS_SHELL
    assert browser_build("/usr/lib/chromium/chromium-headless-shell") == HEADLESS_SHELL
    assert browser_build("/opt/chrome-headless-shell-linux64/chrome-headless-shell") == \
        HEADLESS_SHELL
    assert browser_build("/usr/bin/google-chrome-stable") == FULL_BROWSER
