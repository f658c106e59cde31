"""Perceptual hashes of product photos (pHash of 16 x 16 DCT terms: 256 bits, with Pillow and
NumPy).

Two photos whose hashes differ in a few bits (`Weights.image_hamming`, default 12 of 256) are
the same picture, resized, recompressed or lightly edited. 256 bits rather than the usual 64:
on the demo's synthetic photos (similar shapes in similar places) 64-bit hashes of distinct
pictures collide; 256-bit ones did not in 44,850 pairs. Images are hostile input: bytes
and pixel counts are capped before decoding, and an image that cannot be decoded is skipped.

The hash is `imagehash.phash(image, hash_size=16)` (ImageHash 4.3) computed without SciPy: the
photo in grey, resized to 64 x 64 (Lanczos), its unnormalised 2-D DCT-II (SciPy's
`fftpack.dct` on both axes) reduced to the 16 x 16 lowest terms as two matrix products, each
term compared with their median, the 256 bits as 64 hex digits. Importing SciPy's FFT cost a
crawl about 0.25 s of CPU at its first photo; the products give the same bits on every image
the tests hold (`tests/test_phash_numpy.py` compares both on each).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
HASH_SIZE = 16
"""DCT terms per side: 16 gives a 256-bit hash (64 hex digits)."""
HIGHFREQ_FACTOR = 4
"""The photo is resized to `HASH_SIZE * HIGHFREQ_FACTOR` pixels a side (imagehash's default)."""

ZERO_TOLERANCE = 1e-11
"""A term this small against the largest is rounding noise: taken as 0."""

_BASIS: Any = None
"""The DCT-II rows 1..HASH_SIZE-1 (the AC terms kept; float64, HASH_SIZE-1 x side), built on
first use."""


def _basis() -> Any:
    global _BASIS
    if _BASIS is None:
        import numpy

        side = HASH_SIZE * HIGHFREQ_FACTOR
        k = numpy.arange(1, HASH_SIZE, dtype=numpy.float64)[:, None]
        n = numpy.arange(side, dtype=numpy.float64)[None, :]
        _BASIS = 2.0 * numpy.cos(numpy.pi * k * (2.0 * n + 1.0) / (2.0 * side))
    return _BASIS


def _dct_low(x: Any) -> Any:
    """The first HASH_SIZE terms of the unnormalised DCT-II of each column of `x`.

    The first term is twice the column's sum; the others are taken of the column minus its
    first value, which leaves them unchanged (each basis row sums to zero) but makes them
    exactly zero where a column is constant, as SciPy's are (a blank photo, a plain band)."""
    import numpy

    return numpy.vstack((2.0 * x.sum(axis=0, keepdims=True), _basis() @ (x - x[:1])))


def phash_of_grey(image: Any) -> str:
    """The hash of a decoded Pillow image (any mode; converted to grey here)."""
    import numpy
    from PIL import Image

    side = HASH_SIZE * HIGHFREQ_FACTOR
    small = image.convert("L").resize((side, side), Image.Resampling.LANCZOS)
    pixels = numpy.asarray(small, dtype=numpy.float64)
    low = _dct_low(_dct_low(pixels).T).T  # the 16 x 16 lowest terms of the 2-D DCT-II
    # terms that are zero in exact arithmetic (symmetric pictures: a plain band, a checker
    # board) come out of SciPy as exact zeros and of the products as rounding noise: zero them
    low[numpy.abs(low) <= ZERO_TOLERANCE * numpy.abs(low).max()] = 0.0
    bits = (low > numpy.median(low)).ravel()
    value = int("".join("1" if b else "0" for b in bits), 2)
    return f"{value:0{(bits.size + 3) // 4}x}"


def phash(data: bytes | Path) -> str | None:
    """The 256-bit perceptual hash as 64 hex digits, or None when it is not a usable image."""
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
                return phash_of_grey(image.convert("L"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None


def hamming(a: str, b: str) -> int:
    """Differing bits between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
