"""The rendered-capture limit of the machine: a bare Playwright loop over a list of URLs.

Each page: new page, goto (load), full-page PNG screenshot, DOM; `concurrency` pages at once,
same Chromium and flags as markwatch. Prints the number of pages done.

`--cookie NAME=VALUE` puts a cookie in the browser context first, so the baseline sees the
pages in the state markwatch's crawl saw them: the demo marketplace hides every page behind a
consent overlay until its cookie is set, and markwatch's shared context carries that cookie
after its first consent click. Without it the baseline would screenshot an empty overlay.

`--bytes-out FILE` writes the bytes the loop would store (its PNGs and HTML, summed) to FILE:
what markwatch's stored bytes are compared with (`bench/stored.py`).

`--cache-off` turns the browser cache off for each page as markwatch does (a DevTools session
per page with the Network domain on and `Network.setCacheDisabled`), nothing else changed: the
cost of the cache being off, measured apart (`bench/cache_cost.py`).

`--steps` makes it the "browser steps" row instead: the same pages put through markwatch's own
capture steps (`crawler.browser.capture.capture_page`: browser cache off, consent click, wait-for,
lazy loading until images and the network settle, screenshot, DOM) on a bare Playwright
page, with no recording proxy, no Scrapy and no evidence pipeline. markwatch against this row
is the cost of the evidence work alone; this row against the plain baseline is the cost of
rendering the page completely.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]


async def _steps_capture(context: Any, url: str, consent: str | None) -> None:
    from crawler.browser.capture import CaptureSteps, InFlight, capture_page
    from crawler.config import CaptureLimits

    page = await context.new_page()
    try:
        inflight = InFlight()
        inflight.attach(page)
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable", {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0})
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        await page.goto(url, wait_until="load")
        wait_for = 'body[data-ready="1"]' if "/search" in url else "h1"
        await capture_page(page, None, CaptureSteps(consent, wait_for), CaptureLimits(),
                           inflight, cdp)
    finally:
        await page.close()


async def main(urls: list[str], concurrency: int, chromium: str | None,
               cookies: list[str] | None = None, steps: bool = False,
               consent: str | None = None, sizes: list[int] | None = None,
               cache_off: bool = False) -> int:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    done = 0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 720})
        if cookies and urls:
            origin = "/".join(urls[0].split("/", 3)[:3])
            await context.add_cookies([
                {"name": c.split("=", 1)[0], "value": c.split("=", 1)[1], "url": origin}
                for c in cookies])

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                url = queue.get_nowait()
                if steps:
                    await _steps_capture(context, url, consent)
                    done += 1
                    continue
                page = await context.new_page()
                try:
                    if cache_off:
                        cdp = await context.new_cdp_session(page)
                        await cdp.send("Network.enable", {"maxTotalBufferSize": 0,
                                                          "maxResourceBufferSize": 0})
                        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                    await page.goto(url, wait_until="load")
                    png = await page.screenshot(full_page=True, type="png")
                    html = await page.content()
                    if sizes is not None:
                        sizes.append(len(png) + len(html.encode("utf-8")))
                    done += 1
                finally:
                    await page.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await context.close()
        await browser.close()
    return done


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--chromium")
    parser.add_argument("--cookie", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--steps", action="store_true",
                        help="markwatch's capture steps on a bare page (the browser-steps row)")
    parser.add_argument("--consent", help="consent button selector for --steps")
    parser.add_argument("--bytes-out", help="write the PNG and HTML bytes, summed, here")
    parser.add_argument("--cache-off", action="store_true",
                        help="the browser cache off for each page, as markwatch has it")
    opts = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    with open(opts.urls, encoding="utf-8") as fh:
        url_list = [line.strip() for line in fh if line.strip()]
    written: list[int] = []
    count = asyncio.run(main(url_list, opts.concurrency, opts.chromium, opts.cookie,
                             opts.steps, opts.consent, written, opts.cache_off))
    if opts.bytes_out:
        Path(opts.bytes_out).write_text(f"{sum(written)}\n", encoding="utf-8")
    print(count)
    sys.exit(0 if count == len(url_list) else 1)
