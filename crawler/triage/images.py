"""Perceptual hashes of product photos (pHash of 16 x 16 DCT terms: 256 bits, via `imagehash`
and Pillow).

Two photos whose hashes differ in a few bits (`Weights.image_hamming`, default 12 of 256) are
the same picture, resized, recompressed or lightly edited. 256 bits rather than the usual 64:
on the demo's synthetic photos (similar shapes in similar places) 64-bit hashes of distinct
pictures collide; 256-bit ones did not in 44,850 pairs. Images are hostile input: bytes
and pixel counts are capped before decoding, and an image that cannot be decoded is skipped.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
HASH_SIZE = 16
"""DCT terms per side: 16 gives a 256-bit hash (64 hex digits)."""


def phash(data: bytes | Path) -> str | None:
    """The 256-bit perceptual hash as 64 hex digits, or None when it is not a usable image."""
    import imagehash
    from PIL import Image, UnidentifiedImageError

    if isinstance(data, Path):
        if data.stat().st_size > MAX_IMAGE_BYTES:
            return None
        data = data.read_bytes()
    if len(data) > MAX_IMAGE_BYTES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.draft("L", (256, 256))
                return str(imagehash.phash(image.convert("L"), hash_size=HASH_SIZE))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None


def hamming(a: str, b: str) -> int:
    """Differing bits between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
