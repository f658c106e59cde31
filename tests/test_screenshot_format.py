"""The screenshot's storage format: lossless WebP with its pixels checked, or Chromium's PNG.

The pixel test renders demo marketplace pages in real Chromium through markwatch's own capture
steps, takes Chromium's PNG as a capture does, re-encodes it, and compares the decoded pixels of
both images exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image
from playwright.async_api import async_playwright
from scrapy.settings import Settings

from crawler.browser.capture import CaptureSteps, _screenshot, capture_page
from crawler.config import CaptureLimits, MarkwatchConfig
from crawler.demo import DemoMarketplace, build_catalog
from crawler.evidence import screenshot
from crawler.exceptions import ConfigError


async def _chromium_pngs(chromium: str, urls: list[str],
                         cookie_url: str) -> list[tuple[bytes, bytes]]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1280, "height": 720})
        await context.add_cookies([{"name": "consent", "value": "yes", "url": cookie_url}])
        shots = []
        for url in urls:
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            await page.goto(url, wait_until="load")
            wait_for = 'body[data-ready="1"]' if "/search" in url else "h1"
            rendered = await capture_page(page, None, CaptureSteps(None, wait_for),
                                          CaptureLimits(), None, cdp)
            # the same page drawn at Chromium's default zlib level (`png-compact`)
            compact = await _screenshot(page, CaptureLimits().max_page_height, [], cdp,
                                        fast=False)
            shots.append((rendered.screenshot, compact))
            await page.close()
        await browser.close()
    return shots


def _pixels(data: bytes, mode: str) -> tuple[tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size, image.convert(mode).tobytes()


@pytest.mark.browser
def test_webp_holds_exactly_the_pixels_chromium_drew(chromium: str) -> None:
    catalog = build_catalog(listings=40)
    with DemoMarketplace(catalog) as market:
        base = market.base_url
        urls = [f"{base}/search?q=lumara&page=1",
                *(f"{base}/item/{item.listing_id}" for item in catalog.listings[:2])]
        pngs = asyncio.run(_chromium_pngs(chromium, urls, base))
    for png, compact in pngs:
        assert png.startswith(b"\x89PNG")
        assert _pixels(compact, "RGBA") == _pixels(png, "RGBA") and len(compact) < len(png)
        shot = screenshot.encode(png, "webp")
        assert (shot.name, shot.media_type) == ("screenshot.webp", "image/webp")
        assert shot.data[:4] == b"RIFF" and shot.data[8:16] == b"WEBPVP8L"  # lossless
        record = shot.record
        mode = record["pixels"]["mode"]
        size, chromium_pixels = _pixels(png, mode)
        stored_size, stored_pixels = _pixels(shot.data, mode)
        assert stored_size == size and stored_pixels == chromium_pixels
        assert size == (record["pixels"]["width"], record["pixels"]["height"])
        assert record["pixels"]["sha256"] == hashlib.sha256(stored_pixels).hexdigest()
        assert record["source"] == {"media_type": "image/png", "encoder": "chromium",
                                    "sha256": hashlib.sha256(png).hexdigest(),
                                    "size": len(png)}
        assert record["lossless"] is True and "libwebp" in record["encoder"]
        assert len(shot.data) < len(png) * 0.8  # the point of it: fewer bytes
        kept = screenshot.encode(png, "png")  # the old behaviour: Chromium's bytes as they are
        assert (kept.name, kept.media_type, kept.data) == ("screenshot.png", "image/png", png)
        assert kept.record == {"format": "png", "encoder": "chromium", "lossless": True}
        assert screenshot.encode(compact, "png-compact").data is compact


def _png(width: int, height: int, depth: int = 8, colour: int = 2,
         rows: bytes | None = None) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    samples = {2: 3, 6: 4, 0: 1}[colour] * depth // 8
    if rows is None:
        rows = b"".join(b"\x00" + bytes(range(width * samples)) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_rgba_with_transparent_pixels_round_trips_exactly() -> None:
    image = Image.new("RGBA", (64, 40), (10, 200, 30, 255))
    for x in range(64):
        image.putpixel((x, 5), (x * 4, 7, 99, x % 3 * 60))  # colour under zero alpha too
    out = io.BytesIO()
    image.save(out, "PNG")
    shot = screenshot.encode(out.getvalue(), "webp")
    assert shot.name == "screenshot.webp"
    assert _pixels(shot.data, "RGBA") == _pixels(out.getvalue(), "RGBA")


@pytest.mark.parametrize(("png", "reason"), [
    (b"GIF89a" + b"\x00" * 40, "not a PNG"),
    (_png(4, 2, depth=16), "bit depth 16"),
    (_png(4, 2, colour=0), "colour type 0"),
])
def test_what_webp_cannot_hold_exactly_is_kept_as_png(png: bytes, reason: str) -> None:
    shot = screenshot.encode(png, "webp")
    assert (shot.name, shot.media_type, shot.data) == ("screenshot.png", "image/png", png)
    assert reason in shot.record["not_reencoded"]


def test_a_huge_screenshot_is_kept_as_png_without_decoding_it() -> None:
    # the header claims 100,000 x 100,000 pixels (the rows are not there): never decoded
    png = _png(100_000, 100_000, rows=b"")
    shot = screenshot.encode(png, "webp")
    assert shot.data is png and "over" in shot.record["not_reencoded"]


def test_manifest_entries_of_either_name_are_found() -> None:
    old = [{"name": "dom.html"}, {"name": "screenshot.png", "sha256": "a"}]
    new = [{"name": "screenshot.webp", "sha256": "b"}, {"name": "image-01"}]
    assert screenshot.screenshot_entry(old) == {"name": "screenshot.png", "sha256": "a"}
    assert screenshot.screenshot_entry(new) == {"name": "screenshot.webp", "sha256": "b"}
    assert screenshot.screenshot_entry([{"name": "dom.html"}]) is None


def _settings(**values: str) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings")
    settings.setdict(values)
    return settings


def test_the_setting_is_parsed_and_checked() -> None:
    assert MarkwatchConfig.from_settings(_settings()).screenshot_format == "png-compact"
    webp = _settings(EVIDENCE_SCREENSHOT_FORMAT="webp")
    assert MarkwatchConfig.from_settings(webp).screenshot_format == "webp"
    png = _settings(EVIDENCE_SCREENSHOT_FORMAT="PNG")
    assert MarkwatchConfig.from_settings(png).screenshot_format == "png"
    compact = _settings(EVIDENCE_SCREENSHOT_FORMAT="png-compact")
    assert MarkwatchConfig.from_settings(compact).screenshot_format == "png-compact"
    with pytest.raises(ConfigError, match="EVIDENCE_SCREENSHOT_FORMAT"):
        MarkwatchConfig.from_settings(_settings(EVIDENCE_SCREENSHOT_FORMAT="jpeg"))
