"""Unit tests of the small core pieces: ids, clock, manifests, catalog, safe text, config."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.cli.text import csv_cell, safe
from crawler.clock import FrozenClock, isoformat, parse_utc
from crawler.config import MarkwatchConfig
from crawler.evidence.manifest import (
    CaptureItem,
    StoredArtifact,
    WatchRef,
    build_manifest,
    canonical_json,
)
from crawler.exceptions import ConfigError
from crawler.ids import is_ulid, new_ulid, ulid_time
from crawler.items import Listing
from storage.catalog import CaptureQuery, Catalog
from storage.layout import manifest_key

T0 = dt.datetime(2026, 11, 28, 9, 30, 0, 123000, tzinfo=dt.UTC)


def test_ulids_sort_by_time_and_carry_it() -> None:
    a = new_ulid(T0, lambda n: b"\xff" * n)
    b = new_ulid(T0 + dt.timedelta(milliseconds=1), lambda n: b"\x00" * n)
    assert is_ulid(a) and is_ulid(b) and a < b
    assert ulid_time(a) == T0
    assert new_ulid(T0, lambda n: b"\x01" * n) == new_ulid(T0, lambda n: b"\x01" * n)


def test_clock_is_utc_iso8601_and_injectable() -> None:
    clock = FrozenClock("2026-11-28T09:30:00Z", step=1.5)
    assert isoformat(clock.now()) == "2026-11-28T09:30:00.000000Z"
    assert isoformat(clock.now()) == "2026-11-28T09:30:01.500000Z"
    assert parse_utc("2026-11-28") == dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        isoformat(dt.datetime(2026, 1, 1))  # naive


def _item(**kw: object) -> CaptureItem:
    listing = Listing(marketplace="demo", url="http://127.0.0.1/item/1", listing_id="1",
                      title="Lumara bag", price=Decimal("10.50"), currency="EUR")
    base: dict[str, object] = dict(
        capture_id=new_ulid(T0, lambda n: b"\x02" * n), kind="listing",
        watch=WatchRef("Lumara", "lumara", "demo", "CASE-1"),
        request_url="http://127.0.0.1/item/1", final_url="http://127.0.0.1/item/1", status=200,
        started_at=T0, finished_at=T0 + dt.timedelta(seconds=2), artifacts=[],
        browser={"name": "chromium", "version": "1", "user_agent": "UA", "viewport": {}},
        listing=listing)
    base.update(kw)
    return CaptureItem(**base)  # type: ignore[arg-type]


def test_manifest_is_canonical_and_complete() -> None:
    item = _item()
    art = StoredArtifact("dom.html", "text/html", 3, "a" * 64, "blobs/sha256/aa/aa/" + "a" * 64)
    manifest = build_manifest(item, run_id="RUN", artifacts=[art], previous_capture=None,
                              operator="")
    data = canonical_json(manifest)
    assert canonical_json(json.loads(data)) == data
    assert manifest["started_at"] == "2026-11-28T09:30:00.123000Z"
    assert manifest["listing"]["price"] == "10.50"  # decimal kept exactly, as a string
    assert manifest["artifacts"][0]["sha256"] == "a" * 64
    assert manifest_key(item.capture_id, T0) == f"captures/2026/11/28/{item.capture_id}.json"
    for field in ("capture_id", "run_id", "watch", "request_url", "final_url", "status",
                  "software", "browser", "previous_capture"):
        assert field in manifest


def test_catalog_indexes_and_finds(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as cat:
        for i, (price, when) in enumerate([("10.50", T0), ("12.00", T0 + dt.timedelta(days=1))]):
            item = _item(capture_id=new_ulid(when, lambda n, i=i: bytes([i]) * n),
                         started_at=when, finished_at=when)
            assert item.listing is not None
            item.listing.price = Decimal(price)
            m = build_manifest(item, run_id="RUN", artifacts=[], previous_capture=None,
                               operator="")
            m["notes"] = {"triage": {"below_msrp": i == 0}}
            cat.index_capture(m, manifest_key(item.capture_id, when), "f" * 64)
        assert len(cat.find(CaptureQuery(brand="lumara"))) == 2  # case-insensitive
        assert len(cat.find(CaptureQuery(since=isoformat(T0 + dt.timedelta(hours=1))))) == 1
        assert len(cat.find(CaptureQuery(suspicious=True))) == 1
        ids = [r["capture_id"] for r in cat.history("demo", "1")]
        assert cat.previous_capture("demo", "1", isoformat(T0 + dt.timedelta(days=1))) == ids[0]


def test_page_text_is_made_safe_for_terminals_and_spreadsheets() -> None:
    assert safe("Lumara\x1b[2J bag\u202e") == "Lumara\\x1b[2J bag\\x202e"
    assert csv_cell("=HYPERLINK(\"http://x\")").startswith("'=")
    assert csv_cell("plain") == "plain"


def test_config_is_parsed_once_and_checked() -> None:
    settings = Settings()
    settings.setmodule("crawler.settings")
    config = MarkwatchConfig.from_settings(settings)
    assert config.store_uri == "file://./markwatch-data"
    assert config.catalog_uri.endswith("markwatch-data/catalog.db")
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    settings.set("EVIDENCE_CAPTURE_TIMEOUT", 0)
    with pytest.raises(ConfigError):
        MarkwatchConfig.from_settings(settings)


def test_context_recycler_moves_on_every_n_pages() -> None:
    from crawler.middlewares.contexts import ContextRecycler

    recycler = ContextRecycler(3)
    names = [recycler.assign() for _ in range(7)]
    assert names == ["mw-0", "mw-0", "mw-0", "mw-1", "mw-1", "mw-1", "mw-2"]
    assert recycler.retired("mw-0") and recycler.retired("mw-1")
    assert not recycler.retired("mw-2") and not recycler.retired("default")


def test_context_recycler_keeps_a_retired_context_until_its_requests_are_done() -> None:
    from crawler.middlewares.contexts import SLOT_META, ContextRecycler

    recycler = ContextRecycler(2)
    first, second, third = {}, {}, {}  # request metas
    assert recycler.assign(first) == recycler.assign(second) == "mw-0"
    assert recycler.assign(third) == "mw-1"
    assert recycler.retired("mw-0") and not recycler.closable("mw-0")
    recycler.finish(first)
    assert not recycler.closable("mw-0")  # the second request has not opened its page yet
    recycler.finish(second)
    recycler.finish(second)  # twice is harmless
    assert recycler.closable("mw-0") and SLOT_META not in second
    assert not recycler.closable("mw-1")  # current: it still gets pages
    retry = dict(third)  # a retried copy of the third request gets a new slot, gives the old
    assert recycler.assign(retry) == "mw-1" and recycler.pending["mw-1"] == 1
