"""`bench/complete.py` finds the screenshots in a store that were not drawn to the end."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

from bench.complete import FOOTER, not_drawn_to_the_end


def _png(footer: bool) -> bytes:
    image = Image.new("RGB", (400, 1_000), (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 380, 300), fill=(200, 40, 40))  # a photo near the top
    if footer:
        draw.text((150, 1_000 - FOOTER // 2), "Demo Marketplace", fill=(60, 60, 60))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _store(root: Path, shots: list[bytes]) -> None:
    for n, data in enumerate(shots):
        sha = hashlib.sha256(data).hexdigest()
        key = f"blobs/sha256/{sha[:2]}/{sha[2:4]}/{sha}"
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
        manifest = {"artifacts": [{"name": "screenshot.png", "key": key, "sha256": sha},
                                  {"name": "dom.html", "key": "blobs/none", "sha256": "0"}]}
        path = root / "captures" / "2026" / f"c{n}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest), encoding="utf-8")


def test_a_screenshot_with_a_flat_bottom_is_counted(tmp_path: Path) -> None:
    _store(tmp_path, [_png(footer=True), _png(footer=False), _png(footer=True)])
    assert not_drawn_to_the_end(tmp_path) == (1, 3)


def test_an_empty_store_has_nothing_to_count(tmp_path: Path) -> None:
    assert not_drawn_to_the_end(tmp_path) == (0, 0)
