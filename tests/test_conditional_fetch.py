"""Conditional fetches of static assets (crawler/recording/conditional.py), end to end.

A real `markwatch crawl` (Chromium, the recording proxy, the local store) of a Kiosk whose
pages load a script, a style sheet and a font with validators (`tests/sites/cached_kiosk.py`):
later captures ask with `If-None-Match` / `If-Modified-Since`, the site answers 304, the
browser is served the stored response and the WARC records a server-not-modified revisit; the
`immutable` font is not fetched again at all. The document, the XHR and images are always
fetched in full. The WACZ of such a capture alone passes `wacz validate` and pywb replays its
script byte for byte; `verify` passes, in the store and in a bundle. A site that ignores
validators (200 always) is recorded as usual.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.clock import SystemClock
from crawler.evidence.verify import Verifier
from crawler.export import get_exporter
from crawler.recording import conditional
from crawler.recording.http1 import Head
from crawler.seal import standalone_verify as sv
from crawler.seal.config import SealConfig
from storage.local import LocalStore
from storage.uri import open_store
from tests.helpers import CliResult, run_markwatch, watchlist_for
from tests.sites.cached_kiosk import APP_JS, FONT, CachedKiosk
from tests.test_fidelity import _fetch, free_port, records, replay_venv  # noqa: F401

pytestmark = pytest.mark.browser
STATIC = ("/static/app.js", "/static/site.css", "/static/face.woff2")
SETTINGS = ("settings: {max_pages: 1, max_listings: 4, egress: {allow: [127.0.0.1]}}\n")


def crawl(root: Path, site: CachedKiosk, *extra: str) -> tuple[CliResult, dict[str, Any]]:
    (root / "watchlist.yaml").write_text(watchlist_for("kiosk", site.base_url, ("lumara",),
                                                       SETTINGS), encoding="utf-8")
    result = run_markwatch(["crawl", "-w", "watchlist.yaml", "--store", f"file://{root}/store",
                            "--report-json", "report.json", "--log-level", "WARNING", *extra],
                           cwd=root)
    path = root / "report.json"
    return result, json.loads(path.read_text()) if path.exists() else {}


def manifests(store: Path) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in (store / "captures").rglob("*.json")]
    return sorted(found, key=lambda m: m["started_at"])


def warc_of(store: Path, manifest: dict[str, Any]) -> Path:
    entry = next(a for a in manifest["artifacts"] if a["name"] == "page.warc.gz")
    return store / entry["key"]


@pytest.fixture(scope="module")
def revalidated(tmp_path_factory: pytest.TempPathFactory, chromium: str
                ) -> Iterator[tuple[Path, CachedKiosk, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("conditional")
    with CachedKiosk() as site:
        result, report = crawl(root, site)
        assert result.code == 0, result.err[-3000:]
        yield root / "store", site, report


def later(store: Path) -> dict[str, Any]:
    """A capture that was served scripts and styles from the store after a 304."""
    for manifest in manifests(store):
        if (manifest["notes"].get("static_revalidation") or {}).get("conditional_304"):
            return manifest
    raise AssertionError("no capture had a 304")


def test_later_captures_revalidate_scripts_styles_and_fonts(
        revalidated: tuple[Path, CachedKiosk, dict[str, Any]]) -> None:
    store, site, report = revalidated
    assert report["counts"]["failures"] == 0
    captures = manifests(store)
    assert len(captures) >= 4
    # only scripts, styles and fonts were ever asked for conditionally
    asked = [r for r in site.requests if r["if_none_match"] or r["if_modified_since"]]
    assert asked and {r["path"] for r in asked} <= set(STATIC)
    assert {r["dest"] for r in asked} <= conditional.STATIC_DESTS
    assert any(r["path"] == "/static/app.js" and r["status"] == 304 for r in asked)
    assert any(r["path"] == "/static/site.css" and r["if_modified_since"] and r["status"] == 304
               for r in asked)
    # the document, the XHR and the image: fetched in full for every capture
    for path in ("/api/ping", "/static/logo.png"):
        hits = site.of(path)
        assert len(hits) >= len(captures) - 1 and all(r["status"] == 200 for r in hits), path
    documents = [r for r in site.requests if r["path"].startswith(("/p/", "/find"))]
    assert documents and not any(r["if_none_match"] for r in documents)
    # the immutable font: fetched by the first captures only
    fonts = site.of("/static/face.woff2")
    skipped = sum((m["notes"].get("static_revalidation") or {}).get("immutable_skipped", 0)
                  for m in captures)
    assert skipped >= 1 and len(fonts) + skipped >= len(captures) - 1
    # the second capture's WARC: a 304 revisit naming the original, and the response served
    second = later(store)
    recs = records(warc_of(store, second))
    not_modified = [r for r in recs if r["rec"].get_header("WARC-Profile")
                    == conditional.NOT_MODIFIED]
    assert {r["url"].split("127.0.0.1", 1)[1].split(":", 1)[1].split("/", 1)[1]
            for r in not_modified} >= {"static/app.js", "static/site.css"}
    for record in not_modified:
        assert record["http"].get_statuscode() == "304"
        assert record["rec"].get_header("WARC-Refers-To")
        assert record["rec"].get_header("WARC-Refers-To-Target-URI") == record["url"]
    served = [r for r in recs if r["rec"].get_header(conditional.SERVED)]
    assert {r["url"] for r in served} >= {r["url"] for r in not_modified}
    app = next(r for r in served if r["url"].endswith("/static/app.js"))
    sha = app["rec"].get_header("WARC-Markwatch-Payload-SHA256")
    assert sha == hashlib.sha256(APP_JS).hexdigest()
    assert (store / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha).read_bytes() == APP_JS
    meta = next(r for r in recs if (r["url"] or "").endswith(":capture.json"))
    assert json.loads(meta["payload"])["static_revalidation"] == \
        second["notes"]["static_revalidation"]
    font = [r for m in captures for r in records(warc_of(store, m))
            if (r["rec"].get_header(conditional.FETCH) or "").startswith(
                "not fetched: immutable, fresh until ")]
    assert font and font[0]["url"].endswith("/static/face.woff2")
    assert font[0]["rec"].get_header("WARC-Markwatch-Payload-SHA256") == \
        hashlib.sha256(FONT).hexdigest()


def test_verify_passes_in_the_store_and_in_a_bundle(
        revalidated: tuple[Path, CachedKiosk, dict[str, Any]], tmp_path: Path) -> None:
    store, _, _ = revalidated
    verifier = Verifier(LocalStore(store))
    for manifest in manifests(store):
        verdict = verifier.verify(manifest["capture_id"])
        assert verdict.ok, verdict.problems
    second = later(store)
    out = tmp_path / "second.zip"
    get_exporter("bundle")(open_store(f"file://{store}"), None, [second["capture_id"]], out,
                           seal_config=SealConfig(), clock=SystemClock(), pdf=False)
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(folder)
    bundle = sv.Bundle(str(next(folder.iterdir())))
    try:
        finding = sv.Finding()
        line = sv.check_warc(bundle, second, finding)
    finally:
        bundle.close()
    assert finding.status != sv.FAILED, finding.lines
    assert line and f"warc/{second['capture_id']}.warc.gz matches it record for record" in line


def test_wacz_of_the_second_capture_alone_validates_and_replays(
        revalidated: tuple[Path, CachedKiosk, dict[str, Any]],
        replay_venv: Path,  # noqa: F811 - the fixture of tests/test_fidelity.py
        tmp_path: Path) -> None:
    store, _, _ = revalidated
    second = later(store)
    out = tmp_path / "second.wacz"
    get_exporter("wacz")(open_store(f"file://{store}"), None, [second["capture_id"]], out,
                         seal_config=SealConfig(), clock=SystemClock())
    check = subprocess.run([str(replay_venv / "wacz"), "validate", "-f", str(out)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "is valid" in check.stdout, check.stdout + check.stderr
    site = tmp_path / "pywb"
    site.mkdir()
    for args in (["init", "evidence"], ["add", "--unpack-wacz", "evidence", str(out)]):
        subprocess.run([str(replay_venv / "wb-manager"), *args], cwd=site, check=True,
                       capture_output=True)
    port = free_port()
    wayback = subprocess.Popen([str(replay_venv / "wayback"), "--bind", "127.0.0.1", "-p",
                                str(port)], cwd=site, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        page = _fetch(f"http://127.0.0.1:{port}/evidence/mp_/{second['final_url']}")
        assert b"item-name" in page
        base = second["final_url"].split("/p/", 1)[0]
        script = _fetch(f"http://127.0.0.1:{port}/evidence/id_/{base}/static/app.js")
        assert script == APP_JS
    finally:
        wayback.terminate()
        wayback.wait(10)


def test_a_site_that_ignores_validators_is_recorded_in_full(tmp_path: Path, chromium: str
                                                            ) -> None:
    with CachedKiosk(ignore_validators=True) as site:
        result, report = crawl(tmp_path, site)
    assert result.code == 0, result.err[-3000:]
    assert report["counts"]["failures"] == 0
    store = tmp_path / "store"
    captures = manifests(store)
    changed = sum((m["notes"].get("static_revalidation") or {}).get("conditional_changed", 0)
                  for m in captures)
    assert changed >= 1
    assert not any(r["status"] == 304 for r in site.requests)
    for manifest in captures:
        recs = records(warc_of(store, manifest))
        assert not [r for r in recs if r["rec"].get_header("WARC-Profile")
                    == conditional.NOT_MODIFIED]
        assert Verifier(LocalStore(store)).verify(manifest["capture_id"]).ok


def test_off_sends_no_conditional_request(tmp_path: Path, chromium: str) -> None:
    with CachedKiosk() as site:
        result, _ = crawl(tmp_path, site, "-s", "EVIDENCE_STATIC_REVALIDATE=off")
    assert result.code == 0, result.err[-3000:]
    assert site.requests and not any(r["if_none_match"] or r["if_modified_since"]
                                     for r in site.requests)


# -- the index on its own ---------------------------------------------------------------------


def _head(text: str) -> Head:
    lines = text.encode().split(b"\r\n")
    return Head(lines[0], lines[1:])


def test_only_static_destinations_without_their_own_validators_are_looked_up() -> None:
    import datetime as dt

    from crawler.recording import dedup

    index = conditional.StaticIndex("immutable")
    at = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    original = dedup.Original("https://s.example/a.js", "2026-12-05T00:00:00Z", "<urn:x>", "A")
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 600\r\nETag: \"v1\"\r\n\r\n"
    assert index.remember("https://s.example/a.js", None, "script", 200, head, "0" * 64, 600,
                          "sha256:X", "sha256:Y", at, original)
    assert not index.remember("https://s.example/b.json", None, "empty", 200, head, "1" * 64,
                              600, "sha256:X", "sha256:Y", at, original)
    cookie = head[:-2] + b"Set-Cookie: a=b\r\n\r\n"
    assert not index.remember("https://s.example/c.js", None, "script", 200, cookie, "2" * 64,
                              600, "sha256:X", "sha256:Y", at, original)
    get = "GET /a.js HTTP/1.1\r\nHost: s.example\r\nSec-Fetch-Dest: {}"
    assert index.lookup("https://s.example/a.js", _head(get.format("script"))) is not None
    for dest in ("document", "iframe", "empty", "image"):
        assert index.lookup("https://s.example/a.js", _head(get.format(dest))) is None
    ranged = get.format("script") + "\r\nRange: bytes=0-10"
    assert index.lookup("https://s.example/a.js", _head(ranged)) is None
    immutable = (b"HTTP/1.1 200 OK\r\nContent-Length: 600\r\n"
                 b"Cache-Control: public, max-age=60, immutable\r\n\r\n")
    assert index.remember("https://s.example/f.woff2", None, "font", 200, immutable, "3" * 64,
                          600, "sha256:X", "sha256:Y", at, original)
    stored = index.lookup("https://s.example/f.woff2", _head(get.format("font")))
    assert stored is not None
    assert index.skip_network(stored, at + dt.timedelta(seconds=59)) == \
        "not fetched: immutable, fresh until 2026-12-05T00:01:00.000000Z"
    assert index.skip_network(stored, at + dt.timedelta(seconds=60)) is None
    small = conditional.StaticIndex("conditional", max_entries=2)
    for n in range(5):
        small.remember(f"https://s.example/{n}.js", None, "script", 200, head, str(n) * 64, 600,
                       "sha256:X", "sha256:Y", at, original)
    assert len(small) == 2


def test_payloads_are_read_from_the_store_once_checked_and_kept_within_a_bound(
        tmp_path: Path) -> None:
    from crawler.recording import dedup
    from crawler.recording.crawl_dedup import BlobReader

    store = LocalStore(tmp_path / "store")
    bodies = [bytes([n]) * 3000 for n in range(4)]
    shas = [store.put_blob(body, "text/css").sha256 for body in bodies]
    reads: list[str] = []
    blob_reader = BlobReader(store=store)

    def reader(sha256: str) -> bytes | None:
        reads.append(sha256)
        return blob_reader(sha256)

    original = dedup.Original("https://s.example/a.css", "2026-12-06T00:00:00Z", "<urn:x>", "A")

    def response(n: int, sha256: str, size: int = 3000) -> conditional.StoredResponse:
        return conditional.StoredResponse(f"https://s.example/{n}.css", "", b"HTTP/1.1 200 OK\r\n"
                                          b"\r\n", sha256, size, "sha256:X", "sha256:Y",
                                          '"v1"', None, None, original)

    index = conditional.StaticIndex("conditional", reader=reader, max_payload_bytes=7000)
    first = response(0, shas[0])
    assert index.payload(first) == bodies[0] and index.payload(first) == bodies[0]
    assert reads == [shas[0]] and index.payload_reads == 1  # read once, then the checked copy
    assert index.payload_bytes == 3000
    # a payload that does not match its SHA-256 (or size) is neither served nor kept
    wrong = response(9, shas[1], size=2999)
    assert index.payload(wrong) is None and index.payload_bytes == 3000
    store_path = tmp_path / "store" / store.put_blob(bodies[2], "text/css").key
    store_path.chmod(0o644)
    store_path.write_bytes(b"altered" + bodies[2][7:])  # altered in the store after it was put
    assert index.payload(response(2, shas[2])) is None and index.payload_bytes == 3000
    # at most max_payload_bytes are kept: the least recently served goes first
    for n in (1, 3):
        assert index.payload(response(n, shas[n])) == bodies[n]
    assert index.payload_bytes == 6000 and index.payload_bytes <= index.max_payload_bytes
    reads.clear()
    assert index.payload(first) == bodies[0]  # 0 was dropped for 3: read again
    assert reads == [shas[0]] and index.payload_bytes == 6000
    big = conditional.StaticIndex("conditional", reader=reader, max_payload_bytes=2000)
    assert big.payload(first) == bodies[0] and big.payload_bytes == 0  # larger than the bound


def test_the_setting_is_parsed_once_and_checked() -> None:
    from types import SimpleNamespace

    from scrapy.settings import Settings

    from crawler.exceptions import ConfigError
    from crawler.recording.crawl_dedup import crawl_dedup
    from tests.helpers import project_config as config

    def crawler(**values: Any) -> Any:
        settings = Settings()
        settings.setmodule("crawler.settings")
        settings.setdict(values)
        return SimpleNamespace(settings=settings)

    assert config().static_revalidate == "immutable"
    assert config(EVIDENCE_STATIC_REVALIDATE="Conditional").static_revalidate == "conditional"
    with pytest.raises(ConfigError, match="EVIDENCE_STATIC_REVALIDATE must be one of"):
        config(EVIDENCE_STATIC_REVALIDATE="sometimes")
    off = crawler(EVIDENCE_STATIC_REVALIDATE="off")
    index = crawl_dedup(off)
    assert index is not None and index.static is None and crawl_dedup(off) is index
    both = crawl_dedup(crawler())
    assert both is not None and both.static is not None and both.static.mode == "immutable"
    assert crawl_dedup(crawler(EVIDENCE_DEDUP=False)) is None
