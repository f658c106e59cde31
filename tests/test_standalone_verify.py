"""verify.py against forged bundles, through both entry points: the bundle's own verify.py in a
clean venv holding only `cryptography`, and `markwatch verify BUNDLE` (the same module in the
package, anchors from the operator's configuration).

Bundles are assembled the way `markwatch evidence export` lays them out (reduced seals,
inclusion proofs, disclosed custody entries with proofs, a signed index), with a real RFC 3161
TSA (`openssl ts -reply`) on 127.0.0.1; forged tokens are signed with `openssl cms -cades`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crawler.cli.verify_seals import verify_bundles
from crawler.clock import FrozenClock
from crawler.exceptions import SealError
from crawler.seal import TSAConfig, custody, init_key, seal_run, verify_timestamp
from crawler.seal import standalone_verify as sv
from crawler.seal.config import SealConfig
from crawler.seal.keys import Signer
from storage.local import LocalStore

if TYPE_CHECKING:
    from tests.tsa_server import TSAServer

VERIFY_PY = Path(sv.__file__)
RUN = "01JDRUN0000000000000000000"
CAPTURES = [f"01JD{i:022d}" for i in range(3)]
OTHER = "01JDOTHERCASE0000000000000"
"""A capture of the same run that is never exported: nothing of it may reach the bundle."""
SEAL_NAME = f"seals/{RUN}.demo.json"
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def manifest(capture_id: str, artifacts: list[tuple[str, bytes, str]]) -> bytes:
    return rfc8785.dumps({
        "capture_id": capture_id,
        "run_id": RUN,
        "url": f"https://shop.example/{capture_id}",
        "artifacts": [
            {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
             "media_type": media}
            for name, data, media in artifacts
        ],
    })


@dataclass
class Built:
    """A bundle folder and what made it."""

    root: Path
    signer: Signer
    store: LocalStore
    tsa_ca: Path

    @property
    def fingerprint(self) -> str:
        return self.signer.fingerprint

    @property
    def seal(self) -> Path:
        return self.root / SEAL_NAME

    def anchors(self) -> list[str]:
        return ["--trust-key", self.fingerprint, "--trust-tsa-ca", str(self.tsa_ca)]


def sign(doc: dict[str, Any], signer: Signer) -> None:
    doc["signer"] = {"algorithm": "ed25519", "public_key": signer.public_key_b64,
                     "fingerprint": signer.fingerprint}
    doc["signature"] = None
    doc["signature"] = base64.b64encode(signer.sign(sv.signing_body(doc))).decode()


def write_index(built: Built, signer: Signer | None = None) -> None:
    """(Re)write the signed index as the export does, over the bundle as it is now."""
    root = built.root
    log = custody.read_log(built.store)
    lines = [ln for ln in (root / "custody.jsonl").read_bytes().split(b"\n") if ln]
    files = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(
            ("manifests/", "artifacts/", "index.json"))
    }
    index: dict[str, Any] = {
        "type": sv.INDEX_TYPE, "version": 1, "created_at": "2026-11-28T10:00:09Z",
        "captures": CAPTURES, "files": files,
        "custody": {"size": len(log), "root": custody.tree_root(log),
                    "entries": [json.loads(ln)["seq"] for ln in lines]},
        "signer": None, "signature": None,
    }
    sign(index, signer or built.signer)
    (root / "index.json").write_bytes(rfc8785.dumps(index))


def build_bundle(root: Path, tsa: TSAServer, tmp: Path) -> Built:
    clock = FrozenClock("2026-11-28T10:00:00Z", step=1.0)
    signer = init_key(tmp / "seal.pem", overwrite=True)
    store = LocalStore(tmp / "store")
    for folder in ("manifests", "artifacts", "seals", "proofs"):
        (root / folder).mkdir(parents=True)
    digests = {}
    for n, capture_id in enumerate([*CAPTURES, OTHER]):
        arts = [("page.html", f"<html>{n}</html>".encode(), "text/html"),
                ("screenshot.png", b"\x89PNG" + bytes([n]) * 100, "image/png")]
        doc = manifest(capture_id, arts)
        digests[capture_id] = hashlib.sha256(doc).hexdigest()
        custody.append(store, "captured", clock=clock, actor="crawler", run_id=RUN,
                       capture_ids=[capture_id])
        if capture_id == OTHER:
            continue
        for _, data, _ in arts:
            (root / "artifacts" / hashlib.sha256(data).hexdigest()).write_bytes(data)
        (root / "manifests" / f"{capture_id}.json").write_bytes(doc)
    config = TSAConfig(tsa.url, (tsa.pki.ca_pem,), "test-tsa", timeout=5, attempts=1)
    seal = seal_run(RUN, digests, signer=signer, tsas=[config], clock=clock,
                    custody_head=custody.head(store))
    doc = json.loads(seal.document)
    ordered = [d for _, d in sorted(digests.items())]
    hashes_ = [sv.leaf_hash(bytes.fromhex(d)) for d in ordered]
    for index, (capture_id, digest) in enumerate(sorted(digests.items())):
        if capture_id == OTHER:
            continue
        (root / "proofs" / f"{capture_id}.json").write_bytes(rfc8785.dumps({
            "type": sv.PROOF_TYPE, "capture_id": capture_id, "seal": SEAL_NAME,
            "manifest_sha256": digest, "index": index, "tree_size": len(ordered),
            "path": [h.hex() for h in sv.audit_path(index, hashes_)]}))
    del doc["leaves"]
    (root / SEAL_NAME).write_bytes(rfc8785.dumps(doc))
    custody.append(store, "sealed", clock=clock, actor="crawler", run_id=RUN,
                   capture_ids=[*CAPTURES, OTHER], details={"root": seal.root},
                   ids_by_digest=True)
    custody.append(store, "exported", clock=clock, actor="analyst", capture_ids=CAPTURES)
    log = custody.read_log(store)
    disclosed = custody.entries_for(log, CAPTURES)
    (root / "custody.jsonl").write_bytes(custody.to_jsonl(disclosed))
    (root / "custody-proofs.json").write_bytes(
        rfc8785.dumps([custody.tree_path(log, e.seq) for e in disclosed]))
    (root / "README.txt").write_text("test bundle\n")
    shutil.copyfile(VERIFY_PY, root / "verify.py")
    built = Built(root, signer, store, tsa.pki.ca_pem)
    write_index(built)
    return built


def reseal(built: Built, change: Callable[[dict[str, Any]], None], signer: Signer | None = None,
           signed: bool = True) -> None:
    """Change the seal as a forger holding a key would: re-signed, index rewritten."""
    doc = json.loads(built.seal.read_bytes())
    change(doc)
    if signed:
        sign(doc, signer or built.signer)
    else:
        doc["signer"] = doc["signature"] = None
    built.seal.write_bytes(rfc8785.dumps(doc))
    write_index(built, signer)


@pytest.fixture
def built(tmp_path: Path, tsa_server: TSAServer) -> Built:
    return build_bundle(tmp_path / "bundle", tsa_server, tmp_path)


# --- the two entry points --------------------------------------------------------------------


def run_verify_py(python: Path, built: Built, *args: str, target: str | None = None
                  ) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [str(python), str(built.root / "verify.py"), target or str(built.root), *args],
        env=env, cwd=built.root.parent, capture_output=True, text=True, timeout=120,
        check=False)
    return proc.returncode, proc.stdout + proc.stderr


def run_package(capsys: Any, built: Built, *args: str, target: str | None = None
                ) -> tuple[int, str]:
    """`markwatch verify BUNDLE` in-process: anchors from the operator's SealConfig."""
    keys = [a for i, a in enumerate(args) if i and args[i - 1] == "--trust-key"]
    cas = [Path(a) for i, a in enumerate(args) if i and args[i - 1] == "--trust-tsa-ca"]
    config = SealConfig(trusted_keys=tuple(keys), trusted_cas=tuple(cas))
    capsys.readouterr()
    code = verify_bundles([target or str(built.root)], config,
                          integrity_only="--integrity-only" in args)
    return code, capsys.readouterr().out


Runner = Callable[..., tuple[int, str]]


@pytest.fixture(params=["verify.py", "markwatch"])
def verify(request: pytest.FixtureRequest, capsys: Any) -> Runner:
    if request.param == "verify.py":
        python = request.getfixturevalue("clean_python")
        return lambda built, *args, **kw: run_verify_py(python, built, *args, **kw)
    return lambda built, *args, **kw: run_package(capsys, built, *args, **kw)


# --- it passes, and says exactly what it proved -------------------------------------------


def test_verified_with_three_verdicts(verify: Runner, built: Built) -> None:
    code, out = verify(built, *built.anchors())
    assert code == 0, out
    for capture_id in CAPTURES:
        assert f"OK   capture {capture_id}" in out
    assert out.count("integrity: PROVEN") == 3
    assert out.count("origin:   PROVEN") == 3
    assert out.count("time:     PROVEN") == 3
    assert "existed by 2026-" in out and "chained to your CA" in out
    assert f"signed by Ed25519 key {built.fingerprint} (pinned: you gave it)" in out
    assert "custody:  2026-11-28T10:00:00.000000Z captured by crawler" in out
    assert "VERIFIED: integrity, origin and time hold" in out
    assert OTHER not in out


def test_without_anchors_says_what_is_not_proven(verify: Runner, built: Built) -> None:
    code, out = verify(built)
    assert code == 1, out
    assert out.count("integrity: PROVEN") == 3
    assert "origin:   NOT PROVEN" in out and "NOT pinned" in out
    assert "time:     NOT PROVEN" in out
    assert "no TSA CA was given" in out and "never trusted" in out
    assert "NOT VERIFIED" in out
    assert "note: no --trust-key and no --trust-tsa-ca given: origin and time cannot" in out


def test_the_note_names_the_one_anchor_missing(verify: Runner, built: Built) -> None:
    """The key pinned (`markwatch verify` passes the operator's own) but no TSA CA: the note
    says only time cannot be proven, as the verdicts below it do."""
    code, out = verify(built, "--trust-key", built.fingerprint)
    assert code == 1, out
    assert "note: no --trust-tsa-ca given: time cannot be proven;" in out
    assert "origin:   PROVEN" in out and "origin and time cannot" not in out
    code, out = verify(built, "--trust-tsa-ca", str(built.tsa_ca))
    assert code == 1, out
    assert "note: no --trust-key given: origin cannot be proven;" in out
    assert "time:     PROVEN" in out
    code, out = verify(built, *built.anchors())
    assert "note: no --trust" not in out


def test_integrity_only_is_said(verify: Runner, built: Built) -> None:
    code, out = verify(built, "--integrity-only")
    assert code == 0, out
    assert "INTEGRITY ONLY: origin (who sealed it) and time (when) were NOT checked" in out
    assert "INTEGRITY VERIFIED" in out


def test_verifies_a_zip_in_a_folder(verify: Runner, built: Built) -> None:
    archive = built.root.parent / "case.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(built.root.rglob("*")):
            zf.write(path, Path("case") / path.relative_to(built.root))
    code, out = verify(built, *built.anchors(), target=str(archive))
    assert code == 0, out
    assert out.count("OK   capture 01JD") == 3


def test_bundle_discloses_no_other_capture(built: Built) -> None:
    for path in built.root.rglob("*"):
        if path.is_file() and path.name != "verify.py":
            assert OTHER.encode() not in path.read_bytes(), path
            assert b"shop.example/" + OTHER.encode() not in path.read_bytes()


def test_usage_errors(clean_python: Path, built: Built) -> None:
    code, out = run_verify_py(clean_python, built, target=str(built.root / "nope"))
    assert code == 2 and "no such bundle" in out
    code, out = run_verify_py(clean_python, built, "--trust-tsa-ca", str(built.root / "x.pem"))
    assert code == 2 and "--trust-tsa-ca" in out
    code, out = run_verify_py(clean_python, built, "--trust-key", "deadbeef")
    assert code == 2 and "expected sha256:" in out


# --- forged bundles, each refused with its reason -----------------------------------------


def _ca_key(built: Built) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key((built.tsa_ca.parent / "ca.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _cert(subject: str, issuer: x509.Certificate | None, issuer_key: Any, key: Any, *,
          ca: bool, eku: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder().subject_name(name)
        .issuer_name(issuer.subject if issuer else name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, ca, ca, False, False),
                       critical=True)
    )
    if eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, *items: Any) -> Path:
    out = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            out += item.public_bytes(serialization.Encoding.PEM)
        else:
            out += item.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    path.write_bytes(out)
    return path


def forge_token(built: Built, chain: str, work: Path) -> bytes:
    """The seal's TSTInfo re-signed (`openssl cms -sign -cades`) by a certificate under the
    trusted test root that should not be accepted: `nonca` (issued through an end-entity
    certificate) or `noeku` (no timeStamping extended key usage)."""
    doc = json.loads(built.seal.read_bytes())
    token = base64.b64decode(doc["timestamps"][0]["response"])
    encap = sv.der_children(sv.der_children(sv._signed_data(token))[2])
    (work / "tst.der").write_bytes(sv.der_children(encap[1])[0].content)
    root = x509.load_pem_x509_certificate(built.tsa_ca.read_bytes())
    root_key, key = _ca_key(built), ec.generate_private_key(ec.SECP256R1())
    if chain == "nonca":
        mid_key = ec.generate_private_key(ec.SECP256R1())
        mid = _cert("end entity posing as a CA", root, root_key, mid_key, ca=False, eku=False)
        signer = _cert("forged TSA", mid, mid_key, key, ca=False, eku=True)
        extra = [mid]
    else:
        signer = _cert("TSA without the timeStamping EKU", root, root_key, key, ca=False,
                       eku=False)
        extra = []
    _pem(work / "signer.pem", signer)
    _pem(work / "signer.key", key)
    args = ["openssl", "cms", "-sign", "-binary", "-nodetach", "-cades", "-nosmimecap",
            "-econtent_type", "1.2.840.113549.1.9.16.1.4", "-md", "sha256",
            "-signer", "signer.pem", "-inkey", "signer.key", "-in", "tst.der",
            "-outform", "DER", "-out", "token.der"]
    if extra:
        args += ["-certfile", str(_pem(work / "chain.pem", *extra))]
    subprocess.run(args, cwd=work, check=True, capture_output=True)
    return (work / "token.der").read_bytes()


def _with_token(token: bytes) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["timestamps"][0]["response"] = base64.b64encode(token).decode()
    return change


def test_no_signature(verify: Runner, built: Built) -> None:
    reseal(built, lambda d: None, signed=False)
    code, out = verify(built, *built.anchors())
    assert code == 1 and "the run seal: no signature: nothing shows who made it" in out


def test_unpinned_key(verify: Runner, built: Built, tmp_path: Path) -> None:
    mallory = init_key(tmp_path / "mallory.pem")
    reseal(built, lambda d: None, signer=mallory)
    code, out = verify(built, *built.anchors())
    assert code == 1
    assert f"signed by key {mallory.fingerprint}, which is not one you pinned" in out


def test_tsa_ca_from_the_bundle_is_not_trusted(verify: Runner, tmp_path: Path,
                                               rogue_tsa_server: TSAServer,
                                               tsa_server: TSAServer) -> None:
    rogue = build_bundle(tmp_path / "rogue", rogue_tsa_server, tmp_path / "r")
    assert b"BEGIN CERTIFICATE" in rogue.seal.read_bytes()  # its CA rides along in the seal
    code, out = verify(rogue, "--trust-key", rogue.fingerprint)
    assert code == 1 and "time:     NOT PROVEN" in out and "never trusted" in out
    code, out = verify(rogue, "--trust-key", rogue.fingerprint, "--trust-tsa-ca",
                       str(tsa_server.pki.ca_pem))
    assert code == 1 and "does not chain to a CA you gave" in out


def test_chain_through_a_non_ca_certificate(verify: Runner, built: Built,
                                            tmp_path: Path) -> None:
    reseal(built, _with_token(forge_token(built, "nonca", tmp_path)))
    code, out = verify(built, *built.anchors())
    assert code == 1, out
    assert "does not chain to a CA you gave" in out
    assert "basicConstraints.cA must be asserted in a CA certificate" in out


def test_tsa_certificate_without_timestamping_eku(verify: Runner, built: Built,
                                                  tmp_path: Path) -> None:
    reseal(built, _with_token(forge_token(built, "noeku", tmp_path)))
    code, out = verify(built, *built.anchors())
    assert code == 1, out
    assert "does not chain to a CA you gave" in out
    # cryptography's words around the OID change between releases (51.0 writes
    # "extendedKeyUsage (2.5.29.37): ..."), and the standalone verifier runs on the newest
    assert "2.5.29.37" in out and "Certificate is missing required extension" in out


def _custody(built: Built, change: Callable[[list[bytes], list[Any]], None]) -> None:
    lines = (built.root / "custody.jsonl").read_bytes().splitlines()
    proofs = json.loads((built.root / "custody-proofs.json").read_bytes())
    change(lines, proofs)
    (built.root / "custody.jsonl").write_bytes(b"".join(ln + b"\n" for ln in lines))
    (built.root / "custody-proofs.json").write_bytes(rfc8785.dumps(proofs))


def test_custody_entry_dropped(verify: Runner, built: Built) -> None:
    _custody(built, lambda lines, proofs: (lines.pop(), proofs.pop()))
    # the forger rewrites the index hash of the files too, but cannot re-sign the index
    index = json.loads((built.root / "index.json").read_bytes())
    for name in ("custody.jsonl", "custody-proofs.json"):
        index["files"][name] = hashlib.sha256((built.root / name).read_bytes()).hexdigest()
    (built.root / "index.json").write_bytes(rfc8785.dumps(index))
    code, out = verify(built, *built.anchors())
    assert code == 1
    assert "are not the ones the signed index lists" in out
    assert "invalid Ed25519 signature" in out


def test_custody_entry_dropped_and_index_resigned_by_another_key(
        verify: Runner, built: Built, tmp_path: Path) -> None:
    _custody(built, lambda lines, proofs: (lines.pop(1), proofs.pop(1)))
    write_index(built, init_key(tmp_path / "other.pem"))  # lists what is left
    code, out = verify(built, *built.anchors())
    assert code == 1 and "the bundle index signed by key" in out and "not one you pinned" in out


def test_custody_entries_reordered(verify: Runner, built: Built) -> None:
    def swap(lines: list[bytes], proofs: list[Any]) -> None:
        lines[0], lines[1] = lines[1], lines[0]
        proofs[0], proofs[1] = proofs[1], proofs[0]

    _custody(built, swap)
    code, out = verify(built, *built.anchors())
    assert code == 1
    assert "(dropped, added or reordered)" in out


def test_custody_entry_changed(verify: Runner, built: Built) -> None:
    _custody(built, lambda lines, proofs: lines.__setitem__(
        0, lines[0].replace(b'"actor":"crawler"', b'"actor":"mallory"')))
    code, out = verify(built, *built.anchors())
    assert code == 1 and "custody.jsonl line 1: not entry 0 of the signed custody log" in out


ESC = "\x1b[2J\x1b[1;32mVERIFIED\x1b[0m\r\u202e\x07"


def test_escape_sequences_in_every_printable_field(verify: Runner, built: Built) -> None:
    cid = CAPTURES[0]
    path = built.root / "manifests" / f"{cid}.json"
    doc = json.loads(path.read_bytes())
    doc["artifacts"][0]["name"] = "page" + ESC
    doc["artifacts"][1]["sha256"] = "zz" + ESC
    doc["capture_id"] = cid + ESC
    path.write_bytes(rfc8785.dumps(doc))
    (built.root / "manifests" / f"{CAPTURES[1]}{ESC}.json").write_bytes(b"{}")

    def seal_change(d: dict[str, Any]) -> None:
        d["timestamps"][0]["tsa"] = "tsa" + ESC
        d["timestamps"][0]["response"] = "not base64" + ESC
        d["run_id"] = RUN + ESC

    reseal(built, seal_change)
    _custody(built, lambda lines, proofs: lines.__setitem__(1, rfc8785.dumps(
        {**json.loads(lines[1]), "actor": "x" + ESC, "time": ESC, "event": ESC})))
    proof = built.root / "proofs" / f"{CAPTURES[2]}.json"
    proof.write_bytes(rfc8785.dumps({**json.loads(proof.read_bytes()), "seal": ESC}))
    index = json.loads((built.root / "index.json").read_bytes())
    index["files"]["report/" + ESC] = ESC
    index["custody"]["entries"] = [ESC]
    (built.root / "index.json").write_bytes(rfc8785.dumps(index))
    (built.root / ("stray" + ESC)).write_bytes(b"")
    code, out = verify(built, "--trust-key", built.fingerprint + ESC, *built.anchors())
    assert code in (1, 2), out
    code, out = verify(built, *built.anchors())
    assert code == 1, out
    assert "NOT VERIFIED" in out
    assert not CONTROL.search(out), [m.group() for m in CONTROL.finditer(out)]
    assert "\\x1b[2J" in out  # shown, harmless


def test_oversized_member(verify: Runner, built: Built) -> None:
    path = built.root / "manifests" / f"{CAPTURES[0]}.json"
    path.write_bytes(path.read_bytes() + b" " * (sv.MAX_JSON + 1))
    code, out = verify(built, *built.anchors())
    assert code == 1
    assert f"REFUSED: manifests/{CAPTURES[0]}.json is {sv.MAX_JSON + 1 + 0}" in out or (
        "over the limit of 16777216" in out)


def test_zip_bomb(verify: Runner, built: Built) -> None:
    archive = built.root.parent / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(built.root.rglob("*")):
            zf.write(path, path.relative_to(built.root))
        with zf.open("artifacts/" + "0" * 64, "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(600):
                member.write(block)
    assert archive.stat().st_size < 5 << 20
    code, out = verify(built, *built.anchors(), target=str(archive))
    assert code == 1
    assert "REFUSED: zip bomb: member artifacts/000" in out


# --- ordinary tampering, named ----------------------------------------------------------------


def _first_artifact(root: Path) -> Path:
    doc = json.loads((root / "manifests" / f"{CAPTURES[0]}.json").read_bytes())
    return root / "artifacts" / doc["artifacts"][0]["sha256"]


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_bytes(rfc8785.dumps(doc))


def flip_b64(text: str, position: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[position] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


TAMPERS: list[tuple[str, Callable[[Built], None], str]] = [
    ("artifact", lambda b: _first_artifact(b.root).write_bytes(b"changed"),
     "artifact page.html: SHA-256 is"),
    ("artifact removed", lambda b: _first_artifact(b.root).unlink(),
     "artifact page.html: artifacts/"),
    ("manifest", lambda b: edit_json(b.root / "manifests" / f"{CAPTURES[0]}.json",
                                     lambda d: d.update(url="https://elsewhere.example/")),
     "is not the one the proof seals"),
    ("proof path", lambda b: edit_json(b.root / "proofs" / f"{CAPTURES[1]}.json",
                                       lambda d: d["path"].__setitem__(0, "ab" * 32)),
     "does not reach the root"),
    ("seal root", lambda b: edit_json(b.seal, lambda d: d["tree"].update(root="ab" * 32)),
     "audit path does not reach the root"),
    ("seal signature", lambda b: edit_json(
        b.seal, lambda d: d.update(signature=flip_b64(d["signature"], 3))),
     "the run seal: invalid Ed25519 signature"),
    ("token", lambda b: reseal(b, lambda d: d["timestamps"][0].update(
        response=flip_b64(d["timestamps"][0]["response"], -1))),
     "timestamp[test-tsa]: bad signature"),
    ("README", lambda b: (b.root / "README.txt").write_text("trust me\n"),
     "README.txt: SHA-256"),
    ("verify.py", lambda b: (b.root / "verify.py").write_bytes(
        (b.root / "verify.py").read_bytes() + b"\n# changed\n"),
     "verify.py: SHA-256"),
    ("unlisted file", lambda b: (b.root / "report.html").write_text("<p>new</p>"),
     "report.html is not listed in the signed index"),
    ("extra manifest", lambda b: (b.root / "manifests" / "01JDUNSEALED.json").write_bytes(
        manifest("01JDUNSEALED", [])), "not sealed: no inclusion proof"),
]


@pytest.mark.parametrize(("what", "tamper", "expected"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampering_is_named(verify: Runner, built: Built, what: str,
                            tamper: Callable[[Built], None], expected: str) -> None:
    tamper(built)
    code, out = verify(built, *built.anchors())
    assert code == 1, out
    assert expected in out, out
    assert "NOT VERIFIED" in out


# --- one implementation ----------------------------------------------------------------------


def test_rfc6962_vectors_in_the_bundled_copy(clean_python: Path, built: Built) -> None:
    """The RFC 6962 tree heads and audit paths, computed by the bundle's own verify.py."""
    from tests.test_merkle import CT_INPUTS, CT_PROOFS, CT_ROOTS

    script = (
        "import json, sys\nsys.path.insert(0, sys.argv[1])\nimport verify as v\n"
        "inputs = [bytes.fromhex(h) for h in json.loads(sys.argv[2])]\n"
        "roots = [v.merkle_root(inputs[:n]).hex() for n in range(1, len(inputs) + 1)]\n"
        "proofs = []\n"
        "for index, size, path in json.loads(sys.argv[3]):\n"
        "    hs = [v.leaf_hash(x) for x in inputs[:size]]\n"
        "    got = [p.hex() for p in v.audit_path(index, hs)]\n"
        "    ok = v.verify_inclusion(inputs[index], index, size, [bytes.fromhex(p) for p in path],"
        " bytes.fromhex(roots[size - 1]))\n"
        "    proofs.append([got, ok])\n"
        "print(json.dumps([roots, proofs]))\n"
    )
    proc = subprocess.run(
        [str(clean_python), "-c", script, str(built.root),
         json.dumps([x.hex() for x in CT_INPUTS]), json.dumps(CT_PROOFS)],
        capture_output=True, text=True, check=True, timeout=60)
    roots, proofs = json.loads(proc.stdout)
    assert roots == CT_ROOTS
    assert proofs == [[path, True] for _, _, path in CT_PROOFS]


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, False, None], "é": "ü", "\U0001f600": "x", "\uffff": "y"},
        {"s": 'quote" back\\ ctl\x00\x1f\n\t\b\f\r del\x7f line\u2028 emoji \U0001f600'},
        {"n": -(2**53 - 1), "m": 0, "nested": {"z": {}, "y": []}},
        {"": "", "aa": "a", "a": "aa", "A": "B", "\u00e9": 1, "e\u0301": 2},
    ],
)
def test_canonical_json_matches_rfc8785(value: Any) -> None:
    assert sv.canonical_json(value) == rfc8785.dumps(value)


def test_runs_on_python_39_syntax() -> None:
    import ast

    ast.parse(VERIFY_PY.read_text(), feature_version=(3, 9))
    head = VERIFY_PY.read_text().split('"""', 2)[2].split("def ")[0]
    assert "crawler" not in head and "rfc3161" not in head and "rfc8785" not in head
    assert sys.version_info >= (3, 9)


def test_the_package_uses_the_same_checks() -> None:
    from crawler.seal import custody as custody_module
    from crawler.seal import merkle, sealer

    assert merkle._verify_path is sv.verify_path and merkle._root is sv.tree_hash
    assert "sv.check_custody_chain" in Path(custody_module.__file__).read_text()
    assert "sv.check_signature" in Path(sealer.__file__).read_text()


def test_no_token_byte_flip_crashes_either_verifier(built: Built, tsa_server: TSAServer) -> None:
    """Each single-byte change is refused by name, or lies in an unsigned, unused field."""
    doc = json.loads(built.seal.read_bytes())
    der = base64.b64decode(doc["timestamps"][0]["response"])
    root = bytes.fromhex(doc["tree"]["root"])
    ca_pem = tsa_server.pki.ca_pem.read_bytes()
    anchors = x509.load_pem_x509_certificates(ca_pem)
    accepted = 0
    for i in range(len(der)):
        bad = bytearray(der)
        bad[i] ^= 0x01
        try:
            sv.verify_token(bytes(bad), root, anchors)
        except sv.VerifyError:
            pass
        else:
            accepted += 1
        try:
            verify_timestamp(bytes(bad), root, ca_pem)
        except SealError:
            pass
        else:
            accepted += 1
    assert accepted < 40  # status, versions, algorithm parameters: nothing that is signed
