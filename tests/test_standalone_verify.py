"""The bundled verify.py, run in a clean venv holding only `cryptography`, on real bundles."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import rfc8785

from crawler.clock import FrozenClock
from crawler.exceptions import SealError
from crawler.seal import TSAConfig, custody, init_key, seal_run, verify_timestamp
from crawler.seal import standalone_verify as sv
from storage.layout import bundle_run_name
from storage.local import LocalStore

VERIFY_PY = Path(sv.__file__)
RUN = "01JDRUN0000000000000000000"
CAPTURES = [f"01JD{i:022d}" for i in range(3)]

if TYPE_CHECKING:
    from tests.tsa_server import TSAServer



def manifest(capture_id: str, artifacts: list[tuple[str, bytes, str]]) -> bytes:
    return rfc8785.dumps(
        {
            "capture_id": capture_id,
            "run_id": RUN,
            "artifacts": [
                {
                    "name": name,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "media_type": media,
                }
                for name, data, media in artifacts
            ],
        }
    )


def build_bundle(root: Path, tsa: TSAServer, tmp: Path) -> dict[str, Any]:
    """Assemble a bundle like the export does: manifests, artifacts, seal, custody, verify.py."""
    clock = FrozenClock("2026-11-28T10:00:00Z", step=1.0)
    signer = init_key(tmp / "seal.pem", overwrite=True)
    store = LocalStore(tmp / "store")
    for folder in ("manifests", "artifacts", "seals"):
        (root / folder).mkdir(parents=True)
    digests = {}
    for n, capture_id in enumerate(CAPTURES):
        arts = [
            ("page.html", f"<html>{n}</html>".encode(), "text/html"),
            ("screenshot.png", b"\x89PNG" + bytes([n]) * 100, "image/png"),
        ]
        for _, data, _ in arts:
            (root / "artifacts" / hashlib.sha256(data).hexdigest()).write_bytes(data)
        doc = manifest(capture_id, arts)
        (root / "manifests" / f"{capture_id}.json").write_bytes(doc)
        digests[capture_id] = hashlib.sha256(doc).hexdigest()
        custody.append(
            store, "captured", clock=clock, actor="crawler", run_id=RUN, capture_ids=[capture_id]
        )
    config = TSAConfig(tsa.url, (tsa.pki.ca_pem,), "test-tsa", timeout=5, attempts=1)
    seal = seal_run(RUN, digests, signer=signer, tsas=[config], clock=clock)
    seal_path = root / "seals" / bundle_run_name(RUN, "demo")
    seal_path.write_bytes(seal.document)
    custody.append(
        store,
        "sealed",
        clock=clock,
        actor="crawler",
        run_id=RUN,
        capture_ids=CAPTURES,
        details={"root": seal.root},
    )
    custody.append(store, "exported", clock=clock, actor="analyst", capture_ids=CAPTURES)
    (root / "custody.jsonl").write_bytes(custody.to_jsonl(custody.read_log(store)))
    shutil.copyfile(VERIFY_PY, root / "verify.py")
    return {"fingerprint": signer.fingerprint, "seal": seal_path}


@pytest.fixture
def bundle(tmp_path: Path, tsa_server: TSAServer) -> tuple[Path, dict[str, Any]]:
    root = tmp_path / "bundle"
    return root, build_bundle(root, tsa_server, tmp_path)


def run(python: Path, bundle: Path, *args: str, script: Path | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [str(python), str(script or bundle / "verify.py"), *args],
        env=env,
        cwd=bundle.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_bytes(rfc8785.dumps(doc))


def flip_b64(text: str, position: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[position] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# --- it passes --------------------------------------------------------------------------


def test_verifies_a_good_bundle(clean_python: Path, bundle: tuple[Path, dict[str, Any]]) -> None:
    root, info = bundle
    code, out = run(clean_python, root, str(root))
    assert code == 0, out
    for capture_id in CAPTURES:
        assert f"OK   {capture_id}" in out
    assert "2 artifact(s) match their manifest" in out
    assert "timestamped by test-tsa at 2026-" in out
    assert "CA bundled in the seal, not pinned" in out
    assert f"signed by {info['fingerprint']} (key not vouched for" in out
    assert "custody: 2026-11-28T10:00:00.000000Z captured by crawler" in out
    assert "OK   custody log: hash chain intact" in out
    assert out.rstrip().endswith("VERIFIED: every capture checks out")


def test_defaults_to_its_own_folder_and_pins(
    clean_python: Path, bundle: tuple[Path, dict[str, Any]], tsa_server: TSAServer
) -> None:
    root, info = bundle
    code, out = run(
        clean_python,
        root,
        "--trust-tsa-ca",
        str(tsa_server.pki.ca_pem),
        "--trust-key",
        info["fingerprint"],
    )
    assert code == 0, out
    assert "from your --trust-tsa-ca" in out and "(trusted key)" in out


def test_verifies_a_zip(clean_python: Path, bundle: tuple[Path, dict[str, Any]]) -> None:
    root, _ = bundle
    archive = root.parent / "case.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(root.rglob("*")):
            zf.write(path, Path("case") / path.relative_to(root))
    code, out = run(clean_python, root, str(archive), script=VERIFY_PY)
    assert code == 0, out
    assert out.count("OK   01JD") == 3


def test_usage_error(clean_python: Path, bundle: tuple[Path, dict[str, Any]]) -> None:
    root, _ = bundle
    code, out = run(clean_python, root, str(root / "nope"))
    assert code == 2 and "no such bundle" in out
    code, out = run(clean_python, root, "--trust-tsa-ca", str(root / "nope.pem"))
    assert code == 2 and "--trust-tsa-ca" in out


# --- it fails, by name, on each tampering -----------------------------------------------


def _first_artifact(root: Path) -> Path:
    doc = json.loads((root / "manifests" / f"{CAPTURES[0]}.json").read_bytes())
    return root / "artifacts" / doc["artifacts"][0]["sha256"]


def tamper_artifact(root: Path, info: dict[str, Any]) -> None:
    path = _first_artifact(root)
    path.write_bytes(path.read_bytes() + b"!")


def remove_artifact(root: Path, info: dict[str, Any]) -> None:
    _first_artifact(root).unlink()


def tamper_manifest(root: Path, info: dict[str, Any]) -> None:
    edit_json(root / "manifests" / f"{CAPTURES[0]}.json", lambda d: d.update(run_id="other"))


def tamper_seal_leaf(root: Path, info: dict[str, Any]) -> None:
    edit_json(info["seal"], lambda d: d["leaves"][1].update(manifest_sha256="ab" * 32))


def tamper_seal_root(root: Path, info: dict[str, Any]) -> None:
    edit_json(info["seal"], lambda d: d["tree"].update(root="ab" * 32))


def tamper_signature(root: Path, info: dict[str, Any]) -> None:
    edit_json(info["seal"], lambda d: d.update(signature=flip_b64(d["signature"], 3)))


def tamper_token(root: Path, info: dict[str, Any]) -> None:
    def change(doc: Any) -> None:
        doc["timestamps"][0]["response"] = flip_b64(doc["timestamps"][0]["response"], -1)

    edit_json(info["seal"], change)


def tamper_custody_line(root: Path, info: dict[str, Any]) -> None:
    path = root / "custody.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"actor":"crawler"', b'"actor":"mallory"')
    path.write_bytes(b"".join(lines))


def remove_custody_line(root: Path, info: dict[str, Any]) -> None:
    path = root / "custody.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:1] + lines[2:]))


def extra_manifest(root: Path, info: dict[str, Any]) -> None:
    (root / "manifests" / "01JDUNSEALED.json").write_bytes(manifest("01JDUNSEALED", []))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (tamper_artifact, "artifact page.html: SHA-256 is"),
        (remove_artifact, "artifact page.html: artifacts/"),
        (tamper_manifest, "differs from sealed"),
        (tamper_seal_leaf, "the Merkle root does not match the seal's leaves"),
        (tamper_seal_root, "timestamp[test-tsa]: digest mismatch"),
        (tamper_signature, "signature: invalid Ed25519 signature"),
        (tamper_token, "timestamp[test-tsa]: bad signature"),
        (tamper_custody_line, "custody.jsonl line 5: prev does not match line 4"),
        (remove_custody_line, "custody.jsonl line 2: seq 2, expected 1"),
        (extra_manifest, "not in any seal in the bundle"),
    ],
)
def test_fails_on_tampering(
    clean_python: Path,
    bundle: tuple[Path, dict[str, Any]],
    tamper: Callable[[Path, dict[str, Any]], None],
    expected: str,
) -> None:
    root, info = bundle
    tamper(root, info)
    code, out = run(clean_python, root, str(root))
    assert code == 1, out
    assert expected in out, out
    assert "NOT VERIFIED" in out


def test_fails_on_wrong_trusted_key(
    clean_python: Path, bundle: tuple[Path, dict[str, Any]]
) -> None:
    root, _ = bundle
    code, out = run(clean_python, root, str(root), "--trust-key", "sha256:" + "00" * 32)
    assert code == 1 and "is not one of --trust-key" in out


def test_token_from_untrusted_ca(
    clean_python: Path, tmp_path: Path, rogue_tsa_server: TSAServer, tsa_server: TSAServer
) -> None:
    root = tmp_path / "rogue-bundle"
    build_bundle(root, rogue_tsa_server, tmp_path)
    code, out = run(clean_python, root, str(root))  # bundled CA: verifies (EC TSA key)
    assert code == 0, out
    code, out = run(clean_python, root, str(root), "--trust-tsa-ca", str(tsa_server.pki.ca_pem))
    assert code == 1
    assert "timestamp[test-tsa]: untrusted CA: TSA certificate" in out


# --- the pieces, in-process ------------------------------------------------------------------


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
    assert "crawler" not in VERIFY_PY.read_text().split('"""', 2)[2].split("def ")[0]


def test_in_process_main(bundle: tuple[Path, dict[str, Any]], capsys: Any) -> None:
    root, _ = bundle
    assert sv.main([str(root)]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    assert sys.version_info >= (3, 9)


def test_no_token_byte_flip_crashes_either_verifier(
    bundle: tuple[Path, dict[str, Any]], tsa_server: TSAServer
) -> None:
    """Each single-byte change is refused by name, or lies in an unsigned, unused field."""
    _, info = bundle
    doc = json.loads(info["seal"].read_bytes())
    der = base64.b64decode(doc["timestamps"][0]["response"])
    root = bytes.fromhex(doc["tree"]["root"])
    ca = tsa_server.pki.ca_pem.read_bytes()
    accepted = 0
    for i in range(len(der)):
        bad = bytearray(der)
        bad[i] ^= 0x01
        try:
            sv.verify_token(bytes(bad), root, ca, None)
        except sv.VerifyError:
            pass
        else:
            accepted += 1
        try:
            verify_timestamp(bytes(bad), root, ca)
        except SealError:
            pass
        else:
            accepted += 1
    assert accepted < 40  # status, versions, algorithm parameters: nothing that is signed
