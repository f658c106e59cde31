"""`SiteSpider`: a dedicated marketplace spider whose page objects module builds search URLs.

A site spider names its page module (`spiders.pages.<site>`), which gives `search_url(term,
page, site)`, `SEARCH_PAGE` and `LISTING_PAGE`. Sites with country or language variants take
a `site` spider argument (`-a site=de`) or a Scrapy setting (`EBAY_SITE=de`); the argument
wins. A watchlist cannot carry it yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from scrapy.crawler import Crawler

from spiders.base import MarketplaceSpider

SearchUrl = Callable[..., str]


class SiteSpider(MarketplaceSpider):
    """A marketplace spider driven by its page module's `search_url`."""

    site_setting: ClassVar[str | None] = None
    """The Scrapy setting holding the default country/language site (`EBAY_SITE`)."""
    default_site: ClassVar[str | None] = None
    build_search_url: ClassVar[SearchUrl]
    """The page module's `search_url(term, page, site)`."""

    def __init__(self, site: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SiteSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, SiteSpider)
        if not spider.site and cls.site_setting:
            spider.site = crawler.settings.get(cls.site_setting) or None
        spider.site = (spider.site or cls.default_site or "").strip() or None
        return spider

    def search_url(self, term: str, page: int) -> str:
        return type(self).build_search_url(term, page, self.site)
