"""A rendered capture's request gets the navigation alone (`NAVIGATION_ONLY_META`): the
navigation's status and headers, no DOM read at the load event (the capture reads the page
after its steps), and a navigation that turns into a download fails the request. A small
Scrapy crawl with the project's settings and download handler, real Chromium, a site on
127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.helpers import send, serving

pytestmark = pytest.mark.browser

PAGE = b"<!doctype html><title>Item</title><h1>Lumara bag</h1>"

CRAWL = """
import json, sys
from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from crawler.browser.download_handler import NAVIGATION_ONLY_META

base, chromium = sys.argv[1], sys.argv[2]
seen = []

class Probe(Spider):
    name = "probe"

    async def start(self):
        for path, only in (("/page", True), ("/page", False), ("/missing", True),
                           ("/file", True)):
            meta = {"playwright": True, "playwright_include_page": True, "path": path,
                    "only": only}
            if only:
                meta[NAVIGATION_ONLY_META] = True
            yield Request(base + path, meta=meta, callback=self.page, errback=self.failed,
                          dont_filter=True)

    async def page(self, response):
        await response.meta["playwright_page"].close()
        seen.append({"path": response.meta["path"], "only": response.meta["only"],
                     "status": response.status, "body": response.text,
                     "header": response.headers.get("X-Listing", b"").decode()})

    async def failed(self, failure):
        page = failure.request.meta.get("playwright_page")
        if page is not None:
            await page.close()
        seen.append({"path": failure.request.meta["path"], "error": str(failure.value)})

settings = Settings()
settings.setmodule("crawler.settings")
settings.setdict({"LOG_LEVEL": "WARNING", "ROBOTSTXT_OBEY": False, "HTTPERROR_ALLOW_ALL": True,
                  "RETRY_ENABLED": False, "EXTENSIONS": {}, "ITEM_PIPELINES": {},
                  "DOWNLOADER_MIDDLEWARES": {}, "SPIDER_MIDDLEWARES": {},
                  "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium,
                                                "args": ["--no-sandbox", "--disable-gpu"]}})
process = CrawlerProcess(settings)
process.crawl(Probe)
process.start()
print(json.dumps(seen))
"""


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status, body, headers = 200, PAGE, {"Content-Type": "text/html", "X-Listing": "DM1"}
        if self.path == "/missing":
            status, body = 404, b"<!doctype html><h1>gone</h1>"
        elif self.path == "/file":
            body = b"%PDF-1.4 not a page"
            headers = {"Content-Type": "application/pdf",
                       "Content-Disposition": 'attachment; filename="listing.pdf"'}
        send(self, status, body, headers)


@pytest.fixture
def site() -> Iterator[str]:
    with serving(_Site) as host:
        yield f"http://{host}"


def test_a_capture_request_gets_the_navigation_alone(site: str, chromium: str) -> None:
    done = subprocess.run([sys.executable, "-c", CRAWL, site, chromium], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    by = {(s["path"], s.get("only")): s for s in seen}
    alone = by[("/page", True)]
    assert alone["status"] == 200 and alone["header"] == "DM1"
    assert alone["body"] == ""  # no DOM read at the load event
    # without the mark, scrapy-playwright's response: the DOM at the load event
    assert "<h1>Lumara bag</h1>" in by[("/page", False)]["body"]
    assert by[("/missing", True)]["status"] == 404
    download = next(s for s in seen if s["path"] == "/file")
    assert "Download is starting" in download["error"], download
