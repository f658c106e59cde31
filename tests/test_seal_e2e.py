"""Sealing end to end: demo crawls sealed by a real RFC 3161 TSA on 127.0.0.1 and an Ed25519 key.

A sealed crawl verifies; each tampering (artifact, manifest, token, proof, custody log) is named;
a token whose CA is not trusted fails; with the TSA down the run exits 1 and keeps its
captures unsealed until `markwatch seal --pending`; an exported bundle verifies with its own
verify.py in a venv holding only `cryptography`; the PDF report shows screenshot and hashes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import rfc8785
from PIL import Image

from crawler.demo import DemoMarketplace
from crawler.export.report import ReportSeal, render_report
from crawler.seal import standalone_verify as sv
from crawler.seal.config import SealConfig
from tests.helpers import CliResult, run_markwatch

if TYPE_CHECKING:
    from tests.tsa_server import TestPKI, TSAServer


WATCHLIST = """\
version: 1
case: "CASE-SEAL"
settings:
  max_pages: 1
  max_listings: 3
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    marketplaces: [demo]
"""


def tsas_env(url: str, ca: Path, name: str = "test-tsa") -> str:
    return json.dumps([{"url": url, "ca": str(ca), "name": name, "attempts": 1,
                        "timeout": 5}])


class Site:
    """A folder with a watchlist, a signing key and a store, driven through the CLI."""

    def __init__(self, root: Path, market: DemoMarketplace, tsa: TSAServer) -> None:
        self.root = root
        self.store = root / "store"
        self.key = root / "keys" / "seal.pem"
        self.market = market
        self.env = {
            "MARKWATCH_STORE": f"file://{self.store}",
            "MARKWATCH_DEMO_URL": market.base_url,
            "MARKWATCH_SEAL_KEY": str(self.key),
            "MARKWATCH_SEAL_TSAS": tsas_env(tsa.url, tsa.pki.ca_pem),
            "MARKWATCH_OPERATOR": "case-team",
        }
        (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
        self.fingerprint = ""

    def cli(self, *args: str, store: Path | None = None, **env: str) -> CliResult:
        full = dict(self.env)
        if store is not None:
            full["MARKWATCH_STORE"] = f"file://{store}"
        full.update(env)
        return run_markwatch(list(args), cwd=self.root, env=full)

    def init_key(self) -> None:
        out = self.cli("keys", "init", "--path", str(self.key))
        assert out.code == 0, out.err
        self.fingerprint = out.out.split("fingerprint ", 1)[1].split()[0]

    def crawl(self, report: str = "report.json") -> tuple[CliResult, dict[str, Any]]:
        out = self.cli("crawl", "-w", "watchlist.yaml", "--report-json", report,
                       "--log-level", "WARNING")
        path = self.root / report
        return out, (json.loads(path.read_text()) if path.exists() else {})

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.store, dest)
        return dest

    def ids(self, kind: str | None = None) -> list[str]:
        args = ["evidence", "list", "--format", "json"] + (["--kind", kind] if kind else [])
        out = self.cli(*args)
        assert out.code == 0, out.err
        return [row["capture_id"] for row in json.loads(out.out)]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, demo_market: DemoMarketplace,
           chromium: str, _tsa_session: TSAServer) -> tuple[Site, CliResult, dict[str, Any]]:
    site = Site(tmp_path_factory.mktemp("sealed"), demo_market, _tsa_session)
    site.init_key()
    result, report = site.crawl()
    return site, result, report


@pytest.fixture(scope="module")
def pending(tmp_path_factory: pytest.TempPathFactory, demo_market: DemoMarketplace,
            chromium: str, _tsa_session: TSAServer
            ) -> Iterator[tuple[Site, CliResult, dict[str, Any]]]:
    """A crawl made while the TSA refused connections."""
    site = Site(tmp_path_factory.mktemp("pending"), demo_market, _tsa_session)
    site.init_key()
    _tsa_session.stop()
    try:
        result, report = site.crawl()
    finally:
        _tsa_session.start()
    yield site, result, report


def _run_id(report: dict[str, Any]) -> str:
    return str(report["run_id"])


def _custody_events(store: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_bytes()) for p in sorted((store / "custody").glob("*.json"))]


# --- a sealed run ----------------------------------------------------------------------------


@pytest.mark.browser
def test_sealed_crawl_verifies(sealed: tuple[Site, CliResult, dict[str, Any]]) -> None:
    site, result, report = sealed
    assert result.code == 0, result.err[-3000:]
    assert report["exit_code"] == 0
    (seal,) = report["seals"]
    assert seal["status"] == "sealed" and seal["signer"] == site.fingerprint
    assert [t["tsa"] for t in seal["timestamps"]] == ["test-tsa"]
    assert f"seal: sealed {_run_id(report)}/demo as seals/{_run_id(report)}/demo.json" \
        in result.out
    assert (site.store / "seals" / _run_id(report) / "demo.json").is_file()

    out = site.cli("verify", "--all")
    assert out.code == 0, out.out + out.err
    captures = report["counts"]["captures"]
    assert f"{captures} of {captures} captures verified" in out.out
    assert out.out.count("OK   ") == captures
    assert "       time: existed by 20" in out.out
    assert "chained to your CA CN=Trusted Test Root CA" in out.out
    assert (f"       origin: the run seal signed by Ed25519 key {site.fingerprint} "
            "(pinned: you gave it)") in out.out  # the operator's own key
    assert f"in seals/{_run_id(report)}/demo.json (root " in out.out
    assert "custody log: hash chain intact" in out.out
    trusted = site.cli("verify", "--all", MARKWATCH_SEAL_TRUSTED_KEYS=site.fingerprint)
    assert trusted.code == 0 and f"key {site.fingerprint} (pinned" in trusted.out
    seal_doc = json.loads((site.store / "seals" / _run_id(report) / "demo.json").read_bytes())
    assert seal_doc["version"] == 2 and seal_doc["custody"]["size"] == 1  # the `stored` entry

    events = _custody_events(site.store)
    assert [e["event"] for e in events][:2] == ["stored", "sealed"]
    assert events[0]["actor"] == "case-team" and events[0]["capture_ids"] == []
    assert len(events[0]["details"]["capture_digests"]) == captures  # ids not disclosed
    assert events[1]["details"]["seal"] == f"seals/{_run_id(report)}/demo.json"
    assert events[-1]["event"] == "verified"


def site_ca(site: Site) -> Path:
    """The test TSA's CA, as the recipient would have it from the TSA."""
    return Path(json.loads(site.env["MARKWATCH_SEAL_TSAS"])[0]["ca"])


def _flip(path: Path, offset: int) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_json(path: Path, change: Callable[[Any], None]) -> None:
    path.chmod(0o644)
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_bytes(rfc8785.dumps(doc))


def _manifest_path(store: Path, capture_id: str) -> Path:
    return next((store / "captures").rglob(f"{capture_id}.json"))


def tamper_artifact(store: Path, run_id: str, capture_id: str) -> str:
    manifest = json.loads(_manifest_path(store, capture_id).read_bytes())
    entry = next(a for a in manifest["artifacts"] if a["name"] == "screenshot.png")
    _flip(store / entry["key"], entry["size"] // 2)
    return f"FAIL {capture_id}: artifact screenshot.png: altered"


def tamper_manifest(store: Path, run_id: str, capture_id: str) -> str:
    _edit_json(_manifest_path(store, capture_id),
               lambda d: d["listing"].update(price=str(d["listing"]["price"]) + "1"))
    return (f"FAIL {capture_id}: integrity: seal seals/{run_id}/demo.json: inclusion: manifest "
            "digest mismatch")


def tamper_token(store: Path, run_id: str, capture_id: str) -> str:
    def change(doc: Any) -> None:
        raw = bytearray(base64.b64decode(doc["timestamps"][0]["response"]))
        raw[-1] ^= 0x01  # the last byte of the TSA's signature
        doc["timestamps"][0]["response"] = base64.b64encode(bytes(raw)).decode()

    _edit_json(store / "seals" / run_id / "demo.json", change)
    return f"FAIL {capture_id}: time: timestamp[test-tsa]: bad signature"


def tamper_proof(store: Path, run_id: str, capture_id: str) -> str:
    _edit_json(store / "seals" / run_id / "demo.json",
               lambda d: d["leaves"][0].update(manifest_sha256="ab" * 32))
    return f"integrity: seal seals/{run_id}/demo.json: the Merkle root does not match the seal's"


def tamper_signature(store: Path, run_id: str, capture_id: str) -> str:
    def change(doc: Any) -> None:
        raw = bytearray(base64.b64decode(doc["signature"]))
        raw[5] ^= 0x01
        doc["signature"] = base64.b64encode(bytes(raw)).decode()

    _edit_json(store / "seals" / run_id / "demo.json", change)
    return "origin: the run seal: invalid Ed25519 signature"


def tamper_custody(store: Path, run_id: str, capture_id: str) -> str:
    _edit_json(store / "custody" / "000000000000.json", lambda d: d.update(actor="mallory"))
    return "FAIL custody log: custody/000000000001.json: prev does not match entry 0"


def tamper_custody_truncated(store: Path, run_id: str, capture_id: str) -> str:
    for path in sorted((store / "custody").glob("*.json")):
        path.chmod(0o644)
        path.unlink()  # every entry gone: an empty log is a consistent chain...
    # ...but the run seal signed the head of a log of one entry
    return f"FAIL custody log: seals/{run_id}/demo.json covers 1 custody entries, the log holds 0"


@pytest.mark.browser
@pytest.mark.parametrize("tamper", [tamper_artifact, tamper_manifest, tamper_token,
                                    tamper_proof, tamper_signature, tamper_custody,
                                    tamper_custody_truncated])
def test_tampering_is_named(sealed: tuple[Site, CliResult, dict[str, Any]], tmp_path: Path,
                            tamper: Callable[[Path, str, str], str]) -> None:
    site, _, report = sealed
    store = site.copy(tmp_path / "store")
    capture_id = site.ids("listing")[0]
    expected = tamper(store, _run_id(report), capture_id)
    out = site.cli("verify", "--all", store=store)
    assert out.code == 1, out.out
    assert expected in out.out, out.out


@pytest.mark.browser
def test_token_from_untrusted_ca_fails(sealed: tuple[Site, CliResult, dict[str, Any]],
                                       rogue_tsa_server: TSAServer) -> None:
    site, _, _report = sealed
    out = site.cli("verify", "--all", MARKWATCH_SEAL_TSAS="",
                   MARKWATCH_SEAL_TRUSTED_CAS=str(rogue_tsa_server.pki.ca_pem))
    assert out.code == 1
    assert "FAIL " in out.out and "time: token by TSA CN=Trusted TSA" in out.out
    assert "untrusted CA: TSA certificate" in out.out


@pytest.mark.browser
def test_key_is_never_overwritten(sealed: tuple[Site, CliResult, dict[str, Any]]) -> None:
    site, _, _ = sealed
    before = site.key.read_bytes()
    out = site.cli("keys", "init", "--path", str(site.key))
    assert out.code == 1 and "refusing to overwrite" in out.err
    assert site.key.read_bytes() == before and oct(site.key.stat().st_mode)[-3:] == "600"
    shown = site.cli("keys", "show")
    assert shown.code == 0 and site.fingerprint in shown.out


# --- the TSA down ----------------------------------------------------------------------------


@pytest.mark.browser
def test_tsa_down_keeps_captures_unsealed(pending: tuple[Site, CliResult, dict[str, Any]]
                                          ) -> None:
    site, result, report = pending
    assert result.code == 1, result.out + result.err[-3000:]
    assert report["exit_code"] == 1 and report["counts"]["failures"] == 0
    (seal,) = report["seals"]
    assert seal["status"] == "pending" and seal["required"]
    assert "TSA test-tsa unreachable" in seal["reason"]
    assert "seal: NOT SEALED" in result.out and "markwatch seal --pending" in result.out
    run_id = _run_id(report)
    assert (site.store / "runs" / run_id / "demo.json").is_file()
    assert not (site.store / "seals" / run_id / "demo.json").exists()
    marker = json.loads((site.store / "seals" / "pending" / run_id / "demo.json").read_bytes())
    assert marker["reason"] == seal["reason"]
    assert len(site.ids()) == report["counts"]["captures"] > 0  # stored and indexed
    out = site.cli("verify", "--all")
    assert out.code == 1
    assert f"seal seals/{run_id}/demo.json: missing: sealing failed at" in out.out
    assert "markwatch seal --pending" in out.out


@pytest.mark.browser
def test_seal_pending_later(pending: tuple[Site, CliResult, dict[str, Any]], tmp_path: Path
                            ) -> None:
    site, _, report = pending
    store = site.copy(tmp_path / "store")
    out = site.cli("seal", "--pending", store=store)
    assert out.code == 0, out.out + out.err
    assert "1 of 1 pending run records sealed" in out.out
    doc = json.loads((store / "seals" / _run_id(report) / "demo.json").read_bytes())
    assert doc["sealed_at"] > report["finished_at"]  # honest: sealed now, not at run time
    again = site.cli("seal", "--pending", store=store)
    assert again.code == 0 and "no pending run records" in again.out
    verified = site.cli("verify", "--all", store=store)
    assert verified.code == 0, verified.out
    assert "time: existed by" in verified.out


@pytest.mark.browser
def test_seal_pending_refuses_an_untrusted_tsa(
        pending: tuple[Site, CliResult, dict[str, Any]], tmp_path: Path,
        rogue_tsa_server: TSAServer, tsa_pki: TestPKI) -> None:
    site, _, report = pending
    store = site.copy(tmp_path / "store")
    # the rogue TSA answers, but its token does not chain to the CA we configured: fail closed
    out = site.cli("seal", "--pending", store=store,
                   MARKWATCH_SEAL_TSAS=tsas_env(rogue_tsa_server.url, tsa_pki.ca_pem))
    assert out.code == 1 and "untrusted CA" in out.out
    assert not (store / "seals" / _run_id(report) / "demo.json").exists()
    # sealed with the rogue CA configured, a verifier trusting only ours refuses the token
    out = site.cli("seal", "--pending", store=store,
                   MARKWATCH_SEAL_TSAS=tsas_env(rogue_tsa_server.url,
                                                rogue_tsa_server.pki.ca_pem))
    assert out.code == 0, out.out
    out = site.cli("verify", "--all", store=store, MARKWATCH_SEAL_TRUSTED_CAS=str(tsa_pki.ca_pem))
    assert out.code == 1 and "untrusted CA: TSA certificate CN=Rogue TSA" in out.out


# --- export bundles --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(sealed: tuple[Site, CliResult, dict[str, Any]]) -> tuple[Site, Path, list[str]]:
    site, _, _ = sealed
    ids = [site.ids("listing")[0], site.ids("search")[0]]
    out = site.cli("evidence", "export", *ids, "-o", "out/case.zip")
    assert out.code == 0, out.out + out.err
    return site, site.root / "out" / "case.zip", ids


def _unzip(archive: Path, dest: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    return dest / "case"


def _run_verify_py(python: Path, folder: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([str(python), "verify.py", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.browser
def test_bundle_verifies_offline(bundle: tuple[Site, Path, list[str]], clean_python: Path,
                                 tmp_path: Path) -> None:
    site, archive, ids = bundle
    folder = _unzip(archive, tmp_path)
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert {"README.txt", "verify.py", "custody.jsonl", "custody-proofs.json",
            "index.json"} <= set(names)
    for cid in ids:
        assert {f"manifests/{cid}.json", f"report/{cid}.html", f"report/{cid}.pdf",
                f"proofs/{cid}.json"} <= set(names)
    assert any(n.startswith("seals/") and n.endswith(".demo.json") for n in names)
    assert not any(n.startswith("runs/") for n in names)  # run records list other captures
    others = set(site.ids()) - set(ids)
    for name in names:
        data = (folder / name).read_bytes()
        assert not any(o.encode() in data for o in others), name
        assert str(site.store).encode() not in data, name
    verify_py = (folder / "verify.py").read_bytes()
    assert verify_py == Path(sv.__file__).read_bytes()  # one implementation, byte for byte
    readme = (folder / "README.txt").read_text()
    assert site.fingerprint in readme and hashlib.sha256(verify_py).hexdigest() in readme
    anchors = ["--trust-key", site.fingerprint, "--trust-tsa-ca", str(site_ca(site))]
    code, out = _run_verify_py(clean_python, folder, *anchors)
    assert code == 0, out
    for cid in ids:
        assert f"OK   capture {cid}" in out
    assert out.count("time:     PROVEN") == len(ids) and "RFC 3161 token by TSA" in out
    assert f"signed by Ed25519 key {site.fingerprint} (pinned" in out
    assert "exported by case-team" in out
    assert "VERIFIED: integrity, origin and time hold" in out
    code, out = _run_verify_py(clean_python, folder)
    assert code == 1 and "origin:   NOT PROVEN" in out and "time:     NOT PROVEN" in out
    inside = site.cli("verify", str(archive))
    assert inside.code == 0, inside.out
    assert "chained to your CA" in inside.out  # pinned to the configured TSA's CA
    assert _custody_events(site.store)[-1]["event"] in ("exported", "verified")
    assert any(e["event"] == "exported" and sorted(e["capture_ids"]) == sorted(ids)
               for e in _custody_events(site.store))


def _tamper_bundle_artifact(folder: Path) -> str:
    manifest = json.loads(next((folder / "manifests").glob("*.json")).read_bytes())
    entry = next(a for a in manifest["artifacts"] if a["name"] == "screenshot.png")
    _flip(folder / "artifacts" / entry["sha256"], 100)
    return "artifact screenshot.png: SHA-256 is"


def _tamper_bundle_manifest(folder: Path) -> str:
    path = next((folder / "manifests").glob("*.json"))
    _edit_json(path, lambda d: d.update(final_url="https://elsewhere.example/"))
    return "is not the one the proof seals"


def _tamper_bundle_token(folder: Path) -> str:
    path = next((folder / "seals").glob("*.json"))

    def change(doc: Any) -> None:
        raw = bytearray(base64.b64decode(doc["timestamps"][0]["response"]))
        raw[-1] ^= 0x01
        doc["timestamps"][0]["response"] = base64.b64encode(bytes(raw)).decode()

    _edit_json(path, change)
    return "timestamp[test-tsa]: bad signature"


def _tamper_bundle_proof(folder: Path) -> str:
    path = next((folder / "proofs").glob("*.json"))
    _edit_json(path, lambda d: d.update(path=["cd" * 32, *d["path"][1:]]))
    return "audit path does not reach the root"


def _tamper_bundle_custody(folder: Path) -> str:
    path = folder / "custody.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"actor":"case-team"', b'"actor":"mallory"')
    path.write_bytes(b"".join(lines))
    return "custody.jsonl line 1: not entry"


@pytest.mark.browser
@pytest.mark.parametrize("tamper", [_tamper_bundle_artifact, _tamper_bundle_manifest,
                                    _tamper_bundle_token, _tamper_bundle_proof,
                                    _tamper_bundle_custody])
def test_tampered_bundle_fails(bundle: tuple[Site, Path, list[str]],
                               clean_python: Path, tmp_path: Path,
                               tamper: Callable[[Path], str]) -> None:
    site, archive, _ = bundle
    folder = _unzip(archive, tmp_path)
    expected = tamper(folder)
    code, out = _run_verify_py(clean_python, folder, "--trust-key", site.fingerprint,
                               "--trust-tsa-ca", str(site_ca(site)))
    assert code == 1, out
    assert expected in out and "NOT VERIFIED" in out
    inside = site.cli("verify", str(folder))
    assert inside.code == 1 and expected in inside.out


# --- the PDF report --------------------------------------------------------------------------


def _image_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Decode the stored screenshot (lossless WebP, or a PNG from earlier releases) into RGB
    pixels."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        raw = rgb.tobytes()
        width, height = rgb.size
    return width, height, [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]


def _ppm_pixels(data: bytes) -> list[tuple[int, int, int]]:
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6" and parts[3] == b"255"
    body = parts[4]
    return [(body[i], body[i + 1], body[i + 2]) for i in range(0, len(body) - 2, 3)]


def _downscale(pixels: list[tuple[int, int, int]], width: int, rows: int,
               block: int) -> list[tuple[int, int, int]]:
    """Average `block` x `block` squares of the first `rows` rows."""
    out = []
    for y0 in range(0, rows - block + 1, block):
        for x0 in range(0, width - block + 1, block):
            square = [pixels[y * width + x] for y in range(y0, y0 + block)
                      for x in range(x0, x0 + block)]
            n = len(square)
            out.append(tuple(sum(p[i] for p in square) // n for i in range(3)))
    return out  # type: ignore[return-value]


def _vivid(pixels: list[tuple[int, int, int]]) -> Counter[tuple[int, int, int]]:
    """Saturated colours, quantised to 16 levels per channel."""
    return Counter((r >> 4, g >> 4, b >> 4) for r, g, b in pixels
                   if max(r, g, b) - min(r, g, b) > 60)


@pytest.mark.browser
def test_pdf_report_shows_screenshot_and_hashes(bundle: tuple[Site, Path, list[str]],
                                                tmp_path: Path) -> None:
    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        pytest.fail("poppler-utils (pdftoppm, pdftotext) are needed: apt-get install poppler-utils")
    _, archive, ids = bundle
    folder = _unzip(archive, tmp_path)
    listing = ids[0]
    pdf = folder / "report" / f"{listing}.pdf"
    manifest_bytes = (folder / "manifests" / f"{listing}.json").read_bytes()
    manifest = json.loads(manifest_bytes)

    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout

    assert hashlib.sha256(manifest_bytes).hexdigest() in text
    for artifact in manifest["artifacts"]:
        assert artifact["sha256"] in text, artifact["name"]
    assert manifest["capture_id"] in text and "test-tsa" in text
    assert manifest["listing"]["seller_name"] in text

    # the preview is the screenshot's top 1.5 widths, printed 64 mm wide: about 1:1 at 508 dpi,
    # so at 100 dpi each page pixel averages ~5x5 screenshot pixels: compare at that scale
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "100", "-singlefile", str(pdf),
                    str(tmp_path / "page")], check=True)
    page = _ppm_pixels((tmp_path / "page.ppm").read_bytes())
    ink = sum(1 for p in page if sum(p) < 600) / len(page)
    assert ink > 0.05, f"page 1 is nearly blank ({ink:.1%} ink)"
    assert len(set(page)) > 200

    shot = next(a for a in manifest["artifacts"] if a["name"] == "screenshot.png")
    width, height, pixels = _image_pixels((folder / "artifacts" / shot["sha256"]).read_bytes())
    block = max(1, round(width / (64 / 25.4 * 100)))
    top = _downscale(pixels, width, min(height, width * 3 // 2), block)
    wanted = [colour for colour, _ in _vivid(top).most_common(4)]
    assert wanted, "the screenshot has no vivid colours to look for"
    seen = _vivid(page)

    def near(colour: tuple[int, int, int]) -> int:
        return sum(n for c, n in seen.items()
                   if all(abs(a - b) <= 1 for a, b in zip(c, colour, strict=True)))

    found = [c for c in wanted if near(c) >= 10]
    assert len(found) >= max(1, len(wanted) - 1), (wanted, seen.most_common(10))


# --- pieces without a browser ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["title", "seller_name", "price_text"])
def test_report_escapes_page_text(field: str) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>"'
    manifest = {"capture_id": "01X", "kind": "listing", "run_id": "R", "request_url": hostile,
                "final_url": "javascript:alert(3)", "status": 200,
                "watch": {"brand": hostile, "term": hostile, "marketplace": "demo"},
                "listing": {field: hostile, "price": "1", "currency": "EUR"},
                "artifacts": [{"name": hostile, "media_type": "text/html", "size": 1,
                               "sha256": "ab" * 32}],
                "browser": {"user_agent": hostile}, "software": {"version": "0"}}
    page = render_report(manifest, "cd" * 32, ReportSeal(), None, "now")
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "href" not in page and "Content-Security-Policy" in page


def test_seal_config_sources(tmp_path: Path) -> None:
    default = SealConfig.from_settings({}, env={})
    assert default.configured and default.required and default.key_is_default  # sealed by default
    assert default.key_path == Path("~/.config/markwatch/seal-ed25519.pem").expanduser()
    xdg = SealConfig.from_settings({}, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert xdg.key_path == tmp_path / "markwatch" / "seal-ed25519.pem"
    off = SealConfig.from_settings({}, env={"MARKWATCH_SEAL_KEY": "off"})
    assert not off.configured and not off.required
    env = {"MARKWATCH_SEAL_KEY": str(tmp_path / "k.pem"),
           "MARKWATCH_SEAL_TSAS": json.dumps([{"url": "http://127.0.0.1:9/tsr",
                                               "ca": str(tmp_path / "ca.pem")}]),
           "MARKWATCH_SEAL_TRUSTED_KEYS": "sha256:aa, sha256:bb"}
    config = SealConfig.from_settings({"SEAL_KEY": "/elsewhere.pem"}, env=env)
    assert config.key_path == tmp_path / "k.pem" and config.required
    assert config.tsas[0].name == "127.0.0.1" and config.trusted_keys == ("sha256:aa", "sha256:bb")
    assert SealConfig.from_settings({"SEAL_REQUIRED": "false"}, env=env).required is False
    from scrapy.settings import Settings

    cmdline = Settings({"SEAL_KEY": "/flag.pem"}, priority="cmdline")
    assert SealConfig.from_settings(cmdline, env=env).key_path == Path("/flag.pem")
    from crawler.exceptions import ConfigError

    for bad in ({"MARKWATCH_SEAL_TSAS": "[{"}, {"MARKWATCH_SEAL_TSAS": '[{"url": "x"}]'},
                {"MARKWATCH_SEAL_TSAS": '[{"url": "ftp://x", "ca": "c"}]'},
                {"MARKWATCH_SEAL_REQUIRED": "maybe"},
                {"MARKWATCH_SEAL_REQUIRED": "1", "MARKWATCH_SEAL_KEY": "off"}):
        with pytest.raises(ConfigError):
            SealConfig.from_settings({}, env=bad)


def test_unusable_key_is_a_configuration_error(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("not a key")
    key.chmod(0o600)
    (tmp_path / "w.yaml").write_text(WATCHLIST)
    out = run_markwatch(["crawl", "-w", "w.yaml", "--store", f"file://{tmp_path / 's'}"],
                        cwd=tmp_path, env={"MARKWATCH_SEAL_KEY": str(key)})
    assert out.code == 2 and "not an unencrypted PEM private key" in out.err
    out = run_markwatch(["seal", "--pending", "--store", f"file://{tmp_path / 's'}"],
                        cwd=tmp_path, env={"MARKWATCH_SEAL_KEY": "off"})
    assert out.code == 2 and "nothing to seal with" in out.err


@pytest.mark.browser
def test_capture_verdicts_for_a_front_end(sealed: tuple[Site, CliResult, dict[str, Any]],
                                          tmp_path: Path) -> None:
    """`crawler.evidence.verify.capture_verdicts`: three verdicts of a stored capture (portal)."""
    from crawler.evidence.verify import capture_verdicts
    from storage.uri import open_store

    site, _, _ = sealed
    capture_id = site.ids("listing")[0]
    config = SealConfig.from_settings({}, env=site.env)
    three = capture_verdicts(open_store(f"file://{site.store}"), capture_id, config)
    assert three.ok, three.to_json()
    assert [three.status(n) for n in ("integrity", "origin", "time")] == ["PROVEN"] * 3
    assert three.to_json()["time"]["lines"][0].startswith("existed by 20")
    # no TSA CA and no key pinned: said, not failed
    bare = SealConfig.from_settings({}, env={"MARKWATCH_SEAL_KEY": "off"})
    three = capture_verdicts(open_store(f"file://{site.store}"), capture_id, bare)
    assert three.status("integrity") == "PROVEN"
    assert three.status("origin") == "NOT PROVEN" and three.status("time") == "NOT PROVEN"
    # a tampered artifact fails integrity
    store = site.copy(tmp_path / "store")
    tamper_artifact(store, "", capture_id)
    three = capture_verdicts(open_store(f"file://{store}"), capture_id, config)
    assert three.status("integrity") == "FAILED" and not three.ok
    assert any("screenshot.png" in line for line in three.integrity.lines)
