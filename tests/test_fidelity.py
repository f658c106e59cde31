"""Fidelity: byte-exact WARCs through the recording proxy, WACZ that pywb replays, HTTPS, caps."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.browser.capture import CaptureSteps, capture_page
from crawler.config import CaptureLimits
from crawler.demo import DemoMarketplace
from crawler.exceptions import CaptureError
from crawler.recording import RECORDING_META, CaptureRecording, RecordingProxy, release_page
from crawler.recording.headers import tag_page
from crawler.recording.warc_exact import write_capture_warc
from tests.helpers import local_egress

pytestmark = pytest.mark.browser
WARCIO = str(Path(sys.executable).with_name("warcio"))
REPLAY_VENV = Path(os.environ.get("MARKWATCH_REPLAY_VENV",
                                  Path.home() / ".cache" / "markwatch" / "replay-venv"))

CRAWL = """
import json, sys
from crawler.cli.demo import demo_watchlist
from crawler.runs.runner import CrawlOptions, run_crawl
store, base = sys.argv[1], sys.argv[2]
opts = CrawlOptions(demo_watchlist(), f"file://{store}", f"sqlite:///{store}/catalog.db",
                    max_listings=2, settings={"DEMO_BASE_URL": base, "LOG_LEVEL": "WARNING",
                              "EGRESS_ALLOW": ["127.0.0.1"]})
print(json.dumps(run_crawl(opts).to_json()))
"""


def records(path: Path) -> list[dict[str, Any]]:
    out = []
    with path.open("rb") as f:
        for r in ArchiveIterator(f):
            payload = r.content_stream().read() if r.rec_type != "response" else \
                r.raw_stream.read()
            out.append({"type": r.rec_type, "url": r.rec_headers.get_header("WARC-Target-URI"),
                        "rec": r.rec_headers, "http": r.http_headers, "payload": payload})
    return out


@pytest.fixture(scope="module")
def demo_crawl(tmp_path_factory: pytest.TempPathFactory, demo_market: DemoMarketplace,
               chromium: str) -> tuple[Path, dict[str, Any]]:
    store = tmp_path_factory.mktemp("fidelity") / "store"
    done = subprocess.run([sys.executable, "-c", CRAWL, str(store), demo_market.base_url],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["counts"]["failures"] == 0, report
    return store, report


def manifests(store: Path, kind: str) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in (store / "captures").rglob("*.json")]
    return [m for m in found if m["kind"] == kind]


def artifact(store: Path, manifest: dict[str, Any], name: str) -> Path:
    entry = next(a for a in manifest["artifacts"] if a["name"] == name)
    return store / entry["key"]


def server_bytes(market: DemoMarketplace, url: str, request_headers: Any) -> bytes:
    """What the demo server sends for `url` to this request (it is deterministic)."""
    path = url.split(market.base_url, 1)[1]
    response = market.handle(path, request_headers.get_header("Cookie") or "", market.base_url)
    accept = request_headers.get_header("Accept-Encoding") or ""
    if response.compressible and "gzip" in accept:
        return gzip.compress(response.body, mtime=0)
    return response.body


def full_warc(store: Path, manifest: dict[str, Any], dest: Path) -> Path:
    """The capture's WARC with its revisit records restored from the payload blobs."""
    from crawler.evidence.warc_refs import materialise
    from storage.uri import open_store

    with dest.open("wb") as out:
        materialise(open_store(f"file://{store}"), artifact(store, manifest, "page.warc.gz"),
                    out, manifest["capture_id"])
    return dest


def test_warc_is_byte_exact(demo_crawl: tuple[Path, dict[str, Any]],
                            demo_market: DemoMarketplace, tmp_path: Path) -> None:
    store, _ = demo_crawl
    for kind in ("listing", "search"):
        manifest = manifests(store, kind)[0]
        stored = artifact(store, manifest, "page.warc.gz")
        warc = full_warc(store, manifest, tmp_path / f"{kind}.warc.gz")
        for path in (stored, warc):
            check = subprocess.run([WARCIO, "check", "-v", str(path)], capture_output=True,
                                   text=True, check=False)
            assert check.returncode == 0, check.stdout + check.stderr
            assert "digest pass" in check.stdout
        recs = records(warc)
        assert recs[0]["type"] == "warcinfo"
        info = recs[0]["payload"].decode()
        for field in ("software: markwatch/", "browser: chromium", "user-agent:", "viewport:",
                      "robots: obeyed", "watch:", "case:", "egress-ip: 127.0.0.1",
                      "limits-hit: none"):
            assert field in info, field
        requests = {r["rec"].get_header("WARC-Concurrent-To"): r for r in recs
                    if r["type"] == "request"}
        responses = [r for r in recs if r["type"] == "response"]
        urls = {r["url"] for r in responses}
        assert manifest["final_url"] in urls
        for r in responses:
            rid = r["rec"].get_header("WARC-Record-ID")
            assert rid in requests, f"no request record for {r['url']}"
            assert r["rec"].get_header("WARC-IP-Address") == "127.0.0.1"
            assert r["rec"].get_header("WARC-Payload-Digest").startswith("sha256:")
            assert r["rec"].get_header("WARC-Block-Digest").startswith("sha256:")
            assert r["payload"] == server_bytes(demo_market, r["url"], requests[rid]["http"]), \
                r["url"]
        gz = [r for r in responses if r["http"].get_header("Content-Encoding") == "gzip"]
        assert gz and all(r["payload"][:2] == b"\x1f\x8b" for r in gz)
        if kind == "search":
            assert any("/api/search" in u for u in urls)
        else:
            images = [r["url"] for r in responses
                      if r["http"].get_header("Content-Type") == "image/png"]
            listing = json.loads(artifact(store, manifest, "listing.json").read_bytes())
            assert set(listing["images"]) <= set(images)
            names = {a["name"] for a in manifest["artifacts"]}
            assert {"dom.html", "screenshot.webp", "listing.json", "image-01"} <= names
            resources = {r["url"].rsplit(":", 1)[1]: r for r in recs
                         if r["type"] in ("resource", "metadata")}
            assert resources["screenshot.webp"]["payload"] == \
                artifact(store, manifest, "screenshot.webp").read_bytes()
            assert resources["dom.html"]["payload"] == \
                artifact(store, manifest, "dom.html").read_bytes()
            assert "listing.json" in resources


def test_every_capture_records_the_resources_it_shows(
        demo_crawl: tuple[Path, dict[str, Any]]) -> None:
    """Pages share one browser context, but its cache is off: a capture late in the crawl
    still records the stylesheet and scripts that earlier captures fetched first, tagged for
    it and with the tag stripped from the record."""
    store, _ = demo_crawl
    listings = sorted(manifests(store, "listing"), key=lambda m: m["started_at"])
    assert len(listings) >= 2
    for manifest in listings:
        recs = records(artifact(store, manifest, "page.warc.gz"))
        urls = {r["url"] for r in recs if r["type"] in ("response", "revisit")}
        for path in ("/static/style.css", "/static/consent.js", "/static/item.js"):
            assert any(u.endswith(path) for u in urls), (manifest["capture_id"], path)
        for r in recs:
            if r["type"] == "request":
                assert r["http"].get_header("Content-Language") is None


# -- WACZ and pywb --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def replay_venv() -> Path:
    """A venv with `wacz` and `pywb` (kept apart: their pins clash with the project's)."""
    python = REPLAY_VENV / "bin" / "python"
    if not (REPLAY_VENV / "bin" / "wayback").exists():
        subprocess.run([sys.executable, "-m", "venv", str(REPLAY_VENV)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "wacz", "pywb"],
                              capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"could not install wacz and pywb: {done.stderr[-2000:]}")
    return REPLAY_VENV / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_wacz_validates_and_replays_in_pywb(demo_crawl: tuple[Path, dict[str, Any]],
                                           replay_venv: Path, tmp_path: Path) -> None:
    from crawler.clock import SystemClock
    from crawler.export import get_exporter
    from crawler.seal.config import SealConfig
    from storage.uri import open_store

    store, _ = demo_crawl
    listings = manifests(store, "listing")
    ids = [m["capture_id"] for m in listings] + [manifests(store, "search")[0]["capture_id"]]
    out = tmp_path / "evidence.wacz"
    get_exporter("wacz")(open_store(f"file://{store}"), None, ids, out,
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
        listing = listings[0]
        url = f"http://127.0.0.1:{port}/evidence/mp_/{listing['final_url']}"
        html = ""
        for _ in range(60):
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    html = resp.read().decode("utf-8", "replace")
                break
            except OSError:
                time.sleep(0.5)
        assert listing["listing"]["title"] in html
        assert listing["listing"]["price_text"] in html or listing["listing"]["price"] in html
    finally:
        wayback.terminate()
        wayback.wait(10)


# -- deduplicated recording ----------------------------------------------------------------


def revisits(path: Path) -> list[dict[str, Any]]:
    """The revisit records of a stored WARC that name a payload blob."""
    return [r for r in records(path) if r["type"] == "revisit"
            and r["rec"].get_header("WARC-Markwatch-Payload-SHA256")]


def shared_pair(store: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """A capture B whose WARC refers to payloads first recorded by an earlier capture A."""
    found = {m["capture_id"]: m for m in manifests(store, "listing") + manifests(store, "search")}
    for second in sorted(found.values(), key=lambda m: m["started_at"], reverse=True):
        refs = [r for r in revisits(artifact(store, second, "page.warc.gz"))
                if r["rec"].get_header("WARC-Markwatch-Original-Capture") in found]
        if refs:
            first = found[refs[0]["rec"].get_header("WARC-Markwatch-Original-Capture")]
            return first, second, [r for r in refs if r["rec"].get_header(
                "WARC-Markwatch-Original-Capture") == first["capture_id"]]
    raise AssertionError("no capture refers to a payload another capture recorded")


def test_second_capture_stores_revisits_not_the_payloads_again(
        demo_crawl: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    store, _ = demo_crawl
    first, second, refs = shared_pair(store)
    first_warc = artifact(store, first, "page.warc.gz")
    first_records = {r["rec"].get_header("WARC-Record-ID"): r for r in records(first_warc)}
    stored = artifact(store, second, "page.warc.gz")
    full = full_warc(store, second, tmp_path / "second.warc.gz")
    full_responses = {r["url"]: r for r in records(full) if r["type"] == "response"}
    left_out = 0
    for ref in refs:
        head = ref["rec"]
        sha = head.get_header("WARC-Markwatch-Payload-SHA256")
        assert head.get_header("WARC-Profile") == \
            "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
        # the original: a record of the first capture, and one blob holding the payload
        assert head.get_header("WARC-Refers-To") in first_records
        original = first_records[head.get_header("WARC-Refers-To")]
        assert original["rec"].get_header("WARC-Markwatch-Payload-SHA256") == sha
        assert head.get_header("WARC-Refers-To-Target-URI") == original["url"]
        assert head.get_header("WARC-Refers-To-Date") == original["rec"].get_header("WARC-Date")
        blob = (store / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == sha
        # the stored record holds the head only; the export restores the payload as received
        assert not ref["payload"].endswith(blob) or not blob
        assert full_responses[ref["url"]]["payload"] == blob
        left_out += len(blob)
    assert left_out > 0
    assert stored.stat().st_size < full.stat().st_size
    # every capture's payloads: one blob each, however many WARCs name them
    named = [r["rec"].get_header("WARC-Markwatch-Payload-SHA256")
             for m in manifests(store, "listing") + manifests(store, "search")
             for r in revisits(artifact(store, m, "page.warc.gz"))]
    assert len(named) > len(set(named))
    blobs = {p.name for p in (store / "blobs").rglob("*") if p.is_file()}
    assert set(named) <= blobs


def test_wacz_of_the_second_capture_alone_is_complete(
        demo_crawl: tuple[Path, dict[str, Any]], replay_venv: Path, tmp_path: Path) -> None:
    from crawler.clock import SystemClock
    from crawler.export import get_exporter
    from crawler.seal.config import SealConfig
    from storage.uri import open_store

    store, _ = demo_crawl
    _, second, refs = shared_pair(store)
    out = tmp_path / "second.wacz"
    get_exporter("wacz")(open_store(f"file://{store}"), None, [second["capture_id"]], out,
                         seal_config=SealConfig(), clock=SystemClock())
    check = subprocess.run([str(replay_venv / "wacz"), "validate", "-f", str(out)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "is valid" in check.stdout, check.stdout + check.stderr
    import zipfile

    with zipfile.ZipFile(out) as zf:
        inner = tmp_path / "inner.warc.gz"
        inner.write_bytes(zf.read(f"archive/{second['capture_id']}.warc.gz"))
    assert not revisits(inner)  # every revisit restored: the package stands alone
    site = tmp_path / "pywb"
    site.mkdir()
    for args in (["init", "evidence"], ["add", "--unpack-wacz", "evidence", str(out)]):
        subprocess.run([str(replay_venv / "wb-manager"), *args], cwd=site, check=True,
                       capture_output=True)
    images = [r for r in revisits(artifact(store, second, "page.warc.gz"))
              if r["url"].endswith(".png")]
    assert images, "the second capture refers to no stored image"
    port = free_port()
    wayback = subprocess.Popen([str(replay_venv / "wayback"), "--bind", "127.0.0.1", "-p",
                                str(port)], cwd=site, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        page = f"http://127.0.0.1:{port}/evidence/mp_/{second['final_url']}"
        html = _fetch(page).decode("utf-8", "replace")
        assert "<html" in html.lower()
        for image in images:
            sha = image["rec"].get_header("WARC-Markwatch-Payload-SHA256")
            blob = (store / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha).read_bytes()
            assert _fetch(f"http://127.0.0.1:{port}/evidence/id_/{image['url']}") == blob
    finally:
        wayback.terminate()
        wayback.wait(10)
    assert refs


def test_bundle_of_the_second_capture_carries_its_payloads(
        demo_crawl: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    import zipfile

    from crawler.clock import SystemClock
    from crawler.export import get_exporter
    from crawler.seal.config import SealConfig
    from storage.uri import open_store

    store, _ = demo_crawl
    _, second, _ = shared_pair(store)
    out = tmp_path / "second.zip"
    get_exporter("bundle")(open_store(f"file://{store}"), None, [second["capture_id"]], out,
                           seal_config=SealConfig(), clock=SystemClock(), pdf=False)
    named = {r["rec"].get_header("WARC-Markwatch-Payload-SHA256")
             for r in revisits(artifact(store, second, "page.warc.gz"))}
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        inner = tmp_path / "inner.warc.gz"
        warc = next(n for n in names if n.endswith(f"warc/{second['capture_id']}.warc.gz"))
        inner.write_bytes(zf.read(warc))
        for sha in named:  # every payload the stored WARC names, under its SHA-256
            entry = next(n for n in names if n.endswith(f"artifacts/{sha}"))
            assert hashlib.sha256(zf.read(entry)).hexdigest() == sha
    assert named and not revisits(inner)


def _fetch(url: str) -> bytes:
    for _ in range(60):
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return bytes(resp.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"pywb did not answer {url}")


def test_verify_fails_naming_both_when_a_referenced_original_is_altered(
        demo_crawl: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    import shutil

    from crawler.evidence.verify import Verifier
    from storage.layout import blob_key
    from storage.local import LocalStore
    from tests.helpers import overwrite_stored

    source, _ = demo_crawl
    copy = tmp_path / "store"
    shutil.copytree(source, copy)
    store = LocalStore(copy)
    first, second, refs = shared_pair(copy)
    verifier = Verifier(store)
    assert verifier.verify(second["capture_id"]).ok
    sha = refs[0]["rec"].get_header("WARC-Markwatch-Payload-SHA256")
    overwrite_stored(store, blob_key(sha), b"not the recorded payload")
    verdict = Verifier(store).verify(second["capture_id"])
    assert not verdict.ok
    text = "; ".join(verdict.problems)
    assert sha in text and first["capture_id"] in text and second["capture_id"] in text, text
    assert "altered" in text
    assert not Verifier(store).verify(first["capture_id"]).ok


# -- HTTPS ----------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fidelity test site")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "site.pem", folder / "site.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


PAGE = (b"<html><head><title>Secure item</title></head><body><h1>Lumara Secure Bag</h1>"
        b"<p class=price>1 234,56 \xe2\x82\xac</p><img src=/pic.png>"
        b"<script>fetch('/api.json').then(r => r.json())</script></body></html>")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bomb = b""

    def log_message(self, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/":
            self.send(200, gzip.compress(PAGE, mtime=0), "text/html; charset=utf-8",
                      Content_Encoding="gzip")
        elif path == "/pic.png":
            self.send(200, PNG, "image/png")
        elif path == "/api.json":
            self.send(200, b'{"price": "1234.56"}', "application/json")
        elif path == "/bomb":
            self.send(200, self.bomb, "text/html", Content_Encoding="gzip")
        elif path == "/loop":
            n = int(self.path.partition("n=")[2] or 0)
            self.send(302, b"", "text/plain", Location=f"/loop?n={n + 1}")
        elif path == "/longpoll":
            self.send(200, b"<h1>waiting</h1><script>fetch('/poll')</script>", "text/html")
        elif path == "/poll":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            time.sleep(60)  # never answers in time
        elif path == "/stallimg":  # after load: no timers, and an image that never arrives
            js = (b"<script>addEventListener('load', () => { window.setTimeout = () => 0;"
                  b"const img = new Image(); img.src = '/poll'; document.body.append(img);"
                  b"})</script>")
            self.send(200, b"<body><h1>stalled</h1>" + js, "text/html")
        elif path == "/hugedom":
            js = b"<script>document.body.innerHTML = '<p>x</p>'.repeat(600000)</script>"
            self.send(200, b"<body><h1>huge</h1>" + js, "text/html")
        elif path == "/mutate":
            js = (b"<script>setInterval(() => { const d = document.createElement('div');"
                  b"d.textContent = Math.random(); document.body.prepend(d);"
                  b"if (document.body.children.length > 50) document.body.lastChild.remove();"
                  b"}, 1)</script>")
            self.send(200, b"<body><h1>mutating</h1>" + js, "text/html")
        else:
            self.send(404, b"no", "text/plain")


def _bomb(decoded: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(b"<html><body><h1>bomb</h1>")]
    block = b" " * (1 << 20)
    out += [z.compress(block) for _ in range(decoded >> 20)]
    return b"".join([*out, z.flush()])


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("site")
    cert, key = self_signed(folder)
    HostileHandler.bomb = _bomb(512 << 20)
    servers = []
    urls = {}
    for scheme in ("http", "https"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), HostileHandler)
        server.daemon_threads = True
        if scheme == "https":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls[scheme] = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    yield {"cert": cert, **urls}
    for server in servers:
        server.shutdown()
        server.server_close()


async def _capture(browser: Any, proxy: RecordingProxy, url: str,
                   limits: CaptureLimits) -> dict[str, Any]:
    """One capture as the spider makes it: own context through its own proxy session."""
    session = await proxy.open_session("t", limits)
    recording = CaptureRecording(proxy, session)
    recording.context = await browser.new_context(proxy={"server": session.proxy_url},
                                                  ignore_https_errors=True)
    page = await recording.context.new_page()
    await tag_page(page, session.token)  # as the spider's page init does
    started = time.monotonic()
    outcome: dict[str, Any] = {"session": session}
    try:
        async with asyncio.timeout(limits.timeout):
            await page.goto(url, timeout=limits.timeout * 1000)
        rendered = await capture_page(page, recording, CaptureSteps(wait_timeout=2), limits)
        outcome.update(limits_hit=rendered.limits_hit, rendered=rendered)
    except (CaptureError, TimeoutError, Exception) as exc:  # the capture fails; the run goes on
        outcome.update(error=str(exc))
    finally:
        outcome["limits_hit_all"] = await release_page(page, {RECORDING_META: recording})
    outcome["seconds"] = time.monotonic() - started
    return outcome


def _launch_and_run(coro_factory: Any) -> Any:
    from playwright.async_api import async_playwright

    from crawler.browser.chromium import find_chromium

    async def main() -> Any:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=find_chromium(),
                                               args=["--no-sandbox", "--disable-gpu"])
            try:
                return await coro_factory(browser)
            finally:
                await browser.close()

    return asyncio.run(main())


def test_https_is_recorded_with_the_upstream_chain(hostile_site: dict[str, Any],
                                                   tmp_path: Path, chromium: str) -> None:
    limits = CaptureLimits(timeout=30)
    trusting = RecordingProxy(ca_file=str(hostile_site["cert"]), egress=local_egress()).start()
    strict = RecordingProxy(egress=local_egress()).start()
    try:
        good, refused = _launch_and_run(lambda b: asyncio.gather(
            _capture(b, trusting, hostile_site["https"] + "/", limits),
            _capture(b, strict, hostile_site["https"] + "/", limits)))
    finally:
        trusting.stop()
        strict.stop()
    session = good["session"]
    warc = tmp_path / "tls.warc.gz"
    with warc.open("wb") as f:
        write_capture_warc(f, session, {"software": "test"}, capture_id="TLS",
                           at=dt.datetime.now(dt.UTC), page_url=hostile_site["https"] + "/")
    assert subprocess.run([WARCIO, "check", str(warc)], check=False).returncode == 0
    recs = records(warc)
    by_url = {r["url"]: r for r in recs if r["type"] == "response"}
    page = by_url[hostile_site["https"] + "/"]
    assert page["http"].get_header("Content-Encoding") == "gzip"
    assert page["payload"] == gzip.compress(PAGE, mtime=0)
    assert by_url[hostile_site["https"] + "/pic.png"]["payload"] == PNG
    assert by_url[hostile_site["https"] + "/api.json"]["payload"] == b'{"price": "1234.56"}'
    tls = [json.loads(r["payload"]) for r in recs if r["type"] == "metadata"
           and ":tls:" in r["url"]]
    assert tls and tls[0]["verified_by_proxy"] is True
    site_pem = hostile_site["cert"].read_text()
    assert tls[0]["chain_pem"][0].strip() == site_pem.strip()
    # Without trusting the site's certificate the proxy refuses, and keeps what it was shown.
    strict_session = refused["session"]
    assert not strict_session.exchanges
    shown = list(strict_session.tls.values())
    assert shown and shown[0].verified is False and "certificate verify failed" in shown[0].error


@pytest.mark.parametrize(("path", "limits", "expect"), [
    ("/bomb", CaptureLimits(timeout=30, max_decoded_bytes=4 << 20), "decoded-size cap"),
    ("/loop", CaptureLimits(timeout=30, max_exchanges=8), "exchange cap"),
    ("/longpoll", CaptureLimits(timeout=30, exchange_idle_timeout=3), "idle upstream"),
    ("/hugedom", CaptureLimits(timeout=60, max_dom_bytes=1 << 20), "over the cap"),
    ("/stallimg", CaptureLimits(timeout=45, exchange_idle_timeout=40), "images still loading"),
    ("/mutate", CaptureLimits(timeout=8), None),
])
def test_hostile_page_ends_within_its_caps(hostile_site: dict[str, Any], chromium: str,
                                           path: str, limits: CaptureLimits,
                                           expect: str | None) -> None:
    proxy = RecordingProxy(egress=local_egress()).start()
    try:
        hostile, after = _launch_and_run(lambda b: _sequence(
            b, proxy, [(hostile_site["http"] + path, limits),
                       (hostile_site["http"] + "/", CaptureLimits(timeout=30))]))
    finally:
        proxy.stop()
    assert hostile["seconds"] < limits.timeout + 30  # goto and capture each bounded
    said = " ".join(hostile.get("limits_hit_all", []) + hostile.get("limits_hit", [])
                    + [hostile.get("error", "")])
    if expect:
        assert expect in said, said
    else:
        assert "rendered" in hostile or "did not finish" in said
    session = hostile["session"]
    assert session.recorded_bytes <= limits.max_exchange_bytes
    # the run goes on: the next capture in the same browser works
    assert "error" not in after, after.get("error")
    assert any(x.url.endswith("/pic.png") for x in after["session"].exchanges)


async def _sequence(browser: Any, proxy: RecordingProxy,
                    jobs: list[tuple[str, CaptureLimits]]) -> list[dict[str, Any]]:
    return [await _capture(browser, proxy, url, limits) for url, limits in jobs]


def test_unrouted_pages_get_no_per_request_events(tmp_path: Path, demo_market: DemoMarketplace,
                                                  chromium: str) -> None:
    """Pages opened without a route carry no listener for every request and response (the
    browser then sends no such events through the driver); the proxy counts exchanges."""
    script = CRAWL.replace("max_listings=2", "max_listings=1").replace(
        '"LOG_LEVEL": "WARNING"', '"LOG_LEVEL": "INFO"')
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "store"),
                           demo_market.base_url], capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    dumped = done.stderr.split("Dumping Scrapy stats:", 1)[1]
    stats = {k: int(v) for k, v in re.findall(r"'([a-z_/]+)': (\d+)[,}]", dumped)}
    assert stats["playwright/page_count/unrouted"] >= 2
    assert stats["evidence/exchanges"] >= 3 * stats["playwright/page_count/unrouted"]
    assert "playwright/request_count" not in stats
    assert "playwright/response_count" not in stats
