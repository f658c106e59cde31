"""Run seals end to end against a real RFC 3161 TSA on 127.0.0.1, and Ed25519 keys."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import rfc8785

from crawler.clock import FrozenClock
from crawler.exceptions import SealError
from crawler.seal import (
    Signer,
    TSAConfig,
    inclusion_proof_for,
    init_key,
    load_signer,
    request_timestamp,
    seal_run,
    verify_seal,
    verify_timestamp,
)

MANIFESTS = {f"01JD{i:022d}": hashlib.sha256(b"m%d" % i).hexdigest() for i in range(7)}
CAPTURE = "01JD0000000000000000000003"

if TYPE_CHECKING:
    from tests.tsa_server import TestPKI, TSAServer



def tsa_config(server: TSAServer, name: str = "trusted", ca: Path | None = None) -> TSAConfig:
    return TSAConfig(
        server.url, (ca or server.pki.ca_pem,), name, timeout=5, attempts=2, backoff=0.01
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock("2026-11-28T11:20:37.123456Z")


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return init_key(tmp_path / "keys" / "seal.pem")


@pytest.fixture
def sealed(tsa_server: TSAServer, signer: Signer, clock: FrozenClock) -> bytes:
    return seal_run(
        "R1", MANIFESTS, signer=signer, tsas=[tsa_config(tsa_server)], clock=clock
    ).document


def trusted(pki: TestPKI) -> list[bytes]:
    return [pki.ca_pem.read_bytes()]


def edit(document: bytes, change: Any) -> bytes:
    doc = json.loads(document)
    change(doc)
    return rfc8785.dumps(doc)


def flip(b64: str, position: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[position] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# --- sealing and verifying ----------------------------------------------------------------


def test_seal_and_verify(sealed: bytes, tsa_pki: TestPKI, signer: Signer) -> None:
    doc = json.loads(sealed)
    assert doc["type"] == "markwatch/run-seal"
    assert doc["run_id"] == "R1"
    assert doc["sealed_at"] == "2026-11-28T11:20:37.123456Z"
    assert [leaf["capture_id"] for leaf in doc["leaves"]] == sorted(MANIFESTS)
    assert doc["tree"]["size"] == 7
    assert doc["signer"]["fingerprint"] == signer.fingerprint
    assert doc["timestamps"][0]["ca_chain_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert rfc8785.dumps(doc) == sealed
    for capture_id, digest in MANIFESTS.items():
        result = verify_seal(sealed, digest, capture_id, trusted(tsa_pki), [signer.fingerprint])
        assert result.ok, result.failures
        assert result.included and result.signature_valid and result.signer_trusted
        assert result.run_id == "R1"
        [stamp] = result.timestamps
        assert stamp.label == "trusted"
        assert "Trusted TSA" in stamp.tsa
        assert stamp.gen_time.tzinfo is not None
        assert stamp.policy == "1.3.6.1.4.1.55555.1.1"
        assert "timestamped by trusted" in result.summary()


def test_run_seal_object(tsa_server: TSAServer, signer: Signer, clock: FrozenClock) -> None:
    seal = seal_run("R1", MANIFESTS, signer=signer, tsas=[tsa_config(tsa_server)], clock=clock)
    assert seal.sha256 == hashlib.sha256(seal.document).hexdigest()
    assert seal.signer_fingerprint == signer.fingerprint
    assert seal.timestamps[0].serial > 0
    proof = inclusion_proof_for(seal, CAPTURE)
    assert proof == inclusion_proof_for(seal.document, CAPTURE)
    assert proof.verify() and proof.index == 3 and proof.tree_size == 7
    with pytest.raises(KeyError):
        inclusion_proof_for(seal, "nope")


def test_tampered_proof_element_fails(sealed: bytes) -> None:
    proof = inclusion_proof_for(sealed, CAPTURE)
    for k in range(len(proof.path)):
        path = list(proof.path)
        path[k] = hashlib.sha256(path[k].encode()).hexdigest()
        assert not dataclasses.replace(proof, path=tuple(path)).verify()
    assert not dataclasses.replace(proof, manifest_sha256="00" * 32).verify()


def test_changed_manifest_digest_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    result = verify_seal(sealed, "ab" * 32, CAPTURE, trusted(tsa_pki))
    assert not result.ok and not result.included
    assert any(f.startswith("inclusion: manifest digest mismatch") for f in result.failures)
    assert result.timestamps  # what still holds is still reported


def test_unknown_capture_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    result = verify_seal(sealed, "ab" * 32, "01JDXXXX", trusted(tsa_pki))
    assert "inclusion: capture 01JDXXXX is not in this seal" in result.failures


def test_changed_leaf_in_seal_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["leaves"][0]["manifest_sha256"] = "cd" * 32

    result = verify_seal(edit(sealed, change), MANIFESTS[CAPTURE], CAPTURE, trusted(tsa_pki))
    assert "tree: the root does not match the seal's leaves" in result.failures
    assert not result.ok  # from version 2 the signature covers the root, not the leaves


def test_changed_signature_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["signature"] = flip(doc["signature"], 10)

    result = verify_seal(edit(sealed, change), MANIFESTS[CAPTURE], CAPTURE, trusted(tsa_pki))
    assert result.signature_valid is False
    [failure] = [f for f in result.failures if f.startswith("signature:")]
    assert failure.startswith("signature: invalid Ed25519 signature by sha256:")
    assert result.included and result.timestamps


def test_changed_body_breaks_signature(sealed: bytes, tsa_pki: TestPKI) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["sealed_at"] = "2020-01-01T00:00:00.000000Z"

    result = verify_seal(edit(sealed, change), MANIFESTS[CAPTURE], CAPTURE, trusted(tsa_pki))
    assert any(f.startswith("signature: invalid") for f in result.failures)


def test_untrusted_signer_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    result = verify_seal(sealed, MANIFESTS[CAPTURE], CAPTURE, trusted(tsa_pki), ["sha256:00"])
    assert result.signature_valid and result.signer_trusted is False
    assert any("is not trusted" in f for f in result.failures)


def test_changed_token_byte_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["timestamps"][0]["response"] = flip(doc["timestamps"][0]["response"], -1)

    result = verify_seal(edit(sealed, change), MANIFESTS[CAPTURE], CAPTURE, trusted(tsa_pki))
    assert any(f.startswith("timestamp[trusted]: bad signature") for f in result.failures)
    assert any(f.startswith("signature: invalid") for f in result.failures)
    assert not result.timestamps


def test_token_for_other_root_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    der = base64.b64decode(json.loads(sealed)["timestamps"][0]["response"])
    with pytest.raises(SealError, match=r"^digest mismatch"):
        verify_timestamp(der, b"\x00" * 32, tsa_pki.ca_pem.read_bytes())


def test_token_with_changed_imprint_fails(sealed: bytes, tsa_pki: TestPKI) -> None:
    doc = json.loads(sealed)
    der = base64.b64decode(doc["timestamps"][0]["response"])
    imprint = hashlib.sha256(bytes.fromhex(doc["tree"]["root"])).digest()
    assert der.count(imprint) == 1
    bad = der.replace(imprint, imprint[:-1] + bytes([imprint[-1] ^ 1]))
    with pytest.raises(SealError, match=r"^digest mismatch"):
        verify_timestamp(bad, bytes.fromhex(doc["tree"]["root"]), tsa_pki.ca_pem.read_bytes())


def test_malformed_token_fails(tsa_pki: TestPKI) -> None:
    for junk in (b"", b"\x30\x03\x02\x01\x00", b"not DER at all"):
        with pytest.raises(SealError, match=r"^malformed timestamp"):
            verify_timestamp(junk, b"\x00" * 32, tsa_pki.ca_pem.read_bytes())


def test_untrusted_tsa_ca_fails(
    rogue_tsa_server: TSAServer, tsa_pki: TestPKI, signer: Signer, clock: FrozenClock
) -> None:
    # sealing works (the rogue TSA is verified against its own CA) ...
    seal = seal_run(
        "R2", MANIFESTS, signer=signer, tsas=[tsa_config(rogue_tsa_server, "rogue")], clock=clock
    )
    # ... but a verifier trusting only the real CA rejects its token, by name
    result = verify_seal(seal.document, MANIFESTS[CAPTURE], CAPTURE, trusted(tsa_pki))
    assert not result.ok and result.included and result.signature_valid
    [failure] = result.failures
    assert failure.startswith("timestamp[rogue]: untrusted CA: TSA certificate")
    assert "Rogue Test Root CA" in failure


def test_tsa_answering_with_other_ca_fails_closed(
    rogue_tsa_server: TSAServer, tsa_pki: TestPKI, signer: Signer, clock: FrozenClock
) -> None:
    config = tsa_config(rogue_tsa_server, "rogue", ca=tsa_pki.ca_pem)
    with pytest.raises(SealError, match="untrusted CA"):
        seal_run("R3", MANIFESTS, signer=signer, tsas=[config], clock=clock)


def test_two_tsas(
    tsa_server: TSAServer,
    rogue_tsa_server: TSAServer,
    tsa_pki: TestPKI,
    signer: Signer,
    clock: FrozenClock,
) -> None:
    tsas = [tsa_config(tsa_server), tsa_config(rogue_tsa_server, "rogue")]
    seal = seal_run("R4", MANIFESTS, signer=signer, tsas=tsas, clock=clock)
    both = [*trusted(tsa_pki), rogue_tsa_server.pki.ca_pem.read_bytes()]
    result = verify_seal(seal.document, MANIFESTS[CAPTURE], CAPTURE, both)
    assert result.ok, result.failures
    assert [t.label for t in result.timestamps] == ["trusted", "rogue"]


# --- fail closed --------------------------------------------------------------------------


def test_tsa_down_fails_closed(tsa_server: TSAServer, signer: Signer, clock: FrozenClock) -> None:
    config = tsa_config(tsa_server)
    tsa_server.stop()
    with pytest.raises(SealError, match="unreachable after 2 attempts"):
        seal_run("R1", MANIFESTS, signer=signer, tsas=[config], clock=clock)


def test_tsa_500_fails_closed_after_retries(
    tsa_server: TSAServer, signer: Signer, clock: FrozenClock
) -> None:
    tsa_server.mode = "500"
    before = tsa_server.requests
    with pytest.raises(SealError, match=r"trusted unreachable after 2 attempts.*HTTP 500"):
        seal_run("R1", MANIFESTS, signer=signer, tsas=[tsa_config(tsa_server)], clock=clock)
    assert tsa_server.requests - before == 2


def test_tsa_garbage_fails_closed(tsa_server: TSAServer, clock: FrozenClock) -> None:
    tsa_server.mode = "garbage"
    with pytest.raises(SealError, match="malformed timestamp"):
        seal_run("R1", MANIFESTS, signer=None, tsas=[tsa_config(tsa_server)], clock=clock)


def test_one_failing_tsa_fails_the_seal(
    tsa_server: TSAServer, dead_tsa_url: str, signer: Signer, clock: FrozenClock
) -> None:
    dead = TSAConfig(dead_tsa_url, (tsa_server.pki.ca_pem,), "dead", timeout=2, attempts=1)
    with pytest.raises(SealError, match="TSA dead unreachable"):
        seal_run("R1", MANIFESTS, signer=signer, tsas=[tsa_config(tsa_server), dead], clock=clock)


def test_request_timestamp_direct(tsa_server: TSAServer) -> None:
    token = request_timestamp(b"\x11" * 32, tsa_config(tsa_server))
    assert token.tsa_name == "trusted"
    assert token.ca_pem == tsa_server.pki.ca_pem.read_bytes().strip() + b"\n"
    info = verify_timestamp(token.response_der, b"\x11" * 32, token.ca_pem)
    assert info.serial == token.info.serial
    openssl = subprocess.run(  # a third party's tool agrees
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            hashlib.sha256(b"\x11" * 32).hexdigest(),
            "-in",
            "/dev/stdin",
            "-CAfile",
            str(tsa_server.pki.ca_pem),
        ],
        input=token.response_der,
        capture_output=True,
        check=False,
    )
    assert openssl.returncode == 0, openssl.stderr


def test_bad_tsa_config() -> None:
    with pytest.raises(SealError, match="http"):
        TSAConfig("ftp://x", (Path("ca.pem"),), "x")
    with pytest.raises(SealError, match="no CA"):
        TSAConfig("http://x", (), "x")
    with pytest.raises(SealError, match="cannot read CA file"):
        request_timestamp(b"\x00" * 32, TSAConfig("http://127.0.0.1:9", (Path("/nope"),), "x"))


def test_unconfigured_seal_is_merkle_only(tsa_pki: TestPKI, clock: FrozenClock) -> None:
    seal = seal_run("R5", MANIFESTS, signer=None, tsas=[], clock=clock)
    doc = json.loads(seal.document)
    assert doc["signer"] is None and doc["signature"] is None and doc["timestamps"] == []
    result = verify_seal(seal.document, MANIFESTS[CAPTURE], CAPTURE, trusted(tsa_pki))
    assert result.ok and result.included
    assert result.signature_valid is None and result.timestamps == []


def test_seal_is_deterministic_without_tsa(signer: Signer, clock: FrozenClock) -> None:
    one = seal_run("R6", MANIFESTS, signer=signer, tsas=[], clock=FrozenClock("2026-01-01"))
    two = seal_run(
        "R6",
        dict(reversed(MANIFESTS.items())),
        signer=signer,
        tsas=[],
        clock=FrozenClock("2026-01-01"),
    )
    assert one.document == two.document


def test_nothing_or_bad_digest_is_refused(clock: FrozenClock) -> None:
    with pytest.raises(SealError, match="nothing to seal"):
        seal_run("R7", {}, signer=None, tsas=[], clock=clock)
    with pytest.raises(SealError, match="not a lower-case SHA-256"):
        seal_run("R7", {"C1": "ABC"}, signer=None, tsas=[], clock=clock)


def test_malformed_seal_document(tsa_pki: TestPKI) -> None:
    for junk in (b"nope", b"{}", b'{"type": "markwatch/run-seal", "version": 9}'):
        result = verify_seal(junk, "ab" * 32, CAPTURE, trusted(tsa_pki))
        assert not result.ok and result.failures[0].startswith("seal:")


# --- keys ---------------------------------------------------------------------------------


def test_init_key_is_private_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k" / "seal.pem"
    signer = init_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert signer.fingerprint == "sha256:" + hashlib.sha256(signer.public_key_raw).hexdigest()
    assert base64.b64decode(signer.public_key_b64) == signer.public_key_raw
    assert load_signer(path).fingerprint == signer.fingerprint
    with pytest.raises(SealError, match="already exists"):
        init_key(path)
    assert load_signer(path).fingerprint == signer.fingerprint
    replaced = init_key(path, overwrite=True)
    assert replaced.fingerprint != signer.fingerprint
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["seal.pem"]


def test_load_signer_errors(tmp_path: Path) -> None:
    with pytest.raises(SealError, match="cannot read signing key"):
        load_signer(tmp_path / "missing.pem")
    path = tmp_path / "open.pem"
    init_key(path)
    path.chmod(0o644)
    with pytest.raises(SealError, match=r"permissions 0644.*chmod 600"):
        load_signer(path)
    rsa = tmp_path / "rsa.pem"
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            str(rsa),
        ],
        check=True,
        capture_output=True,
    )
    rsa.chmod(0o600)
    with pytest.raises(SealError, match="not an Ed25519 key"):
        load_signer(rsa)
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"hello")
    junk.chmod(0o600)
    with pytest.raises(SealError, match="not an unencrypted PEM private key"):
        load_signer(junk)


def test_run_summary_says_time_is_not_attested_without_a_tsa() -> None:
    from crawler.seal.runs import SealOutcome

    line = SealOutcome("R", "demo", "sealed", key="seals/R/demo.json",
                       signer="sha256:" + "ab" * 32).describe()
    assert "signed by sha256:" in line
    assert "time NOT attested: no time-stamping authority is configured (SEAL_TSAS)" in line
    stamped = SealOutcome("R", "demo", "sealed", key="k", signer="sha256:x", timestamps=[
        {"tsa": "demo TSA, not a trusted authority", "gen_time": "2026-01-01T00:00:00Z"}])
    assert "not attested" not in stamped.describe()
    assert "timestamped by demo TSA, not a trusted authority" in stamped.describe()
