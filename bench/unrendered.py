"""Plain Scrapy, no browser: fetch a list of URLs as fast as one process can."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess


class FetchSpider(scrapy.Spider):
    name = "fetch"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def start(self) -> Any:
        for url in self.urls:
            yield scrapy.Request(url, dont_filter=True)

    def parse(self, response: Any) -> Iterator[dict[str, int]]:
        yield {"size": len(response.body)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    opts = parser.parse_args()
    with open(opts.urls, encoding="utf-8") as fh:
        url_list = [line.strip() for line in fh if line.strip()]
    process = CrawlerProcess({
        "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False, "ROBOTSTXT_OBEY": False,
        "CONCURRENT_REQUESTS": opts.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": opts.concurrency,
    })
    process.crawl(FetchSpider, urls=url_list)
    process.start()
