"""The generic spider: crawls any marketplace described as a recipe in the watchlist.

`scrapy crawl recipe -a watchlist=FILE -a marketplace=bazaar` (or `markwatch crawl`, which
starts one recipe spider per recipe marketplace). The spider takes the recipe's name as its
own, so captures, run records and logs name the marketplace, not "recipe".

From the recipe (spec section 3) it takes the search URL template and first page, rendering
per page kind, the consent click, `wait_for`, the page objects (`spiders.pages.recipe`) and
the pagination: `next_page` when given, else `{page}` incremented while pages bring new
results; with `infinite_scroll` the search page is scrolled until no new results appear
before it is captured.
"""

from __future__ import annotations

import asyncio
from typing import Any

from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.browser.capture import CaptureSteps, RenderedPage
from crawler.evidence.manifest import FailureItem
from crawler.exceptions import ConfigError
from crawler.recipe import Recipe, Selectors
from crawler.selectors import playwright_selector
from spiders.base import MarketplaceSpider
from spiders.pages import ListingPage, SearchPage
from spiders.pages.recipe import RecipeListingPage, RecipeSearchPage

SPIDER_NAME = "recipe"


class RecipeSpider(MarketplaceSpider):
    """Crawls the recipe marketplace named by `-a marketplace=NAME`."""

    name = SPIDER_NAME  # type: ignore[misc]
    recipe: Recipe

    def __init__(self, marketplace: str | None = None, **kwargs: Any) -> None:
        if not marketplace:
            raise ConfigError("the recipe spider needs the recipe's name (-a marketplace=NAME)")
        kwargs.pop("name", None)
        super().__init__(name=marketplace, **kwargs)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> RecipeSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, RecipeSpider)
        recipe = spider.watchlist.recipes.get(spider.name)
        if recipe is None:
            known = ", ".join(sorted(spider.watchlist.recipes)) or "none"
            raise ConfigError(f"{spider.watchlist.path}: no recipe named {spider.name!r} under "
                              f"'marketplaces:' (recipes: {known})")
        spider.use_recipe(recipe)
        return spider

    def use_recipe(self, recipe: Recipe) -> None:
        """Take the crawl's shape from `recipe`."""
        self.recipe = recipe
        self.first_page = recipe.first_page
        self.render_search = recipe.render.search
        self.render_listing = recipe.render.listing
        self.consent_click = browser_selector(recipe.consent_click)
        self.search_wait_for = browser_selector(recipe.search.wait_for)
        self.listing_wait_for = browser_selector(recipe.listing.wait_for)
        self.increment_pages = not recipe.search.next_page and "{page}" in recipe.search_url

    # -- MarketplaceSpider hooks -------------------------------------------------------------

    def search_url(self, term: str, page: int) -> str:
        return self.recipe.search_page_url(term, page)

    def search_page(self, url: str, html: bytes, status: int,
                    headers: dict[str, str]) -> SearchPage:
        return RecipeSearchPage(self.recipe, url, html, status, headers)

    def listing_page(self, url: str, html: bytes, status: int,
                     headers: dict[str, str]) -> ListingPage:
        return RecipeListingPage(self.recipe, url, html, status, headers)

    async def _render(self, response: Response, steps: CaptureSteps) -> RenderedPage | FailureItem:
        page = response.meta.get("playwright_page")
        scroll = (page is not None and response.meta.get("page_kind") == "search"
                  and self.recipe.search.infinite_scroll and response.status < 400)
        if not scroll:
            return await super()._render(response, steps)
        hit = await self._scroll(page, steps)
        rendered = await super()._render(response, steps)
        if isinstance(rendered, RenderedPage):
            rendered.limits_hit.extend(hit)
        return rendered

    async def _scroll(self, page: Any, steps: CaptureSteps) -> list[str]:
        """Consent first, then scroll an infinite result list to its end."""
        from playwright.async_api import Error as PwError

        from crawler.browser.capture import wait_for_content
        from crawler.browser.scrolling import scroll_until_stable

        spec = self.recipe.search.result[0]
        kind = "xpath" if spec.kind == "xpath" else "css"
        try:
            async with asyncio.timeout(self.config.limits.timeout / 2):
                # frames at the display's rate: the growth is waited for frame by frame
                # (`crawler.browser.capture.capture_page` says why)
                await page.bring_to_front()
                if steps.consent_click:
                    button = page.locator(steps.consent_click).first
                    if await button.count() and await button.is_visible():
                        await button.click(timeout=5_000)
                if steps.wait_for:
                    waited: list[str] = []
                    await wait_for_content(page, steps.wait_for, steps.wait_timeout, waited,
                                           steps.challenge, self.config.limits.max_dom_bytes)
                    if waited:  # no results (a captcha page...): nothing to scroll through
                        return waited
                _, hit = await scroll_until_stable(
                    page, kind, spec.expr, max_height=self.config.limits.max_page_height)
                return hit
        except TimeoutError:
            return ["infinite scroll did not finish within its time budget"]
        except PwError as exc:
            self.logger.warning("infinite scroll on %s failed: %s", page.url, exc.message)
            return [f"infinite scroll failed: {exc.message}"]


def browser_selector(specs: Selectors) -> str | None:
    """One Playwright selector for a slot's fallbacks: CSS ones joined, else the first."""
    if not specs:
        return None
    if all(spec.kind == "css" for spec in specs):
        return ", ".join(playwright_selector(spec) for spec in specs)
    return playwright_selector(specs[0])
