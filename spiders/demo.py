"""The spider for the bundled demo marketplace (`markwatch demo`, end-to-end tests)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote_plus

from scrapy.crawler import Crawler

from crawler.exceptions import ConfigError
from spiders.base import MarketplaceSpider


class DemoSpider(MarketplaceSpider):
    """Searches the demo marketplace: JavaScript-rendered results behind a consent overlay."""

    name = "demo"  # type: ignore[misc]
    consent_click = "#consent-accept"
    search_wait_for = 'body[data-ready="1"]'
    listing_wait_for = "h1"

    def __init__(self, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> DemoSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, DemoSpider)
        spider.base_url = (
            spider.base_url
            or crawler.settings.get("DEMO_BASE_URL")
            or os.environ.get("MARKWATCH_DEMO_URL")
        )
        if not spider.base_url:
            raise ConfigError("the demo spider needs the demo marketplace's URL (-a base_url=)")
        spider.base_url = spider.base_url.rstrip("/")
        return spider

    def search_url(self, term: str, page: int) -> str:
        return f"{self.base_url}/search?q={quote_plus(term)}&page={page}"
