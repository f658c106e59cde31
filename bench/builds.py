"""Do two Chromium builds draw the same pages alike? Saved marketplace pages, pixel by pixel.

`python bench/builds.py A B` draws every saved page of `tests/pages` (gzipped HTML, scripts
off, every request refused: the pages alone, as saved) with executable A, then with B, full
page at 1280 px wide (cut at 4,000 px), and prints, per page that differs, how many pixels
differ and where, or both heights when they differ; then how many pages are identical. Run it
with the same executable twice (`A A`) for the differences a build makes with itself
(animations). Each is launched as markwatch launches it (the headless shell with the full
browser's default fonts and hinting, `crawler.browser.shell_fonts`), or with `--as-built` as
the build comes. docs/fidelity.md, "Which Chromium draws the page", has the figures for
Debian's full browser against its headless shell.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "pages"
ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
MAX_HEIGHT = 4000


async def draw(executable: str, pages: list[Path],
               as_built: bool = False) -> dict[Path, bytes | None]:
    """Each page's full-page PNG drawn by `executable` (None: it could not be drawn), as
    markwatch launches it: the headless shell with the full browser's default fonts and
    hinting (`crawler.browser.shell_fonts`); `as_built`: with the build's own."""
    import os

    from playwright.async_api import Error, async_playwright

    from crawler.browser.chromium import HEADLESS_SHELL, browser_build, launch_options
    from crawler.browser.shell_fonts import font_families_params

    args = ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    options = {"args": args} if as_built else launch_options({"args": args}, executable)
    fonts = not as_built and browser_build(executable) == HEADLESS_SHELL
    out: dict[Path, bytes | None] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=options["args"],
                                           headless=True, chromium_sandbox=os.geteuid() != 0)
        context = await browser.new_context(viewport={"width": 1280, "height": 720},
                                            java_script_enabled=False)
        await context.route("**/*", lambda route: route.abort())
        for path in pages:
            page = await context.new_page()
            if fonts:
                cdp = await context.new_cdp_session(page)
                await cdp.send("Page.setFontFamilies", font_families_params())
            html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
            try:
                await page.set_content(html, wait_until="load", timeout=20_000)
                height = int(await page.evaluate("document.documentElement.scrollHeight"))
                out[path] = await page.screenshot(full_page=True, clip={
                    "x": 0, "y": 0, "width": 1280, "height": max(1, min(MAX_HEIGHT, height))})
            except Error:
                out[path] = None
            await page.close()
        await browser.close()
    return out


def compare(first: dict[Path, bytes | None], second: dict[Path, bytes | None]) -> int:
    """Print the pages drawn differently; return how many were drawn alike."""
    from PIL import Image, ImageChops

    alike = 0
    for path in sorted(first):
        a, b = first[path], second.get(path)
        name = path.parent.relative_to(PAGES)
        if a is None or b is None:
            print(f"{name}: not drawn by {'the first' if a is None else 'the second'}")
            continue
        one = Image.open(io.BytesIO(a)).convert("RGB")
        two = Image.open(io.BytesIO(b)).convert("RGB")
        if one.size != two.size:
            print(f"{name}: height {one.size[1]} against {two.size[1]} px")
            continue
        diff = ImageChops.difference(one, two)
        box = diff.getbbox()
        if box is None:
            alike += 1
            continue
        pixels = sum(1 for value in diff.convert("L").tobytes() if value)
        print(f"{name}: {pixels} pixels differ, within {box}")
    return alike


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="a Chromium executable")
    parser.add_argument("second", help="another (or the same, for its own differences)")
    parser.add_argument("--as-built", action="store_true",
                        help="the headless shell with its own fonts and hinting, not "
                             "markwatch's (crawler.browser.shell_fonts)")
    opts = parser.parse_args(argv)
    pages = sorted(PAGES.glob("*/*/page.html.gz"))
    first = asyncio.run(draw(opts.first, pages, opts.as_built))
    second = asyncio.run(draw(opts.second, pages, opts.as_built))
    alike = compare(first, second)
    print(f"{alike} of {len(pages)} pages drawn alike")
    return 0


if __name__ == "__main__":
    sys.exit(main())
