"""The peer row of `make bench`: what a Scrapy user would pick instead of markwatch.

scrapy-playwright renders each page in the same Chromium (same flags as the baseline), the
callback takes a full-page PNG screenshot and the DOM and writes both to files, and
scrapy-webarchive's `WaczExporter` extension records the crawl's exchanges (what Scrapy sees:
the rendered documents, not their sub-resources) into a WARC and a WACZ at the end.

scrapy-webarchive pins Scrapy < 2.12 while markwatch needs a newer Scrapy, so this script runs
in its own venv (`bench/run.py` makes it: `~/.cache/markwatch/peer-venv`, or
`MARKWATCH_PEER_VENV`) and imports nothing of markwatch. Prints the number of pages captured.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]


class PeerSpider(scrapy.Spider):
    name = "peer"

    def __init__(self, urls: list[str], out: Path, cookie: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.out = out
        self.cookies: dict[str | bytes, str | bytes | bool | float | int] = {}
        if cookie:
            name, _, value = cookie.partition("=")
            self.cookies[name] = value
        self.done = 0

    async def start(self) -> Any:  # Scrapy >= 2.13
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Any:
        for url in self.urls:
            yield scrapy.Request(url, cookies=self.cookies, dont_filter=True,
                                 meta={"playwright": True, "playwright_include_page": True})

    async def parse(self, response: Any) -> Any:
        page = response.meta["playwright_page"]
        try:
            png = await page.screenshot(full_page=True, type="png")
            dom = (await page.content()).encode("utf-8")
        finally:
            await page.close()
        name = hashlib.sha256(response.url.encode()).hexdigest()[:16]
        (self.out / f"{name}.png").write_bytes(png)
        (self.out / f"{name}.html").write_bytes(dom)
        self.done += 1
        yield {"url": response.url, "screenshot": f"{name}.png", "dom": f"{name}.html"}


def _state(urls: list[str], cookie: str | None) -> dict[str, Any]:
    """The browser context's starting cookies: the consent cookie, set in the browser itself
    (as the baseline does), so the page's scripts see it and draw the page without the overlay
    (a Scrapy request cookie only reaches the server)."""
    if not cookie or not urls:
        return {"cookies": [], "origins": []}
    name, _, value = cookie.partition("=")
    host = urlsplit(urls[0]).hostname or ""
    return {"cookies": [{"name": name, "value": value, "domain": host, "path": "/",
                         "expires": -1, "httpOnly": False, "secure": False, "sameSite": "Lax"}],
            "origins": []}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--chromium")
    parser.add_argument("--cookie", metavar="NAME=VALUE")
    parser.add_argument("--out", required=True, type=Path)
    opts = parser.parse_args()
    urls = [u.strip() for u in Path(opts.urls).read_text(encoding="utf-8").splitlines()
            if u.strip()]
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "pages").mkdir(exist_ok=True)
    launch: dict[str, Any] = {"headless": True, "args": ARGS}
    if opts.chromium:
        launch["executable_path"] = opts.chromium
    process = CrawlerProcess(settings={
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"},
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch,
        "PLAYWRIGHT_CONTEXTS": {"default": {"viewport": {"width": 1280, "height": 720},
                                            "storage_state": _state(urls, opts.cookie)}},
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": opts.concurrency,
        "CONCURRENT_REQUESTS": opts.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": opts.concurrency,
        "EXTENSIONS": {"scrapy_webarchive.extensions.WaczExporter": 543},
        "SW_EXPORT_URI": f"file://{opts.out.resolve()}/",
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
    })
    crawler = process.create_crawler(PeerSpider)
    process.crawl(crawler, urls=urls, out=opts.out / "pages", cookie=opts.cookie)
    process.start()
    done = int(getattr(crawler.spider, "done", 0))
    print(done)
    raise SystemExit(0 if done == len(urls) else 1)


if __name__ == "__main__":
    main()
