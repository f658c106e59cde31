"""Re-parsing from WARC response records (`crawler.fields.warc_source`): a real crawl of a
local marketplace fetched without a browser, whose markup then changes, is re-parsed from the
response records of its WARCs and gets its fields back without one stored byte changing; the
record names the WARC record it read. A real Chromium crawl of the demo marketplace, recorded
byte-exact, re-parses from its gzip-encoded WARC responses to the very fields it captured.
Then the reading itself on WARCs written by warcio:
chunked gzip and brotli bodies, a declared non-UTF-8 charset, a deduplicated (revisit)
payload, a redirect before the page, and what is refused (altered WARC or blob, bombs)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.fields.warc_source import WarcSourceError, document, read_page
from crawler.recording import dedup
from storage.layout import blob_key
from tests.helpers import local_store, overwrite_stored, run_markwatch
from tests.sites.drift import ITEMS, Drift

RECIPE = """\
version: 1
settings:
  max_pages: 1
  max_listings: 6
  egress: {{allow: [127.0.0.1]}}
brands:
  - name: Lumara
    terms: ["lumara"]
    marketplaces: [drift]
marketplaces:
  drift:
    base_url: "{base}"
    search_url: "{{base_url}}/search?q={{term}}"
    render: {{search: false, listing: false}}
    search:
      result: "li.hit"
      link: "a.hit-link::attr(href)"
    listing:
      id_from_url: "/item/(?P<id>[a-z0-9]+)"
      fields:
        title: "h1.name::text"
        price: ".price::text"
        seller_name: {seller}
"""
OLD_SELLER = '".seller a::text"'
FIXED_SELLER = '[".seller a::text", ".mrc-name::text"]'


@pytest.fixture(scope="module")
def drift() -> Iterator[Drift]:
    with Drift() as site:
        yield site


def _cli(root: Path, *args: str) -> Any:
    return run_markwatch(list(args), cwd=root,
                         env={"MARKWATCH_STORE": f"file://{root / 'store'}"})


def _digests(store: Path) -> dict[str, str]:
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(store.rglob("*")) if p.is_file()
            and not p.name.startswith("catalog")}


def test_unrendered_capture_reparsed_from_its_warc(tmp_path: Path, drift: Drift) -> None:
    watchlist = tmp_path / "w.yaml"
    watchlist.write_text(RECIPE.format(base=drift.base_url, seller=OLD_SELLER), "utf-8")
    urllib.request.urlopen(f"{drift.base_url}/__admin/layout?v=2", timeout=10).read()
    try:
        crawl = run_markwatch(["crawl", "-w", "w.yaml", "--store",
                               f"file://{tmp_path / 'store'}", "--report-json", "r.json"],
                              cwd=tmp_path)
    finally:
        urllib.request.urlopen(f"{drift.base_url}/__admin/layout?v=1", timeout=10).read()
    report = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert crawl.code == 0, crawl.err[-3000:]
    run_id = report["run_id"]
    listed = json.loads(_cli(tmp_path, "evidence", "list", "--kind", "listing", "--run", run_id,
                             "--format", "json").out)
    assert len(listed) == len(ITEMS) and all(r["seller_name"] is None for r in listed)

    store = tmp_path / "store"
    before = _digests(store)
    watchlist.write_text(RECIPE.format(base=drift.base_url, seller=FIXED_SELLER), "utf-8")
    out = _cli(tmp_path, "reparse", "--run", run_id, "-w", "w.yaml", "--format", "json")
    assert out.code == 0, out.err
    assert json.loads(out.out)["written"] == len(ITEMS)
    after = _digests(store)
    assert {k: after[k] for k in before} == before  # not one stored byte changed
    new = sorted(set(after) - set(before))
    assert new and all(k.startswith("derived/reparse/") for k in new)

    rows = json.loads(_cli(tmp_path, "evidence", "list", "--kind", "listing", "--run", run_id,
                           "--format", "json").out)
    assert {r["listing_id"]: r["seller_name"] for r in rows} == {i.sku: i.seller for i in ITEMS}
    # each record names the WARC response record it parsed, and that record is in the WARC
    for key in new:
        record = json.loads((store / key).read_text("utf-8"))
        source = record["source"]
        assert source["kind"] == "warc-response" and record["dom_sha256"] is None
        manifest = json.loads((store / record["manifest_key"]).read_text("utf-8"))
        warc = next(a for a in manifest["artifacts"] if a["name"] == "page.warc.gz")
        assert source["warc_sha256"] == warc["sha256"]
        with (store / blob_key(warc["sha256"])).open("rb") as fh:
            responses = {r.rec_headers.get_header("WARC-Record-ID"):
                         (r.rec_headers.get_header("WARC-Target-URI"),
                          r.rec_headers.get_header("WARC-Payload-Digest"))
                         for r in ArchiveIterator(fh) if r.rec_type == "response"}
        assert responses[source["record_id"]] == (manifest["final_url"],
                                                  source["payload_digest"])
    # the DOM is still what `--source dom` reads: the same fields, so nothing new to write
    again = _cli(tmp_path, "reparse", "--run", run_id, "-w", "w.yaml", "--source", "dom",
                 "--format", "json")
    assert again.code == 0 and json.loads(again.out)["written"] == 0, again.out + again.err
    assert _cli(tmp_path, "verify", "--all").code == 0


# -- reading a WARC -------------------------------------------------------------------------

PAGE = "<html><head><title>検索</title></head><body><h1>ルマラ バッグ</h1></body></html>"


def _http(status: str, headers: list[tuple[str, str]]) -> StatusAndHeaders:
    return StatusAndHeaders(status, headers, protocol="HTTP/1.1")


def _warc(records: list[tuple[str, str, StatusAndHeaders, bytes, dict[str, str]]]) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    for kind, uri, http, body, extra in records:
        record = writer.create_warc_record(uri, kind, payload=io.BytesIO(body),
                                           length=len(body), http_headers=http,
                                           warc_headers_dict=extra)
        writer.write_record(record)
    return out.getvalue()


def _capture(store: Any, warc: bytes, url: str, request_url: str | None = None,
             browser: str = "none") -> dict[str, Any]:
    stored = store.put_blob(warc, "application/warc")
    artifacts = [{"name": "page.warc.gz", "sha256": stored.sha256, "size": len(warc)}]
    return {"capture_id": "C1", "final_url": url, "request_url": request_url or url,
            "browser": {"name": browser}, "artifacts": artifacts}


def _chunked(data: bytes, size: int = 7) -> bytes:
    parts = [f"{len(data[i:i + size]):x}\r\n".encode() + data[i:i + size] + b"\r\n"
             for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_chunked_gzip_body_in_a_declared_charset(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    url = "https://item.rakuten.test/shop/1/"
    body = _chunked(gzip.compress(PAGE.encode("euc-jp")))
    warc = _warc([("response", url, _http("200 OK", [
        ("Content-Type", "text/html; charset=EUC-JP"), ("Content-Encoding", "gzip"),
        ("Transfer-Encoding", "chunked")]), body, {})])
    doc = document(store, _capture(store, warc, url))
    assert doc is not None and doc.status == 200 and "ルマラ バッグ" in doc.text
    assert doc.source()["kind"] == "warc-response" and doc.record_id.startswith("<urn:")
    assert doc.payload_digest and not doc.deduplicated


def test_brotli_body_after_a_redirect(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    first, final = "https://shop.test/item?id=1", "https://shop.test/item/1"
    warc = _warc([
        ("response", first, _http("301 Moved", [("Location", final)]), b"", {}),
        ("response", final, _http("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                             ("Content-Encoding", "br")]),
         brotli.compress(PAGE.encode()), {}),
    ])
    doc = document(store, _capture(store, warc, final, request_url=first))
    assert doc is not None and doc.url == final and "<h1>ルマラ バッグ</h1>" in doc.text


def test_deduplicated_payload_read_from_its_blob(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    url = "https://shop.test/item/2"
    payload = PAGE.encode()
    blob = store.put_blob(payload, "application/octet-stream").sha256
    head = _http("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                            ("Content-Length", str(len(payload)))])
    warc = _warc([("revisit", url, head, b"", {
        "WARC-Profile": dedup.PROFILE, dedup.PAYLOAD_SHA256: blob,
        dedup.PAYLOAD_LENGTH: str(len(payload)), dedup.MATERIALISE_AS: "response"})])
    manifest = _capture(store, warc, url)
    doc = document(store, manifest)
    assert doc is not None and doc.deduplicated and "ルマラ" in doc.text
    overwrite_stored(store, blob_key(blob), payload.replace(b"h1", b"h2"))
    with pytest.raises(WarcSourceError, match="altered"):
        document(store, manifest)


def test_sources_chosen_and_refusals_explained(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    url = "https://shop.test/item/3"
    only_info = _warc([])  # a capture stored before plain fetches were recorded
    old = _capture(store, only_info, url)
    assert document(store, old) is None
    dom = b"<html><h1>from the DOM</h1></html>"
    got = read_page(store, old, "auto", lambda: dom)
    assert not isinstance(got, str) and got.source == {
        "kind": "dom", "sha256": hashlib.sha256(dom).hexdigest()}
    assert read_page(store, old, "warc", lambda: dom) == \
        "no response record for the page in its WARC"

    warc = _warc([("response", url, _http("200 OK", [("Content-Type", "text/html")]),
                   PAGE.encode(), {})])
    fresh = _capture(store, warc, url, browser="chromium")
    got = read_page(store, fresh, "auto", lambda: dom)  # rendered: its DOM first
    assert not isinstance(got, str) and got.source["kind"] == "dom"
    got = read_page(store, fresh, "warc", lambda: dom)  # what the server sent
    assert not isinstance(got, str) and got.source["kind"] == "warc-response"

    overwrite_stored(store, blob_key(fresh["artifacts"][0]["sha256"]), warc[:-10])
    why = read_page(store, fresh, "warc", lambda: None)
    assert isinstance(why, str) and "altered in the store" in why


def test_decompression_bomb_refused(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    url = "https://shop.test/bomb"
    bomb = gzip.compress(b"\0" * (60 * 1024 * 1024), compresslevel=9)
    warc = _warc([("response", url, _http("200 OK", [("Content-Type", "text/html"),
                                                       ("Content-Encoding", "gzip")]),
                   bomb, {})])
    with pytest.raises(WarcSourceError, match="cannot be decoded"):
        document(store, _capture(store, warc, url))
    why = read_page(store, _capture(store, warc, url), "auto", lambda: None)
    assert isinstance(why, str) and "cannot be decoded" in why


def test_plain_fetch_recorded_without_proxy_credentials(tmp_path: Path) -> None:
    """A page fetched by plain Scrapy goes into its WARC as a request/response pair; the
    operator's proxy credentials do not."""
    import datetime as dt

    from scrapy.http import HtmlResponse, Request

    from crawler.evidence.plain_fetch import response_exchange
    from crawler.evidence.warc_decoded import write_warc
    from crawler.middlewares.timing import STARTED_META

    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    request = Request("https://shop.test/item/4", meta={STARTED_META: at}, headers={
        "Proxy-Authorization": "Basic c2VjcmV0OnNlY3JldA==", "Accept-Language": "en"})
    body = PAGE.encode("euc-jp")
    response = HtmlResponse(request.url, status=200, body=body, request=request, headers={
        "Content-Type": "text/html; charset=EUC-JP"})
    out = io.BytesIO()
    write_warc(out, [response_exchange(response)], {"software": "test"}, capture_id="C4", at=at)
    raw = out.getvalue()
    assert b"c2VjcmV0" not in gzip.decompress(raw) and b"Proxy-Authorization" not in \
        gzip.decompress(raw)
    records = list(ArchiveIterator(io.BytesIO(raw)))
    assert [r.rec_type for r in records] == ["warcinfo", "response", "request"]
    assert records[1].rec_headers.get_header("WARC-Date") == "2026-01-02T03:04:05.000000Z"
    store = local_store(tmp_path)
    doc = document(store, _capture(store, raw, request.url))
    assert doc is not None and "ルマラ バッグ" in doc.text  # EUC-JP declared, decoded


def test_rendered_capture_reparsed_from_its_byte_exact_warc(tmp_path: Path) -> None:
    """A capture rendered in Chromium and recorded byte-exact by the recording proxy: the
    document's response (gzip-encoded by the demo marketplace) read back from the WARC gives
    the same fields (and search results) as the capture, so `--source warc` writes nothing
    and skips nothing."""
    from crawler.demo.server import DemoMarketplace
    from tests.helpers import env_for, write_watchlist

    write_watchlist(tmp_path, max_listings=2)
    store = tmp_path / "store"
    with DemoMarketplace() as market:
        env = env_for(market)
        crawl = run_markwatch(["crawl", "-w", "watchlist.yaml", "--store", f"file://{store}",
                               "-s", "MAX_PAGES=1"], cwd=tmp_path, env=env)
    assert crawl.code == 0, crawl.err[-3000:]
    encodings = []
    searches = 0
    for path in sorted(store.glob("captures/**/*.json")):
        manifest = json.loads(path.read_text("utf-8"))
        searches += manifest.get("kind") == "search"
        if manifest.get("kind") != "listing":
            continue
        assert manifest["browser"]["name"] == "chromium"
        warc = next(a for a in manifest["artifacts"] if a["name"] == "page.warc.gz")
        with (store / blob_key(warc["sha256"])).open("rb") as fh:
            encodings += [r.http_headers.get_header("Content-Encoding")
                          for r in ArchiveIterator(fh) if r.rec_type == "response"
                          and r.rec_headers.get_header("WARC-Target-URI")
                          == manifest["final_url"]]
    assert encodings and set(encodings) == {"gzip"}
    before = _digests(store)
    out = _cli(tmp_path, "reparse", "--source", "warc", "--kind", "listing", "--format", "json")
    assert out.code == 0, out.err
    summary = json.loads(out.out)
    assert summary["examined"] == len(encodings) and summary["skipped"] == {}
    assert summary["unchanged"] == summary["examined"] and summary["written"] == 0
    # the demo's search results are drawn by a script: its rendered DOM gives the results
    # captured (nothing to write), the server's response none (skipped, nothing recorded)
    out = _cli(tmp_path, "reparse", "--kind", "search", "--format", "json")
    summary = json.loads(out.out)
    assert summary["kinds"] == {"search": searches} and searches, out.out + out.err
    assert summary["unchanged"] == searches and summary["written"] == 0, summary
    out = _cli(tmp_path, "reparse", "--kind", "search", "--source", "warc", "--format", "json")
    summary = json.loads(out.out)
    assert summary["written"] == 0 and len(summary["skipped"]) == searches, summary
    assert all("no layer found a search result in the warc-response" in why
               for why in summary["skipped"].values())
    assert _digests(store) == before
