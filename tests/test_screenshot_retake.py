"""A screenshot whose frame was not wholly drawn is taken again (crawler/browser/capture.py).

Rarely the frame Chromium copies for a full-page screenshot is not the whole page: the part
never drawn comes back transparent, and a capture stored it once with nothing to say so (CI
caught one: a listing's footer missing). The check rests on two facts about Chromium, tested
here in real Chromium: every page it renders, whatever its CSS does with transparency, comes
back as an RGB PNG; a capture with areas nothing was drawn on comes back with an alpha
channel. Then the retake itself, with a DevTools session that answers as that capture did.
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import async_playwright

from crawler.browser import capture
from crawler.browser.capture import SCREENSHOT_ATTEMPTS, _screenshot, undrawn_areas

PAGES = {
    "plain": "<h1>Lumara handbag</h1><p>149,00 EUR</p>",
    "transparent backgrounds": "<style>html, body { background: transparent; }</style>"
                               "<p style='background: rgba(0, 0, 0, 0.2)'>half seen</p>",
    "translucent root": "<style>html { opacity: 0.4; background: rgba(255, 0, 0, 0.1); }"
                        "</style><p style='height: 3000px'>tall</p>",
    "transparent image": "<img width=200 height=200 src='data:image/png;base64,"
                         "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhf"
                         "DwAChwGA60e6kgAAAABJRU5ErkJggg=='>",
}


def _png(mode: str, size: tuple[int, int] = (40, 30)) -> bytes:
    colour = {"RGBA": (200, 10, 10, 0), "RGB": (200, 10, 10), "LA": (90, 0), "L": 90}[mode]
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def test_an_alpha_channel_is_read_from_the_header() -> None:
    assert not undrawn_areas(_png("RGB"))
    assert undrawn_areas(_png("RGBA"))
    assert undrawn_areas(_png("LA"))
    assert not undrawn_areas(_png("L"))
    assert not undrawn_areas(b"not a png")


@pytest.mark.browser
def test_chromium_writes_rendered_pages_as_rgb_and_undrawn_areas_with_alpha(
        chromium: str) -> None:
    async def shots() -> tuple[dict[str, bytes], bytes]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = await browser.new_page(viewport={"width": 800, "height": 600})
                cdp = await page.context.new_cdp_session(page)
                taken = {}
                for name, html in PAGES.items():
                    await page.set_content(html)
                    taken[name] = await _screenshot(page, 16_000, [], cdp)
                # nothing under the page: what a frame copied before it was drawn looks like
                await cdp.send("Emulation.setDefaultBackgroundColorOverride",
                               {"color": {"r": 0, "g": 0, "b": 0, "a": 0}})
                await page.set_content(PAGES["transparent backgrounds"])
                shot = await cdp.send("Page.captureScreenshot", {"format": "png"})
                return taken, base64.b64decode(shot["data"])
            finally:
                await browser.close()

    taken, undrawn = asyncio.run(shots())
    for name, png in taken.items():
        with Image.open(io.BytesIO(png)) as image:
            assert image.mode == "RGB", name
        assert not undrawn_areas(png), name
    with Image.open(io.BytesIO(undrawn)) as image:
        assert image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 0
    assert undrawn_areas(undrawn)


class _Page:
    """What `_screenshot` reads of a page when its size is already measured."""

    url = "http://127.0.0.1:1/item/1"
    viewport_size = {"width": 40, "height": 30}


class _DevTools:
    """A DevTools session whose screenshots come back in the order given."""

    def __init__(self, pngs: list[bytes]) -> None:
        self.pngs = pngs
        self.calls: list[dict[str, Any]] = []

    async def send(self, method: str, params: dict[str, Any]) -> dict[str, str]:
        assert method == "Page.captureScreenshot"
        self.calls.append(params)
        return {"data": base64.b64encode(self.pngs[len(self.calls) - 1]).decode()}


def _take(pngs: list[bytes]) -> tuple[bytes, list[str], list[int], _DevTools]:
    devtools = _DevTools(pngs)
    hit: list[str] = []
    attempts: list[int] = []
    shot = asyncio.run(_screenshot(_Page(), 16_000, hit, devtools,  # type: ignore[arg-type]
                                   size=[40, 30, 100], attempts=attempts))
    return shot, hit, attempts, devtools


def test_a_frame_not_wholly_drawn_is_taken_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "RETAKE_PAUSE", 0.0)
    drawn = _png("RGB")
    shot, hit, attempts, devtools = _take([_png("RGBA"), drawn])
    assert shot == drawn and hit == [] and attempts == [1, 2]
    assert devtools.calls[0] == devtools.calls[1]  # the same screenshot asked for again


def test_a_page_never_wholly_drawn_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "RETAKE_PAUSE", 0.0)
    undrawn = [_png("RGBA", (40, 30 + n)) for n in range(SCREENSHOT_ATTEMPTS)]
    shot, hit, attempts, _ = _take(undrawn)
    assert shot == undrawn[-1] and attempts == list(range(1, SCREENSHOT_ATTEMPTS + 1))
    assert hit == [f"screenshot has undrawn (transparent) areas in all {SCREENSHOT_ATTEMPTS} "
                   "attempts"]


def test_a_wholly_drawn_frame_is_taken_once() -> None:
    drawn = _png("RGB")
    shot, hit, attempts, devtools = _take([drawn])
    assert (shot, hit, attempts, len(devtools.calls)) == (drawn, [], [1], 1)
