"""Screenshots in a local evidence store that are not drawn to the end of the page.

A capture whose screenshot was copied from a frame the browser had not finished drawing shows
the page's background below some height (no text, half a photo, no footer). Every demo page
ends in a footer line; a screenshot whose last `FOOTER` pixels are one flat colour was not
drawn to the end. `make bench` prints the count per markwatch run (it was 5-17 % of the
listings under load before the screenshot was drawn afresh, docs/performance.md).
"""

from __future__ import annotations

import json
from pathlib import Path

FOOTER = 120
"""Pixels at the bottom of a demo page that hold its footer line."""

SCREENSHOTS = ("screenshot.png", "screenshot.webp")


def not_drawn_to_the_end(store: Path) -> tuple[int, int]:
    """(screenshots whose bottom `FOOTER` pixels are blank, screenshots looked at)."""
    from PIL import Image

    blank = looked = 0
    for path in sorted((store / "captures").rglob("*.json")):
        for artifact in json.loads(path.read_bytes()).get("artifacts", []):
            if artifact.get("name") not in SCREENSHOTS:
                continue
            blob = store / artifact["key"]
            if not blob.is_file():
                continue
            with Image.open(blob) as image:
                width, height = image.size
                low, high = image.convert("L").crop(
                    (0, max(height - FOOTER, 0), width, height)).getextrema()
            looked += 1
            blank += int(isinstance(low, int) and isinstance(high, int) and high - low < 30)
    return blank, looked
