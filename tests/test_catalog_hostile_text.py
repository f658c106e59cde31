"""A page cannot keep its own capture out of the catalog with text too long to index, or
with a NUL character in it.

PostgreSQL (Debian's, started by the tests) refuses a B-tree entry over 2,704 bytes: before the
bound, a seller name of 6,000 random characters made the capture's indexing fail there. Both
engines now index such a capture, keeping at most `MAX_INDEXED_BYTES` of each indexed text
column (whole characters, marked), and the same rows match on each."""

from __future__ import annotations

import random
from typing import Any

import pytest

from crawler.fields.index import index_reparse
from crawler.fields.search_index import result_rows, search_results
from crawler.triage.schema import triage_contacts
from crawler.triage.sellers import marketplaces_selling_as, seller_key
from storage.catalog import CaptureQuery, Catalog
from storage.index_bounds import MARK, MAX_INDEXED_BYTES, SEARCH_URL_BYTES, clip_text
from tests.test_triage_sellers import manifest

pytest_plugins = ["tests.servers"]

RNG = random.Random(2704)


def noise(n: int, alphabet: str) -> str:
    """Text that does not compress (PostgreSQL would otherwise squeeze it under the limit)."""
    return "".join(RNG.choice(alphabet) for _ in range(n))


ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
WIDE = "\u0130\u6f22\u5b57\u00df\u0416\U0001d518\ufb03"  # 2, 3 and 4 bytes; some grow lowercased


@pytest.mark.parametrize("alphabet", [ASCII, WIDE])
def test_a_capture_with_giant_text_is_indexed(catalog_uri: str, alphabet: str) -> None:
    seller, listing_id = noise(6000, alphabet), noise(5000, alphabet)
    doc: dict[str, Any] = manifest(1, "demo", seller)
    doc["listing"]["listing_id"] = listing_id
    doc["listing"]["title"] = noise(6000, alphabet)
    doc["request_url"] = "http://127.0.0.1/item/" + noise(6000, ASCII)
    with Catalog(catalog_uri) as cat:
        cat.index_capture(doc, "captures/1.json", "1" * 64)
        row = cat.get("C00000001")
        assert row is not None
        assert row["title"] == doc["listing"]["title"]  # not indexed: kept whole
        assert row["url"] == doc["request_url"]
        for name, whole in (("seller_name", seller), ("listing_id", listing_id)):
            kept = row[name]
            assert kept.endswith(MARK) and whole.startswith(kept[:-1])
            assert len(kept.encode()) <= MAX_INDEXED_BYTES
        assert [r["capture_id"] for r in cat.find(CaptureQuery(seller=row["seller_name"]))] \
            == ["C00000001"]
        assert [r["capture_id"] for r in cat.find(CaptureQuery(listing_id=row["listing_id"]))] \
            == ["C00000001"]
        assert marketplaces_selling_as(cat, seller_key(row["seller_name"])) == {"demo"}

        # a re-parse that finds another giant seller, a contact, a search page's result URL
        record = {"capture_id": "C00000001", "parsed_at": "2026-12-05T11:00:00.000000Z",
                  "parser_version": "2",
                  "listing": {**doc["listing"], "seller_name": noise(7000, alphabet)}}
        with cat.transaction() as tx:
            index_reparse(tx, record, "fields/reparse/C00000001/1.json")
        email = "x@" + ".".join(noise(60, "abcdefghij") for _ in range(80)) + ".com"
        cat.upsert(triage_contacts, [("C00000001", "email", email)])
        long_url = "http://127.0.0.1/r?" + noise(5000, ASCII)
        kept_url = "http://127.0.0.1/r?" + noise(2000, ASCII)  # within a result URL's bound
        with cat.transaction() as tx:
            tx.upsert(search_results, result_rows("C00000002", "capture", [
                {"url": long_url, "position": 1}, {"url": kept_url, "position": 2}]))
        urls = [r["url"] for r in cat.query("SELECT url FROM search_results ORDER BY seq")]
        assert urls[1] == kept_url
        assert urls[0].endswith(MARK) and len(urls[0].encode()) <= SEARCH_URL_BYTES
        again = cat.get("C00000001")
        assert again is not None and again["seller_name"].endswith(MARK)


def test_nul_characters_are_replaced_everywhere(catalog_uri: str) -> None:
    """PostgreSQL's text cannot hold U+0000 (a page's JSON can: `"A\\u0000B"`)."""
    doc: dict[str, Any] = manifest(1, "demo", "Aurum\x00Luxe")
    doc["listing"]["title"] = "bag\x00\x00"
    doc["listing"]["listing_id"] = "L\x001"
    with Catalog(catalog_uri) as cat:
        cat.index_capture(doc, "captures/1.json", "1" * 64)
        row = cat.get("C00000001")
        assert row is not None
        assert (row["seller_name"], row["title"], row["listing_id"]) == (
            "Aurum\ufffdLuxe", "bag\ufffd\ufffd", "L\ufffd1")
        record = {"capture_id": "C00000001", "parsed_at": "2026-12-05T11:00:00.000000Z",
                  "parser_version": "2",
                  "listing": {**doc["listing"], "seller_name": "Other\x00Seller"}}
        with cat.transaction() as tx:
            index_reparse(tx, record, "fields/reparse/C00000001/1.json")
        again = cat.get("C00000001")
        assert again is not None and again["seller_name"] == "Other\ufffdSeller"


def test_clipping_keeps_whole_characters() -> None:
    short = "Aurum Luxe"
    assert clip_text(short) is short
    assert clip_text(None) is None and clip_text(7) == 7
    for text in ("a" * 5000, "漢" * 5000, "\U0001d518" * 5000, "ab" + "漢" * 2000):
        kept = clip_text(text, 100)
        assert len(kept.encode()) <= 100 and kept.endswith(MARK)
        assert text.startswith(kept[:-1])
    exact = "a" * MAX_INDEXED_BYTES
    assert clip_text(exact) == exact  # at the bound: whole
