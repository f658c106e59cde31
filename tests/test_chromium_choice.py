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
    launch_options,
)
from crawler.browser.shell_fonts import (
    first_available,
    font_families_params,
    hinting_switch,
    installed_families,
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


# -- the headless shell drawn as the full browser draws ---------------------------------------

def test_the_shell_is_launched_with_the_full_browsers_hinting() -> None:
    # fontconfig's own setting on this machine (Debian's: slight), as the full browser takes it
    assert hinting_switch() == "--font-render-hinting=slight"
    shell = launch_options({"args": ["--disable-gpu"]}, "/usr/bin/chromium-headless-shell")
    assert shell["args"] == ["--disable-gpu", hinting_switch()]
    assert hinting_switch() in launch_options({}, None)["args"]  # type: ignore[operator]
    full = launch_options({"args": ["--disable-gpu"]}, "/usr/bin/chromium")
    assert full["args"] == ["--disable-gpu"]
    chosen = launch_options({"args": ["--font-render-hinting=none"]}, "/x/headless_shell")
    assert chosen["args"] == ["--font-render-hinting=none"]  # a user's own choice stays


def test_a_font_list_resolves_to_its_first_installed_family() -> None:
    installed = frozenset({"Noto Sans CJK JP", "Liberation Serif"})
    assert first_available("Noto Sans JP,Noto Sans CJK JP,Times New Roman",
                           installed) == "Noto Sans CJK JP"
    assert first_available("Noto Serif KR, Noto Serif CJK KR", installed) == "Noto Serif KR"
    assert "Noto Sans CJK JP" in installed_families()  # fontconfig asked for real
    params = font_families_params(installed)
    assert params["fontFamilies"]["sansSerif"] == "Arial"
    japanese = next(s for s in params["forScripts"] if s["script"] == "Jpan")
    assert japanese["fontFamilies"] == {"standard": "Noto Sans CJK JP",
                                        "sansSerif": "Noto Sans CJK JP",
                                        "serif": "Noto Serif JP",
                                        "fixed": "Noto Sans Mono CJK JP"}


def test_a_crawl_on_the_shell_gives_each_tab_the_full_browsers_fonts(tmp_path: Path) -> None:
    from crawler.browser.capture import SHELL_FONTS_META
    from tests.test_site_spiders import make_spider

    def meta(executable: str) -> dict[str, object]:
        _, spider = make_spider(tmp_path / Path(executable).name, "ebay", settings={
            "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": executable}})
        return spider._meta(spider.states[0], "listing", render=True)

    shell, full = meta("/usr/bin/chromium-headless-shell"), meta("/usr/bin/chromium")
    assert shell.get(SHELL_FONTS_META) is True and full.get(SHELL_FONTS_META) is False


SAVED_JAPANESE_PAGE = Path(__file__).parent / "pages" / "amazon" / "item-4" / "page.html.gz"


async def _draw(executable: str, markwatch: bool) -> bytes:
    """The top of a saved Japanese Amazon listing (scripts off, nothing fetched), drawn with
    markwatch's launch options and tab settings, or with the build's own (`markwatch=False`)."""
    import gzip

    from playwright.async_api import async_playwright

    from crawler.settings import PLAYWRIGHT_LAUNCH_OPTIONS

    options = launch_options(dict(PLAYWRIGHT_LAUNCH_OPTIONS), executable)
    if not markwatch:
        options["args"] = [a for a in options["args"]  # type: ignore[attr-defined]
                           if a != hinting_switch()]
    html = gzip.decompress(SAVED_JAPANESE_PAGE.read_bytes()).decode("utf-8")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**options)  # type: ignore[arg-type]
        context = await browser.new_context(viewport={"width": 1280, "height": 1200},
                                            java_script_enabled=False)
        await context.route("**/*", lambda route: route.abort())
        page = await context.new_page()
        if markwatch and browser_build(executable) == HEADLESS_SHELL:
            cdp = await context.new_cdp_session(page)
            await cdp.send("Page.setFontFamilies", font_families_params())
        await page.set_content(html, wait_until="load")
        png = await page.screenshot()
        await browser.close()
    return png


@pytest.mark.browser
def test_the_shell_draws_a_japanese_listing_as_the_full_browser_does() -> None:
    import asyncio
    import shutil

    full = shutil.which("chromium")
    shell = shutil.which("chromium-headless-shell")
    if full is None or shell is None:
        why = "Debian's chromium and chromium-headless-shell are both needed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {why} (scripts/ensure-chromium.sh installs them)")
        pytest.skip(why)
    by_full = asyncio.run(_draw(full, markwatch=True))
    assert asyncio.run(_draw(shell, markwatch=True)) == by_full
    # and the test can fail: the shell left to its own fonts and hinting draws it otherwise
    assert asyncio.run(_draw(shell, markwatch=False)) != by_full
