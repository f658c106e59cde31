"""The photo pHash without SciPy gives the bits `imagehash.phash` gives, on every image the
tests hold: the demo marketplace's photos and reference pictures, every image blob of the
0.1.0 store (screenshots and photos), every payload of the golden WARC that decodes, every
`data:` image of the real pages in tests/pages, and pictures made to be degenerate (blank,
banded, checkered, noise).

ImageHash (and SciPy under it) is a test dependency only: the reference the crawl's own
hash is held to, so stored hashes keep comparing with earlier releases' ones."""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import random
import re
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import imagehash
import pytest
from PIL import Image, UnidentifiedImageError
from warcio.archiveiterator import ArchiveIterator

from crawler.demo import build_catalog
from crawler.triage.images import HASH_SIZE, phash, phash_of_grey

TESTS = Path(__file__).parent
DEMO_REFERENCE = TESTS.parent / "crawler" / "demo" / "reference"
DATA_URI = re.compile(rb"data:image/(?:png|jpe?g|gif|webp|bmp);base64,([A-Za-z0-9+/=]{16,})")


def _decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _store_blobs() -> Iterator[tuple[str, bytes]]:
    with tarfile.open(TESTS / "data" / "store-0.1.0.tar.gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and "/blobs/" in member.name:
                handle = archive.extractfile(member)
                assert handle is not None
                yield f"store {member.name}", handle.read()


def _warc_payloads() -> Iterator[tuple[str, bytes]]:
    with open(TESTS / "data" / "golden" / "capture.warc", "rb") as fh:
        for record in ArchiveIterator(fh):
            uri = record.rec_headers.get_header("WARC-Target-URI") or "?"
            yield f"warc {uri}", record.content_stream().read()


def _page_data_uris() -> Iterator[tuple[str, bytes]]:
    for page in sorted(TESTS.glob("pages/*/*/page.html.gz")):
        for i, match in enumerate(DATA_URI.finditer(gzip.decompress(page.read_bytes()))):
            try:
                yield f"{page.parent.relative_to(TESTS)} #{i}", base64.b64decode(match[1])
            except binascii.Error:
                continue


def _made() -> Iterator[tuple[str, Image.Image]]:
    for level in (0, 1, 128, 255):
        yield f"blank {level}", Image.new("L", (100, 100), level)
    rng = random.Random(20)
    for w, h in ((100, 50), (64, 64), (7, 300), (1, 1)):
        noise = Image.new("L", (w, h))
        noise.putdata([rng.randrange(256) for _ in range(w * h)])
        yield f"noise {w}x{h}", noise
    for name, value in (("rows", lambda x, y: (y * 37) % 256),
                        ("columns", lambda x, y: (x * 37) % 256),
                        ("checker", lambda x, y: 255 * ((x + y) % 2)),
                        ("halves", lambda x, y: 255 * (x < 32)),
                        ("quarters", lambda x, y: 255 * ((x < 32) ^ (y < 32)))):
        picture = Image.new("L", (64, 64))
        picture.putdata([value(x, y) for y in range(64) for x in range(64)])
        yield name, picture


def _images() -> list[tuple[str, bytes]]:
    catalog = build_catalog(listings=300)
    found = [(f"demo {name}", data) for name, data in catalog.images.items()]
    found += [(f"reference {p.name}", p.read_bytes()) for p in sorted(DEMO_REFERENCE.glob("*"))]
    for source in (_store_blobs(), _warc_payloads(), _page_data_uris()):
        found += [(name, data) for name, data in source if _decodes(data)]
    return found


IMAGES = _images()


def test_the_sources_hold_images_of_each_kind() -> None:
    kinds = {name.split()[0].split("/")[0] for name, _ in IMAGES}
    assert {"demo", "reference", "store", "pages"} <= kinds  # the golden WARC's are not images
    assert len(IMAGES) > 1000


def test_every_image_of_the_tests_hashes_as_imagehash_does() -> None:
    differ, hashed = [], 0
    for name, data in IMAGES:
        with warnings.catch_warnings():  # Pillow's advice on some palettes of real pages
            warnings.filterwarnings("ignore", "Palette images with Transparency", UserWarning)
            ours, theirs = phash(data), _reference(data)
        hashed += theirs is not None
        if ours != theirs:
            differ.append(name)
    assert not differ, f"{len(differ)} of {len(IMAGES)} differ: {differ[:5]}"
    assert hashed > 1000


def _reference(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("L", (256, 256))  # as phash() decodes
            return str(imagehash.phash(image.convert("L"), hash_size=HASH_SIZE))
    except (OSError, ValueError):  # a picture neither can hash (both skip it)
        return None


@pytest.mark.parametrize("name,picture", list(_made()), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_degenerate_pictures_hash_as_imagehash_does(name: str, picture: Image.Image) -> None:
    assert phash_of_grey(picture) == str(imagehash.phash(picture, hash_size=HASH_SIZE)), name


def test_the_crawl_does_not_import_scipy() -> None:
    import subprocess
    import sys

    code = ("import sys; from crawler.demo import build_catalog; "
            "from crawler.triage.images import phash; "
            "data = next(iter(build_catalog(listings=10).images.values())); "
            "assert phash(data); print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('scipy', 'imagehash', 'pywt')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"
