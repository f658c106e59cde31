"""The screenshot artifact: Chromium's PNG, stored as it is or re-encoded as lossless WebP.

`EVIDENCE_SCREENSHOT_FORMAT` chooses. `png-compact` (the default) stores Chromium's PNG drawn
at its default zlib level rather than its fastest: the same pixels in about 0.73 of the bytes
for about 10 ms of browser CPU. `webp` decodes Chromium's PNG, encodes the
same pixels as lossless WebP (libwebp through Pillow, method 1, quality 0: measured in
docs/performance.md as the cheapest setting that roughly halves the bytes), decodes the WebP
again and compares every pixel with the PNG's; only an exact match is stored, as
`screenshot.webp`. Anything else (a PNG that is not 8-bit RGB/RGBA, larger than
`MAX_REENCODE_PIXELS`, or a mismatch) keeps the PNG, and the capture says why. `png` keeps
Chromium's PNG drawn at its fastest, as releases before this one did (`screenshot.png`).
WebP stores 0.47-0.50 of the PNG's bytes but costs 0.3-0.45 CPU s per capture, close to the
whole of what a capture costs otherwise; it is the choice where storage costs more than
CPU, not the default (docs/performance.md).

The capture's manifest describes the screenshot under `browser.screenshot`: its format and
encoder, and for a re-encoded one the SHA-256 and size of Chromium's PNG and the SHA-256 of the
decoded pixels (`pixels`: mode, width, height, sha256 of the rows of `mode` samples, top to
bottom). Anyone can decode the stored image and recompute that hash; whoever holds the PNG
can decode it and get the same one. The re-encoding runs in the assembler's worker thread
(Pillow releases the GIL while libwebp works), at most `ENCODE_SLOTS` at a time, so memory
is bounded by `ENCODE_SLOTS` re-encodings of at most `MAX_REENCODE_PIXELS` pixels each.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCREENSHOT_FORMATS = ("png-compact", "webp", "png")
"""Values of `EVIDENCE_SCREENSHOT_FORMAT`; the first is the default."""
SCREENSHOT_NAMES = ("screenshot.webp", "screenshot.png")
"""Names a capture's screenshot artifact has had (`screenshot.png`: earlier releases, and
`EVIDENCE_SCREENSHOT_FORMAT=png`)."""
MEDIA_TYPES = {"screenshot.webp": "image/webp", "screenshot.png": "image/png"}

WEBP_METHOD = 1
WEBP_QUALITY = 0
"""libwebp's lossless effort: method 1 at quality 0 stored 0.47-0.49 of Chromium's fast PNG
for 320-420 ms of CPU on the bench pages; method 0 stored more than the PNG, higher methods
and qualities cost more CPU for a few per cent fewer bytes (docs/performance.md)."""
MAX_REENCODE_PIXELS = 1280 * 16_000
"""Largest screenshot re-encoded (20.5 million pixels: the default viewport width at the
default `EVIDENCE_MAX_PAGE_HEIGHT`; 82 MB decoded as RGBA); a larger one is stored as
Chromium's PNG. A re-encoding holds the decoded PNG, libwebp's working copy and the decoded
WebP, one at a time for the last two, with pixels hashed a band of rows at a time."""
ENCODE_SLOTS = 2
"""Screenshots decoded and re-encoded at once (the machine's cores are the limit anyway)."""

_SLOTS = threading.BoundedSemaphore(ENCODE_SLOTS)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BAND_ROWS = 256


@dataclass
class Screenshot:
    """The screenshot artifact to store, and how it was made."""

    name: str
    media_type: str
    data: bytes
    record: dict[str, Any] = field(default_factory=dict)
    """What the manifest says about it (`browser.screenshot`)."""


def screenshot_entry(artifacts: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A manifest's (or catalog row's) screenshot artifact, whichever name it has."""
    return next((a for a in artifacts if a.get("name") in SCREENSHOT_NAMES), None)


def png_size(png: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR, or None if not a PNG."""
    if len(png) < 33 or not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    return width, height, depth, colour


def pixel_digest(image: Any, mode: str) -> str:
    """SHA-256 of a decoded image's samples in `mode` (Pillow's `tobytes`, rows top to
    bottom), hashed a band of rows at a time so no second copy of the image is made."""
    digest = hashlib.sha256()
    width, height = image.size
    for top in range(0, height, _BAND_ROWS):
        band = image.crop((0, top, width, min(top + _BAND_ROWS, height)))
        digest.update((band if band.mode == mode else band.convert(mode)).tobytes())
    return digest.hexdigest()


def encode(png: bytes, fmt: str) -> Screenshot:
    """The screenshot to store for Chromium's `png` under `EVIDENCE_SCREENSHOT_FORMAT=fmt`."""
    source = {"media_type": "image/png", "encoder": "chromium",
              "sha256": hashlib.sha256(png).hexdigest(), "size": len(png)}
    kept = Screenshot("screenshot.png", "image/png", png,
                      {"format": "png", "encoder": "chromium", "lossless": True})
    if fmt == "png-compact":  # drawn at Chromium's default zlib level (`CaptureSteps.png_speed`)
        kept.record["encoder"] = "chromium, default zlib level"
    if fmt in ("png", "png-compact"):
        return kept
    header = png_size(png)
    if header is None:
        kept.record["not_reencoded"] = "not a PNG"
        return kept
    width, height, depth, colour = header
    if depth != 8 or colour not in (2, 6):  # 8-bit RGB or RGBA: what WebP holds exactly
        kept.record["not_reencoded"] = f"PNG of bit depth {depth}, colour type {colour}"
        return kept
    if width * height > MAX_REENCODE_PIXELS:
        kept.record["not_reencoded"] = (f"{width}x{height} pixels, over {MAX_REENCODE_PIXELS}")
        return kept
    with _SLOTS:
        webp, pixels = _to_webp(png)
    if webp is None:
        kept.record["not_reencoded"] = "lossless WebP did not decode to the same pixels"
        return kept
    return Screenshot("screenshot.webp", "image/webp", webp, {
        "format": "webp", "lossless": True, "encoder": encoder_name(),
        "source": source, "pixels": pixels})


def _to_webp(png: bytes) -> tuple[bytes | None, dict[str, Any]]:
    from PIL import Image

    with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
        image.load()
        mode, size = image.mode, image.size
        digest = pixel_digest(image, mode)
        out = io.BytesIO()
        image.save(out, "WEBP", lossless=True, exact=True, method=WEBP_METHOD,
                   quality=WEBP_QUALITY)
    webp = out.getvalue()
    with Image.open(io.BytesIO(webp), formats=["WEBP"]) as back:
        back.load()
        same = back.size == size and pixel_digest(back, mode) == digest
    pixels = {"mode": mode, "width": size[0], "height": size[1], "sha256": digest}
    return (webp if same else None), pixels


def encoder_name() -> str:
    """libwebp and Pillow versions and the settings used, for the manifest."""
    from PIL import __version__ as pillow
    from PIL import features

    libwebp = features.version("webp") or "unknown"
    return (f"libwebp {libwebp} (Pillow {pillow}), lossless, method {WEBP_METHOD}, "
            f"quality {WEBP_QUALITY}")
