"""Every screenshot shows the whole page: real Chromium, the demo marketplace's listing pages
(lazy gallery) captured four tabs at a time, each tab reused as `crawler.browser.tabs` does.

Taking the screenshot of the viewport grown for lazy loading "as it is on screen" copied
whatever frame the compositor had last drawn: on a busy machine, one whose tiles below the
first few hundred pixels were not drawn yet (the page's background there: no description,
half a photo, no footer), with nothing in `limits_hit` to say so; 5-17 % of these captures
under load. The footer line at the bottom of every listing page must be in every screenshot.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from crawler.browser.capture import CaptureSteps, InFlight, RenderedPage, capture_page
from crawler.config import CaptureLimits
from crawler.demo import DemoMarketplace, build_catalog

pytestmark = pytest.mark.browser

TABS = 4
CAPTURES = 48
FOOTER = 120
"""CSS pixels at the bottom of a listing page that hold its footer line (`site-footer`)."""


def _captures(base_url: str, paths: list[str]) -> list[tuple[str, RenderedPage]]:
    from playwright.async_api import async_playwright

    from crawler.browser.chromium import find_chromium
    from crawler.settings import PLAYWRIGHT_LAUNCH_OPTIONS

    args = [str(a) for a in PLAYWRIGHT_LAUNCH_OPTIONS["args"]]  # type: ignore[attr-defined]

    async def main() -> list[tuple[str, RenderedPage]]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=find_chromium(),
                                               args=[*args, "--no-sandbox"])
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 720})
                await context.add_cookies([{"name": "consent", "value": "yes",
                                            "url": base_url}])
                queue = list(paths)
                taken: list[tuple[str, RenderedPage]] = []

                async def tab() -> None:
                    page = await context.new_page()
                    cdp = await context.new_cdp_session(page)
                    await cdp.send("Network.enable", {"maxTotalBufferSize": 0,
                                                      "maxResourceBufferSize": 0})
                    await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                    inflight = InFlight()
                    inflight.attach(page)
                    while queue:
                        path = queue.pop()
                        await page.goto(base_url + path)
                        taken.append((path, await capture_page(
                            page, None, CaptureSteps(), CaptureLimits(timeout=60), inflight,
                            cdp)))
                        await page.goto("about:blank", wait_until="commit")
                        await page.set_viewport_size({"width": 1280, "height": 720})

                await asyncio.gather(*(tab() for _ in range(TABS)))
                return taken
            finally:
                await browser.close()

    return asyncio.run(main())


def _blank(image: Image.Image) -> bool:
    low, high = image.convert("L").getextrema()
    assert isinstance(low, int) and isinstance(high, int)  # one band
    return high - low < 30


def test_every_screenshot_shows_the_whole_listing_page() -> None:
    catalog = build_catalog(listings=CAPTURES)
    with DemoMarketplace(catalog) as market:
        taken = _captures(market.base_url, [item.url for item in catalog.listings][:CAPTURES])
    assert len(taken) == CAPTURES
    incomplete = []
    for path, rendered in taken:
        image = Image.open(io.BytesIO(rendered.screenshot))
        width, height = image.size
        assert width == 1280 and height > 2_000  # the whole page, not the viewport
        if _blank(image.crop((0, height - FOOTER, width, height))):
            incomplete.append(path)
        assert rendered.viewport == {"width": 1280, "height": 720}
        assert not rendered.limits_hit, (path, rendered.limits_hit)
    assert not incomplete, f"{len(incomplete)} of {CAPTURES} screenshots not drawn to the end"
