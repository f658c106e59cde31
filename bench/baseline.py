"""The rendered-capture limit of the machine: a bare Playwright loop over a list of URLs.

Each page: new page, goto (load), full-page PNG screenshot, DOM; `concurrency` pages at once,
same Chromium and flags as markwatch. Prints the number of pages done.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from playwright.async_api import async_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]


async def main(urls: list[str], concurrency: int, chromium: str | None) -> int:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    done = 0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 720})

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                url = queue.get_nowait()
                page = await context.new_page()
                try:
                    await page.goto(url, wait_until="load")
                    await page.screenshot(full_page=True, type="png")
                    await page.content()
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
    opts = parser.parse_args()
    with open(opts.urls, encoding="utf-8") as fh:
        url_list = [line.strip() for line in fh if line.strip()]
    count = asyncio.run(main(url_list, opts.concurrency, opts.chromium))
    print(count)
    sys.exit(0 if count == len(url_list) else 1)
