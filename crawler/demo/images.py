"""Deterministic product photos for the demo marketplace, as small PNG files.

Each image is drawn from its name alone (stripes or checks in two colours, a textured "product"
shape in the middle), so the same name always gives the same bytes, on every machine. The
texture keeps the files at a realistic 5-30 KB; it is made with C-speed byte operations, so an
image takes about a millisecond. Images are drawn on first use and cached.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from threading import Lock

SIZE = 320
"""Width and height of every demo image, in pixels."""

MOTIFS = ("bag", "watch", "bottle", "jacket", "stock", "banner")
"""Shapes an image can show in its middle."""

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class ImageSpec:
    """How to draw one image."""

    name: str
    """File name without ``.png``; also the seed of the drawing."""
    motif: str
    """One of `MOTIFS`."""
    seed: int = 7
    """Catalog seed, so two catalogs with different seeds get different pixels."""


def render_png(spec: ImageSpec, size: int = SIZE) -> bytes:
    """Draw `spec` and return the PNG bytes (8-bit RGB, no interlace)."""
    rng = random.Random(f"{spec.seed}:{spec.name}:{spec.motif}")  # noqa: S311 - test data
    rows = _draw(rng, spec.motif, size)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw, 6)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _colour(rng: random.Random, low: int = 30, high: int = 230) -> Colour:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _draw(rng: random.Random, motif: str, size: int) -> list[bytearray]:
    """Background pattern, then a textured shape over the middle."""
    back_a, back_b, body = _colour(rng, 150, 250), _colour(rng, 90, 200), _colour(rng, 20, 200)
    step = rng.choice((10, 16, 20, 32, 40))
    stripe = (bytes(back_a) * step + bytes(back_b) * step) * (size // step + 2)
    checks = motif in ("stock", "banner")
    rows: list[bytearray] = []
    for y in range(size):
        band = (y // step) % 2 if checks else 0  # checks: every other band shifted by one
        offset = step * 3 * band if checks else (y % (2 * step)) * 3  # stripes: diagonal
        rows.append(bytearray(stripe[offset : offset + size * 3]))
    width, height = rng.randint(64, 112), rng.randint(64, 112)
    if motif == "banner":
        width, height = size - 40, rng.randint(20, 34)
    tables = [_texture_table(channel) for channel in body]
    top, centre = (size - height) // 2, size // 2
    for y in range(top, top + height):
        half = _half_width(motif, (y - top) / max(height - 1, 1), width // 2)
        if half <= 0:
            continue
        row, span = rows[y], 2 * half
        for channel, table in enumerate(tables):
            noise = rng.randbytes(span).translate(table)
            row[(centre - half) * 3 + channel : (centre + half) * 3 : 3] = noise
    return rows


def _texture_table(base: int) -> bytes:
    """Map a random byte to `base` plus or minus a little (4 bits of texture)."""
    return bytes(max(0, min(255, base - 8 + (value & 15))) for value in range(256))


def _half_width(motif: str, t: float, half: int) -> int:
    """Half the width of the shape at relative height `t` (0 top, 1 bottom)."""
    if motif in ("watch", "stock"):
        return int(half * max(0.0, 1 - (2 * t - 1) ** 2) ** 0.5)
    if motif == "bag":
        return int(half * (0.35 if t < 0.2 else 0.7 + 0.3 * t))
    if motif == "bottle":
        return int(half * (0.3 if t < 0.3 else 0.9))
    if motif == "jacket":
        return int(half * (1.0 if t < 0.45 or t > 0.55 else 0.6))
    return half


class ImageStore(Mapping[str, bytes]):
    """Read-only mapping of image name (no ``.png``) to PNG bytes, drawn on first access."""

    def __init__(self, specs: Mapping[str, ImageSpec]) -> None:
        self._specs = dict(specs)
        self._cache: dict[str, bytes] = {}
        self._lock = Lock()

    def __getitem__(self, name: str) -> bytes:
        with self._lock:
            data = self._cache.get(name)
            if data is None:
                data = render_png(self._specs[name])
                self._cache[name] = data
            return data

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def spec(self, name: str) -> ImageSpec:
        """How image `name` is drawn."""
        return self._specs[name]
