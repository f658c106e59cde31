# ruff: noqa: RUF001 - look-alike letters are what the skeleton test is about
"""The Python work cut per capture gives the same answers as the code it replaced: a head's
values read from its index, word skeletons from their cache, the other sellers showing a
capture's photos asked in one statement (on SQLite, then a real PostgreSQL), and canonical
JSON from the standard encoder (the same bytes and errors as `rfc8785`)."""

from __future__ import annotations

import datetime as dt
import enum
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.clock import FrozenClock
from crawler.demo.data import DemoListing, build_catalog
from crawler.demo.pages import item_page
from crawler.evidence.canonical import canonical_bytes
from crawler.evidence.manifest import WatchRef
from crawler.recording.http1 import Head
from crawler.triage import brands, engine
from crawler.triage import features as feat
from crawler.triage.config import TriageConfig
from crawler.triage.engine import Triage, brand_infos
from crawler.triage.images import hamming
from crawler.triage.offline import offline_pipeline, store_page
from crawler.watchlist import load_watchlist
from spiders.pages.demo import DemoListingPage
from storage.catalog import Catalog
from storage.local import LocalStore

pytest_plugins = ["tests.servers"]  # catalog_uri: SQLite, then a real PostgreSQL

BASE = "http://demo.test"
T0 = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
CATALOG = build_catalog()

# -- a head's values ---------------------------------------------------------------------------

HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
    b"Cache-Control: max-age=60, public\r\nCACHE-CONTROL:  no-transform \r\nVary: *",
    b"GET /x HTTP/1.1\r\nHost: shop.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\n"
    b"X-Empty:\r\nno colon here\r\n Folded : value \r\nSec-Fetch-Dest: image",
    b"HTTP/1.1 304 Not Modified\r\nETag: \"\xe9t\xe9\"\r\nAge: 10, 20",
    b"HTTP/1.0 204 No Content",
]
NAMES = [b"content-type", b"Set-Cookie", b"cache-control", b"vary", b"connection",
         b"upgrade", b"x-empty", b"no colon here", b"folded", b"etag", b"age", b"absent",
         b"sec-fetch-dest", b"host", b" folded", b""]


def _old_values(lines: list[bytes], name: bytes) -> list[str]:
    """The scan every look-up did before the index (the reference)."""
    name = name.lower()
    out = []
    for line in lines:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            out.append(value.strip().decode("latin-1"))
    return out


@pytest.mark.parametrize("raw", HEADS)
def test_head_values_from_the_index_equal_a_scan_of_the_lines(raw: bytes) -> None:
    lines = raw.split(b"\r\n")
    head = Head(lines[0], lines[1:])
    for name in NAMES:
        expected = _old_values(lines[1:], name)
        assert head.values(name) == expected
        assert head.value(name) == (", ".join(expected) if expected else None)
        assert head.tokens(name) == {t.strip().lower() for v in expected for t in v.split(",")}
    head.values(b"set-cookie").append("changed by a caller")  # a copy: the index is kept
    assert head.values(b"set-cookie") == _old_values(lines[1:], b"set-cookie")
    assert head == Head(lines[0], lines[1:])  # the index is no part of equality or repr
    assert "_index" not in repr(head)


# -- word skeletons ----------------------------------------------------------------------------

WORDS = ["Lumara", "Lumаra", "Lυmara", "Lum4ra", "ＬＵＭＡＲＡ", "Lumára", "C0rvane", "ﬁne",
         "straße", "İstanbul", "", " a  b ", "x" * brands.SKELETON_CACHED_CHARS,
         "Lumаra " * 40, "ǅemal", "Ⅻ", "\u0301e"]


def test_skeleton_from_the_cache_equals_the_computed_one() -> None:
    brands._cached_skeleton.cache_clear()
    for word in WORDS * 2:  # the second time from the cache where the word is short
        assert brands.skeleton(word) == brands._skeleton(word)
    info = brands._cached_skeleton.cache_info()
    short = {w for w in WORDS if len(w) <= brands.SKELETON_CACHED_CHARS}
    assert len(short) < len(WORDS)  # a long text as well, computed each time
    assert (info.misses, info.hits) == (len(short), len(short))
    assert info.maxsize == brands.SKELETON_CACHE  # bounded


# -- the other sellers showing a capture's photos ---------------------------------------------


def _watchlist(tmp_path: Path) -> Path:
    (tmp_path / "lumara-official.png").write_bytes(CATALOG.images["brand-lumara"])
    path = tmp_path / "watchlist.yaml"
    path.write_text("""version: 1
case: CASE-20
brands:
  - name: Lumara
    terms: [lumara]
    msrp: {currency: EUR, min: 900}
    marketplaces: [demo]
    reference_images: [lumara-official.png]
""", encoding="utf-8")
    return path


def _with(item: DemoListing, listing_id: str, seller: int, images: tuple[str, ...]) -> DemoListing:
    return replace(item, listing_id=listing_id, seller=CATALOG.sellers[seller], images=images)


def _old_context(triage: Triage, row: dict[str, Any], brand: feat.BrandInfo) -> feat.Context:
    """The shared and official photos as found before, one statement a photo (the reference)."""
    ctx = feat.Context()
    market, seller = row["marketplace"], row.get("seller_name")
    for image in triage.catalog.query(
            "SELECT name, phash FROM triage_images WHERE capture_id = ?", (row["capture_id"],)):
        official = [
            {"image": image["name"], "reference": Path(path).name, "distance": d}
            for path, ref in brand.references
            if (d := hamming(image["phash"], ref)) <= triage.config.weights.image_hamming]
        if official:
            ctx.official_images += official
            continue
        others = triage.catalog.query(
            "SELECT DISTINCT c.marketplace, c.seller_name FROM triage_images i "
            "JOIN captures c ON c.capture_id = i.capture_id WHERE i.phash = ? "
            "AND c.seller_name IS NOT NULL AND NOT (c.marketplace = ? AND c.seller_name = ?)",
            (image["phash"], market, seller or ""))
        if others:
            ctx.shared_images.append({
                "image": image["name"], "phash": image["phash"],
                "sellers": sorted(f"{o['marketplace']}:{o['seller_name']}" for o in others)})
    return ctx


@pytest.mark.parametrize("per_query", [1, 2, engine.PHASHES_PER_QUERY])
def test_other_sellers_in_one_statement_equal_one_statement_a_photo(
        tmp_path: Path, catalog_uri: str, per_query: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "PHASHES_PER_QUERY", per_query)  # chunks of 1 and 2 as well
    store, catalog = LocalStore(tmp_path / "store"), Catalog(catalog_uri)
    clock = FrozenClock(T0, step=1.0)
    watchlist = load_watchlist(_watchlist(tmp_path), ["demo"])
    triage = Triage.from_watchlist(watchlist, store, catalog, TriageConfig(), clock)
    pipeline = offline_pipeline(store, catalog, triage, clock)
    base = next(i for i in CATALOG.listings if i.brand == "Lumara" and "Handbag" in i.title)
    stock = [s for seller in CATALOG.sellers for s in seller.stock_images][:3]
    own = [f"{CATALOG.listings[n].listing_id}-1" for n in range(6)]
    plan = [  # (listing, seller, photos, marketplace)
        ("DM920001", 1, (stock[0], stock[1], own[0]), "demo"),
        ("DM920002", 2, (stock[0], own[1]), "demo"),
        ("DM920003", 2, (stock[1], stock[2]), "bazaar"),
        ("DM920004", 3, (stock[0], stock[1], stock[2], "brand-lumara", own[2]), "demo"),
        ("DM920005", 1, (stock[2], stock[0]), "demo"),  # the first seller again
        ("DM920006", 4, (own[3], own[4]), "demo"),  # nothing shared
    ]
    ids = []
    for listing_id, seller, photos, market in plan:
        item = _with(base, listing_id, seller, photos)
        html = item_page(item, BASE, consented=True).encode()
        images = {BASE + url: CATALOG.images[url[5:-4]] for url in item.image_urls}
        ids.append(store_page(pipeline, DemoListingPage, html, BASE + item.url, images,
                              WatchRef("Lumara", "lumara", market, "CASE-20"), T0))
    brand = brand_infos(watchlist)[0]
    shared_seen = 0
    for cid in ids:
        row = catalog.get(cid)
        assert row is not None
        new, old = triage.context(row, brand), _old_context(triage, row, brand)
        assert new.shared_images == old.shared_images
        assert new.official_images == old.official_images
        shared_seen += len(new.shared_images)
    assert shared_seen >= 8  # the plan shares photos: the comparison is not of empty lists
    assert triage.context(catalog.get(ids[3]), brand).official_images  # type: ignore[arg-type]


# -- canonical JSON ----------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(
    ["", "\x00", "\x1f\x7f", "\b\f\n\r\t", '"\\', "\u2028\u2029", "é", "😀", "\ud800", "\uffff"])
_KEYS = _TEXT | st.sampled_from(["a", "B", "_", "aa", "a\x00", "\ue000", "😀", "z"])
_SCALARS = (st.none() | st.booleans() | _TEXT | st.floats(allow_nan=True) |
            st.integers(min_value=-(2**60), max_value=2**60) |
            st.sampled_from([2**53 - 1, -(2**53) + 1, 2**53, -(2**53), 0, -0.0, 1.0, 1e21]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5) |
                       st.dictionaries(_KEYS, inner, max_size=5) |
                       st.tuples(inner, inner), max_leaves=30)


def _jcs(value: Any) -> bytes | str:
    try:
        return rfc8785.dumps(value)
    except (ValueError, RecursionError) as exc:  # rfc8785 errors, UnicodeEncodeError
        return type(exc).__name__


def _ours(value: Any) -> bytes | str:
    try:
        return canonical_bytes(value)
    except (ValueError, RecursionError) as exc:  # rfc8785 errors, UnicodeEncodeError
        return type(exc).__name__


@settings(max_examples=3000, deadline=None)
@given(_VALUES)
def test_canonical_bytes_equal_rfc8785(value: Any) -> None:
    assert _ours(value) == _jcs(value)


class _Kind(enum.StrEnum):
    LISTING = "listing"


def test_canonical_bytes_on_records_and_odd_values() -> None:
    manifest_like = {"schema": "markwatch/capture-manifest/1", "capture_id": "01J",
                     "artifacts": [{"name": "dom.html", "size": 4571, "sha256": "ab" * 32}],
                     "listing": {"title": "Lumara Tasche – größe M \"neu\"\n", "price": "1299.00",
                                 "images": ("a.jpg", "b.jpg")}, "flags": [True, False, None]}
    for value in (manifest_like, {"n": 2**53 - 1}, {"n": 2**53}, {"f": 1.5}, {"ключ": 1},
                  {"😀": 1, "\uffff": 2}, {_Kind.LISTING: 1}, {"k": _Kind.LISTING},
                  {"i": True}, [OrderedDict(b=1, a=2)], {"s": "\ud800"}, {1: "x"},
                  [97.8, -97.8, 1e-4, 1e-5, 0.1 + 0.2, 1e15 + 0.5, 123456789012345.6, 5e-324,
                   1.7976931348623157e308, 2.0, -0.0, float("inf"), float("nan")][:11],
                  {"rating": 89.8, "inf": float("inf")}, {"nan": float("nan")}):
        assert _ours(value) == _jcs(value), value
    shared = ["x"]
    assert _ours({"a": shared, "b": shared}) == _jcs({"a": shared, "b": shared})
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(RecursionError):
        canonical_bytes(cycle)  # as rfc8785 does
