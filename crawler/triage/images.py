"""Perceptual hashes of product photos (pHash, 64 bits, via `imagehash` and Pillow).

Two photos whose hashes differ in a few bits (`Weights.image_hamming`, default 6 of 64) are
the same picture, resized, recompressed or lightly edited. Images are hostile input: bytes
and pixel counts are capped before decoding, and an image that cannot be decoded is skipped.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000


def phash(data: bytes | Path) -> str | None:
    """The 64-bit perceptual hash as 16 hex digits, or None when it is not a usable image."""
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
                return str(imagehash.phash(image.convert("L")))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None


def hamming(a: str, b: str) -> int:
    """Differing bits between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
