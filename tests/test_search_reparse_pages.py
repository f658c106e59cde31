"""Re-parsing stored search captures offline, on the real saved search pages of tests/pages/:
each page is stored as a capture whose page object had been broken (no results stored), with
its DOM and a WARC holding the server's gzip-encoded response; `reparse` with the current
page objects restores the hand-checked results (count, sponsored, first results) from the DOM
and from the WARC response. On both catalog engines: the newest results, every version, the
derived sponsored mark of a listing reached from a re-parsed advert, and `catalog rebuild`.
Hostile stored DOMs (oversized, altered, malformed) are reported, never crash the run."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.clock import FrozenClock
from crawler.evidence.manifest import canonical_json
from crawler.fields import reparse as reparse_mod
from crawler.fields.index import sponsored_captures
from crawler.fields.reparse import reparse
from crawler.fields.search_index import newest_results, result_versions, shown_results
from storage.catalog import Catalog
from storage.layout import blob_key, manifest_key
from tests.helpers import local_store, overwrite_stored

PAGES = Path(__file__).parent / "pages"
SEARCH_CASES = sorted(p.parent for p in PAGES.glob("*/*/case.json")
                      if json.loads(p.read_text("utf-8"))["kind"] == "search")
WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _warc(url: str, html: bytes) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    body = gzip.compress(html)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                       ("Content-Encoding", "gzip")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                  length=len(body), http_headers=http))
    return out.getvalue()


def store_capture(store: Any, catalog: Catalog, n: int, marketplace: str, url: str,
                  html: bytes, *, kind: str = "search", results: list[dict[str, Any]] | None
                  = None, listing: dict[str, Any] | None = None, run: str = "RUN1",
                  dom_size: int | None = None) -> dict[str, Any]:
    """A capture as the evidence pipeline stores it (DOM and WARC blobs, the manifest), and
    indexed."""
    dom = store.put_blob(html, "text/html")
    warc = _warc(url, html)
    stored_warc = store.put_blob(warc, "application/warc")
    when = WHEN + dt.timedelta(seconds=n)
    capture_id = f"01SEARCH{n:018d}"
    manifest = {
        "schema": 1, "capture_id": capture_id, "kind": kind, "run_id": run,
        "watch": {"marketplace": marketplace, "brand": "Lumara", "term": "lumara",
                  "case": None},
        "request_url": url, "final_url": url, "status": 200,
        "started_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "finished_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "artifacts": [
            {"name": "page.warc.gz", "media_type": "application/warc", "size": len(warc),
             "sha256": stored_warc.sha256, "key": blob_key(stored_warc.sha256)},
            {"name": "dom.html", "media_type": "text/html", "size": dom_size or len(html),
             "sha256": dom.sha256, "key": blob_key(dom.sha256)}],
        "listing": listing,
        "search": {"page": 1, "results": results or []} if kind == "search" else None,
        "browser": {"name": "chromium"}, "notes": {},
    }
    key = manifest_key(capture_id, when)
    data = canonical_json(manifest)
    store.put_document(key, data, "application/json")
    catalog.index_capture(manifest, key, hashlib.sha256(data).hexdigest())
    return manifest


def _case(case: Path) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    meta = json.loads((case / "case.json").read_text("utf-8"))
    expected = json.loads((case / "expected.json").read_text("utf-8"))
    return meta, expected, gzip.decompress((case / "page.html.gz").read_bytes())


def _check(rows: list[dict[str, Any]], expected: dict[str, Any], where: str) -> None:
    real = [r for r in rows if not r["placeholder"]]
    if "count" in expected:
        assert len(real) == expected["count"], where
    if "sponsored_count" in expected:
        assert sum(bool(r["sponsored"]) for r in real) == expected["sponsored_count"], where
    for i, want in enumerate(expected.get("first", [])):
        got = {k: (bool(v) if k == "sponsored" else v) for k, v in real[i].items()}
        assert {k: got.get(k) for k in want} == want, f"{where} result {i + 1}"
    organic = [r["organic_position"] for r in rows if r["organic_position"] is not None]
    assert organic == list(range(1, len(organic) + 1)), where
    assert not any(r["organic_position"] for r in rows if r["sponsored"] or r["placeholder"])


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("source", ["dom", "warc"])
def test_saved_search_pages_restored(tmp_path: Path, source: str) -> None:
    store = local_store(tmp_path / "store")
    with Catalog(tmp_path / "catalog.db") as catalog:
        cases = {}
        for n, case in enumerate(SEARCH_CASES, start=1):
            meta, expected, html = _case(case)
            manifest = store_capture(store, catalog, n, case.parent.name, meta["url"], html)
            cases[manifest["capture_id"]] = (case, expected)
        before = _digests(tmp_path / "store")
        report = reparse(store, catalog, FrozenClock(WHEN), source=source)
        assert report.skipped == {} and report.by_kind == {"search": len(SEARCH_CASES)}
        assert len(report.written) == len(SEARCH_CASES)
        after = _digests(tmp_path / "store")
        assert {k: after[k] for k in before} == before
        for capture_id, (case, expected) in cases.items():
            where = f"{case.parent.name}/{case.name} from the {source}"
            rows = newest_results(catalog, capture_id)
            _check(rows, expected, where)
            key = next(k for k in report.written if f"/{capture_id}/" in k)
            record = json.loads(store.read_document(key))
            assert record["source"]["kind"] == ("dom" if source == "dom" else "warc-response")
            assert record["strategy"] == rows[0]["strategy"] and record["parsed_at"] \
                == "2026-03-01T12:00:00.000000Z", where
        again = reparse(store, catalog, FrozenClock(WHEN), source=source)
        assert again.written == [] and again.unchanged == len(SEARCH_CASES)


def test_versions_sponsored_and_rebuild_on_both_engines(tmp_path: Path,
                                                        catalog_uri: str) -> None:
    store = local_store(tmp_path / "store")
    case = PAGES / "aliexpress" / "search-1"
    meta, expected, html = _case(case)
    wrong = [{"position": 1, "url": "https://www.aliexpress.com/item/1.html",
              "listing_id": "1", "title": "kept as captured", "price": None, "currency": None,
              "sponsored": False, "placeholder": False, "organic_position": 1}]
    with Catalog(catalog_uri) as catalog:
        search = store_capture(store, catalog, 1, "aliexpress", meta["url"], html,
                               results=wrong)
        truth = reparse(store, catalog, FrozenClock(WHEN), kinds=("search",))
        assert len(truth.written) == 1
        rows = newest_results(catalog, search["capture_id"])
        _check(rows, expected, "aliexpress/search-1")
        advert = next(r for r in rows if r["sponsored"])
        # a listing of the same run reached from that advert, its own record not sponsored
        item = store_capture(store, catalog, 2, "aliexpress", advert["url"], b"<html></html>",
                             kind="listing", listing={"listing_id": advert["listing_id"],
                                                      "sponsored": False, "title": "x"})
        assert item["capture_id"] in sponsored_captures(catalog)
        versions = result_versions(catalog, search)
        assert [v["origin"] for v in versions] == ["capture", truth.written[0]]
        assert [len(v["rows"]) for v in versions] == [1, len(rows)]
        assert [r["newest"] for r in versions[0]["rows"]] == [0]
        # re-indexing the captures (as `catalog index` would) keeps the re-parse the newest
        for key in store.list_documents("captures/"):
            data = store.read_document(key)
            catalog.index_capture(json.loads(data), key, hashlib.sha256(data).hexdigest())
        assert newest_results(catalog, search["capture_id"]) == rows
        shown = {r["capture_id"] for r in catalog.query("SELECT capture_id FROM search_results")}
        catalog.rebuild(store)
        assert newest_results(catalog, search["capture_id"]) == rows
        assert result_versions(catalog, search) == versions
        assert item["capture_id"] in sponsored_captures(catalog)
        assert shown == {r["capture_id"] for r in catalog.query(
            "SELECT capture_id FROM search_results")}


def test_hostile_doms_reported_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    store = local_store(tmp_path / "store")
    meta, expected, html = _case(PAGES / "ebay" / "search-1")
    with Catalog(tmp_path / "catalog.db") as catalog:
        good = store_capture(store, catalog, 1, "ebay", meta["url"], html)
        # a DOM bigger than the cap: not read (nor is its WARC, asked for the DOM only)
        huge = store_capture(store, catalog, 2, "ebay", meta["url"] + "&p=2",
                             html + b"<!--" + b"x" * 4096 + b"-->")
        monkeypatch.setattr(reparse_mod, "MAX_DOM_BYTES", len(html) + 1024)
        # a DOM altered in the store after capture
        altered = store_capture(store, catalog, 3, "ebay", meta["url"] + "&p=3",
                                html.replace(b"</body>", b"<p>3</p></body>"))
        dom_sha = next(a["sha256"] for a in altered["artifacts"] if a["name"] == "dom.html")
        overwrite_stored(store, blob_key(dom_sha), html.replace(b"ebay", b"ebax", 5))
        # malformed markup: binary garbage, unclosed tags, deep nesting
        junk = (b"\x00\xff<html><body>" + b"<div>" * 5000 + b"<a href='/itm/1'>\xfe"
                + b"<table><tr><td>" * 300)
        broken = store_capture(store, catalog, 4, "ebay", meta["url"] + "&p=4", junk)
        report = reparse(store, catalog, FrozenClock(WHEN), source="dom")
        assert report.examined == 4
        assert set(report.skipped) == {huge["capture_id"], altered["capture_id"],
                                       broken["capture_id"]}, report.skipped
        assert "no stored DOM within the size cap" in report.skipped[huge["capture_id"]]
        assert "does not match its digest" in report.skipped[altered["capture_id"]]
        assert "no layer found a search result" in report.skipped[broken["capture_id"]]
        assert len(report.written) == 1 and f"/{good['capture_id']}/" in report.written[0]
        _check(newest_results(catalog, good["capture_id"]), expected, "ebay/search-1")
        assert newest_results(catalog, broken["capture_id"]) == []


def test_own_results_shown_until_a_reparse(tmp_path: Path) -> None:
    """Nothing is indexed for a search capture until it is re-parsed (so a catalog migrated
    from an earlier release is the one rebuilt from its store): what is shown is then the
    capture's own results, read from its manifest."""
    store = local_store(tmp_path / "store")
    own = [{"position": 1, "url": "https://shop.test/item/1", "listing_id": "1",
            "title": "<b>own</b>", "price": "3.50", "currency": "EUR", "seller_name": None,
            "sponsored": True, "placeholder": False, "organic_position": None}]
    with Catalog(tmp_path / "catalog.db") as catalog:
        manifest = store_capture(store, catalog, 1, "ebay", own[0]["url"], b"<html></html>",
                                 results=own)
        assert catalog.query("SELECT * FROM search_results") == []
        shown = shown_results(catalog, manifest)
        assert [(r["url"], r["sponsored"], r["title"], r["origin"], r["newest"])
                for r in shown] == [(own[0]["url"], 1, "<b>own</b>", "capture", 1)]
        versions = result_versions(catalog, manifest)
        assert [(v["origin"], v["results"], v["rows"]) for v in versions] == [
            ("capture", 1, shown)]
        catalog.rebuild(store)
        assert catalog.query("SELECT * FROM search_results") == []
        assert shown_results(catalog, manifest) == shown
