"""Payload checks of the offline verifier: a bundle of a deduplicated capture, forged.

A sealed demo crawl (real Chromium, the recording proxy, a real RFC 3161 TSA on 127.0.0.1)
stores WARCs whose revisit records name payload blobs; the bundle of one capture carries those
blobs and `warc/<capture_id>.warc.gz`, the WARC restored. verify.py (in a venv holding only
`cryptography`) and `markwatch verify BUNDLE` check each carried blob against the digest the
sealed WARC states, and the restored WARC record for record against the sealed one. Each
forgery is refused by its reason through both entry points.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crawler.demo import DemoMarketplace
from crawler.seal import standalone_verify as sv
from tests.test_seal_e2e import Site, _run_verify_py, site_ca

if TYPE_CHECKING:
    from tests.tsa_server import TSAServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, demo_market: DemoMarketplace,
             chromium: str, _tsa_session: TSAServer) -> tuple[Site, Path, str]:
    """(site, bundle zip, capture id) of a capture whose WARC names payload blobs."""
    site = Site(tmp_path_factory.mktemp("payloads"), demo_market, _tsa_session)
    site.init_key()
    result, _ = site.crawl()
    assert result.code == 0, result.err[-3000:]
    for cid in reversed(site.ids("listing")):
        out = site.root / "out" / f"{cid}.zip"
        done = site.cli("evidence", "export", cid, "-o", str(out), "--no-pdf")
        assert done.code == 0, done.out + done.err
        with zipfile.ZipFile(out) as zf:
            if any(n.endswith(f"warc/{cid}.warc.gz") for n in zf.namelist()):
                return site, out, cid
    raise AssertionError("no exported capture carries a restored WARC")


def unzip(archive: Path, dest: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    return next(p for p in dest.iterdir() if p.is_dir())


def payload_blobs(folder: Path, capture_id: str) -> list[Path]:
    """The carried blobs the manifest does not list: the payloads its WARC names."""
    manifest = json.loads((folder / "manifests" / f"{capture_id}.json").read_bytes())
    listed = {a["sha256"] for a in manifest["artifacts"]}
    return sorted(p for p in (folder / "artifacts").iterdir() if p.name not in listed)


def both(site: Site, folder: Path, python: Path) -> list[tuple[int, str]]:
    """verify.py in the clean venv, then `markwatch verify` on the same folder."""
    code, out = _run_verify_py(python, folder, "--trust-key", site.fingerprint,
                               "--trust-tsa-ca", str(site_ca(site)))
    inside = site.cli("verify", str(folder))
    return [(code, out), (inside.code, inside.out + inside.err)]


def test_bundle_with_payloads_verifies(exported: tuple[Site, Path, str], clean_python: Path,
                                       tmp_path: Path) -> None:
    site, archive, cid = exported
    folder = unzip(archive, tmp_path)
    assert payload_blobs(folder, cid)
    for code, out in both(site, folder, clean_python):
        assert code == 0, out
        assert f"OK   capture {cid}" in out
        assert "payload reference(s) match the blobs carried" in out
        assert f"warc/{cid}.warc.gz matches it record for record" in out


# --- forgeries -------------------------------------------------------------------------------


def members(path: Path) -> list[bytes]:
    """The decompressed gzip members of a WARC (one record each, as markwatch writes them)."""
    data, out = path.read_bytes(), []
    while data:
        d = zlib.decompressobj(31)
        out.append(d.decompress(data))
        data = d.unused_data
    return out


def label(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


def forge_restored(folder: Path, capture_id: str, consistent: bool) -> None:
    """Change one byte of a restored payload in warc/<id>.warc.gz; with `consistent`, restate
    the record's digests so that the restored file agrees with itself."""
    path = folder / "warc" / f"{capture_id}.warc.gz"
    shas = {p.name for p in payload_blobs(folder, capture_id)}
    records = members(path)
    for n, record in enumerate(records):
        head, _, rest = record.partition(b"\r\n\r\n")
        block = rest[:-4]
        http_head, _, payload = block.partition(b"\r\n\r\n")
        if b"WARC-Type: response" not in head or hashlib.sha256(payload).hexdigest() not in shas:
            continue
        forged = payload[:-1] + bytes([payload[-1] ^ 0x01])
        new_block = http_head + b"\r\n\r\n" + forged
        lines = head.split(b"\r\n")
        if consistent:
            lines = [b"WARC-Block-Digest: " + label(new_block).encode()
                     if ln.startswith(b"WARC-Block-Digest:") else
                     b"WARC-Payload-Digest: " + label(forged).encode()
                     if ln.startswith(b"WARC-Payload-Digest:") else ln for ln in lines]
        records[n] = b"\r\n".join(lines) + b"\r\n\r\n" + new_block + b"\r\n\r\n"
        break
    else:
        raise AssertionError("no restored payload record")
    path.write_bytes(b"".join(_gz(r) for r in records))


def _altered_blob(folder: Path, cid: str) -> str:
    blob = payload_blobs(folder, cid)[0]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    return f"payload blob {blob.name} named by page.warc.gz record"


def _missing_blob(folder: Path, cid: str) -> str:
    blob = payload_blobs(folder, cid)[0]
    blob.unlink()
    return f"missing from the bundle (artifacts/{blob.name})"


def _restored_record_altered(folder: Path, cid: str) -> str:
    forge_restored(folder, cid, consistent=False)
    return "its payload does not match its WARC-Payload-Digest"


def _restored_record_restated(folder: Path, cid: str) -> str:
    forge_restored(folder, cid, consistent=True)
    return "the sealed revisit names"


def _restored_record_dropped(folder: Path, cid: str) -> str:
    path = folder / "warc" / f"{cid}.warc.gz"
    records = members(path)
    path.write_bytes(b"".join(_gz(r) for r in records[:-1]))
    return f"warc/{cid}.warc.gz: ends before the sealed WARC's record"


def _gz(data: bytes) -> bytes:
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    return gz.compress(data) + gz.flush()


@pytest.mark.parametrize("forge", [_altered_blob, _missing_blob, _restored_record_altered,
                                   _restored_record_restated, _restored_record_dropped])
def test_forged_bundle_is_refused_by_reason(exported: tuple[Site, Path, str],
                                            clean_python: Path, tmp_path: Path,
                                            forge: Callable[[Path, str], str]) -> None:
    site, archive, cid = exported
    folder = unzip(archive, tmp_path)
    reason = forge(folder, cid)
    for code, out in both(site, folder, clean_python):
        assert code == 1, out
        assert f"FAIL capture {cid}" in out and "integrity: FAILED" in out, out
        assert reason in out, out
        assert "NOT VERIFIED" in out


# --- the reader on hostile WARCs (no browser needed) --------------------------------------------


def _records(data: bytes, limit: int = sv.MAX_WARC_BYTES) -> list[sv.WarcRecord]:
    return list(sv.warc_records(sv.GzipStream(io.BytesIO(data), limit)))


def _record(block: bytes, **fields: str) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return _gz(f"WARC/1.1\r\n{head}Content-Length: {len(block)}\r\n\r\n".encode() + block
               + b"\r\n\r\n")


@pytest.mark.parametrize("data, message", [
    (_gz(b"x" * 100 + b"\r\n\r\n"), "not a WARC record"),
    (_gz(b"WARC/1.1\r\nWARC-Type: resource\r\n\r\nabc"), "no Content-Length"),
    (_record(b"abc")[:-9], "gzip stream cut short"),
    (b"not gzip at all", "not a valid gzip stream"),
    (_gz(b"WARC/1.1\r\n" + b"X-Pad: " + b"a" * sv.MAX_WARC_HEAD + b"\r\n\r\n"),
     "a record header longer than"),
    (_gz(b"WARC/1.1\r\nContent-Length: 99999\r\n\r\nshort\r\n\r\n"), "ends inside its block"),
    (_gz(b"WARC/1.1\r\nContent-Length: 3\r\n\r\nabcdef"), "does not end where"),
])
def test_hostile_warcs_are_refused_by_name(data: bytes, message: str) -> None:
    with pytest.raises(sv.VerifyError, match=message):
        _records(data)


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = _record(b"\x00" * (4 * 1024 * 1024), **{"WARC-Type": "resource"})
    assert len(bomb) < 10_000
    with pytest.raises(sv.VerifyError, match="decompresses to more than"):
        _records(bomb, limit=1024 * 1024)


def test_digests_are_checked_in_base32_and_hex() -> None:
    body = b"payload bytes"
    good = _record(body, **{"WARC-Type": "resource", "WARC-Block-Digest": label(body),
                            "WARC-Payload-Digest": "sha256:" + hashlib.sha256(body).hexdigest()})
    sha1 = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
    bad = _record(body + b"!", **{"WARC-Type": "resource", "WARC-Block-Digest": sha1})
    unknown = _record(body, **{"WARC-Type": "resource", "WARC-Block-Digest": "md5:abc"})
    (ok,) = _records(good)
    assert ok.problems == [] and ok.payload_sha256 == hashlib.sha256(body).hexdigest()
    assert "does not match its WARC-Block-Digest" in _records(bad)[0].problems[0]
    assert "not a digest this verifier can check" in _records(unknown)[0].problems[0]
    http = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
    (response,) = _records(_record(http, **{"WARC-Type": "response",
                                           "Content-Type": "application/http; msgtype=response",
                                           "WARC-Payload-Digest": label(b"body")}))
    assert response.problems == [] and response.head_sha256 == hashlib.sha256(
        http[:-4]).hexdigest()
