"""`markwatch evidence export`: a self-contained, offline-verifiable zip for a third party.

Layout (inside one folder named after the zip):

    README.txt                      what this is and how to verify it
    verify.py                       crawler/seal/standalone_verify.py, byte for byte
    index.json                      the signed bundle index: SHA-256 of every file below that
                                    the seals do not cover, and the custody tree
    manifests/<capture_id>.json     the manifests, byte for byte as stored
    artifacts/<sha256>              every artifact they list
    seals/<run_id>.<marketplace>.json   the run seals WITHOUT their leaves (version 2: the
                                        signature and timestamps cover the root), so other
                                        captures' ids never leave the store
    proofs/<capture_id>.json        the capture's Merkle inclusion proof into its seal
    custody.jsonl                   only the custody entries naming the exported captures
    custody-proofs.json             each one's inclusion proof in the custody tree the index
                                    signs (its size and root over the whole log)
    report/<capture_id>.html|.pdf   a human-readable report per capture, with three verdicts

Disclosure: no run records, no other capture's id, URL, search term or store URI. Captures
are verified (with their seals) before anything is written; one that fails is not exported.
The `exported` custody event is appended before the custody tree is computed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785

from crawler.clock import Clock, isoformat
from crawler.evidence.screenshot import SCREENSHOT_NAMES
from crawler.evidence.verify import Verdict, Verifier
from crawler.evidence.warc_refs import referenced_blobs, write_materialised
from crawler.exceptions import ConfigError, MarkwatchError
from crawler.export.report import ReportSeal, render_report
from crawler.seal import custody, standalone_verify
from crawler.seal import standalone_verify as sv
from crawler.seal.check import NOT_SEALED, SealChecker, SealFinding
from crawler.seal.config import SealConfig
from storage.base import Store
from storage.catalog import Catalog
from storage.layout import bundle_run_name

__all__ = ["ExportResult", "export_bundle"]

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class ExportResult:
    """What an export wrote."""

    output: Path
    captures: list[str]
    files: int = 0
    warnings: list[str] = field(default_factory=list)


def export_bundle(store: Store, catalog: Catalog | None, capture_ids: Sequence[str],
                  output: Path, *, seal_config: SealConfig, clock: Clock,
                  pdf: bool = True) -> ExportResult:
    """Write the bundle of `capture_ids` to `output` (a new .zip); MarkwatchError if unable."""
    if output.exists():
        raise ConfigError(f"{output} already exists; not overwriting it")
    ids = list(dict.fromkeys(capture_ids))
    checker = SealChecker(store, seal_config)
    verifier = Verifier(store, catalog, checker)
    verdicts = [verifier.verify(cid) for cid in ids]
    bad = [f"{v.capture_id}: {p}" for v in verdicts for p in v.problems]
    if bad:
        raise MarkwatchError("refusing to export evidence that does not verify: "
                             + "; ".join(bad[:10]))
    result = ExportResult(output, ids)
    result.warnings += [f"{v.capture_id}: {NOT_SEALED}: the bundle's verify.py will refuse it"
                        for v in verdicts if any(NOT_SEALED in n or "not sealed" in n
                                                 for n in v.notes)]
    signer = seal_config.signer()
    if signer is None:
        result.warnings.append("no sealing key (SEAL_KEY=off): the bundle index is not signed "
                               "and verify.py will not prove its origin")
    with tempfile.TemporaryDirectory(prefix="markwatch-export-") as tmp:
        root = Path(tmp) / (output.stem or "bundle")
        writer = _Writer(store, root)
        jobs = []
        for verdict in verdicts:
            key = verifier.manifest_key(verdict.capture_id)
            assert key is not None  # it verified
            jobs.append(writer.capture(verdict, key, checker.findings.get(verdict.capture_id),
                                       isoformat(clock.now())))
        if pdf:
            from crawler.export.pdf import print_pdfs

            print_pdfs([(html, html.with_suffix(".pdf")) for html in jobs])
        shutil.copyfile(standalone_verify.__file__, root / "verify.py")
        verify_sha = hashlib.sha256((root / "verify.py").read_bytes()).hexdigest()
        (root / "README.txt").write_text(_readme(writer, ids, pdf, verify_sha), encoding="utf-8")
        custody.append(store, "exported", clock=clock, actor=seal_config.actor,
                       capture_ids=ids, details={"bundle": output.name, "format": "bundle"})
        log = custody.read_log(store)
        disclosed = custody.entries_for(log, ids)
        (root / "custody.jsonl").write_bytes(custody.to_jsonl(disclosed))
        (root / "custody-proofs.json").write_bytes(rfc8785.dumps(
            [custody.tree_path(log, entry.seq) for entry in disclosed]))
        index = _index(root, ids, log, disclosed, clock)
        if signer is not None:
            index["signer"] = {"algorithm": "ed25519", "public_key": signer.public_key_b64,
                               "fingerprint": signer.fingerprint}
            index["signature"] = base64.b64encode(
                signer.sign(standalone_verify.signing_body(index))).decode("ascii")
        (root / "index.json").write_bytes(rfc8785.dumps(index))
        result.files = _zip(root, output)
    return result


def _index(root: Path, ids: Sequence[str], log: Sequence[custody.CustodyEntry],
           disclosed: Sequence[custody.CustodyEntry], clock: Clock) -> dict[str, Any]:
    """The bundle index (unsigned): every file the seals do not cover, with its SHA-256."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(("manifests/", "artifacts/")):
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "type": standalone_verify.INDEX_TYPE, "version": 1,
        "created_at": isoformat(clock.now()),
        "captures": list(ids),
        "files": files,
        "custody": {"size": len(log), "root": custody.tree_root(log),
                    "entries": [entry.seq for entry in disclosed]},
        "signer": None, "signature": None,
    }


class _Writer:
    """Copies one capture's evidence from the store into the bundle folder."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self.signers: set[str] = set()
        self.tsas: set[str] = set()
        for folder in ("manifests", "artifacts", "seals", "proofs", "report"):
            (root / folder).mkdir(parents=True, exist_ok=True)

    def capture(self, verdict: Verdict, key: str, finding: SealFinding | None,
                now: str) -> Path:
        """Write manifest, artifacts, run record, seal and HTML report; the report's path."""
        manifest = verdict.manifest
        assert manifest is not None
        cid = verdict.capture_id
        data = self.store.read_document(key)
        (self.root / "manifests" / f"{cid}.json").write_bytes(data)
        screenshot = None
        for artifact in manifest["artifacts"]:
            self._blob(artifact["sha256"])
            if artifact["name"] in SCREENSHOT_NAMES:
                screenshot = f"../artifacts/{artifact['sha256']}"
        for sha256 in referenced_blobs(self.store, manifest):  # payloads its WARC names
            self._blob(sha256)
        write_materialised(self.store, manifest, self.root / "warc")  # the WARC, complete
        run_id, marketplace = manifest["run_id"], manifest["watch"]["marketplace"]
        flat = bundle_run_name(run_id, marketplace)
        seal = ReportSeal()
        if finding is not None and finding.document is not None and finding.seal is not None:
            (self.root / "seals" / flat).write_bytes(_reduced(finding.seal))
            if finding.index is not None:
                (self.root / "proofs" / f"{cid}.json").write_bytes(
                    _proof(finding, cid, f"seals/{flat}"))
            seal = self._report_seal(finding)
        html = render_report(manifest, hashlib.sha256(data).hexdigest(), seal, screenshot, now)
        path = self.root / "report" / f"{cid}.html"
        path.write_text(html, encoding="utf-8")
        return path

    def _blob(self, sha256: str) -> None:
        target = self.root / "artifacts" / sha256
        if target.exists():
            return
        with target.open("wb") as out:
            for chunk in self.store.iter_blob(sha256):
                out.write(chunk)

    def _report_seal(self, finding: SealFinding) -> ReportSeal:
        three, seal_doc = finding.verdicts, finding.seal
        assert seal_doc is not None and finding.document is not None
        signer = (seal_doc.doc.get("signer") or {}).get("fingerprint")
        stamps = []
        for entry in seal_doc.doc.get("timestamps") or []:
            try:
                token = base64.b64decode(entry["response"], validate=True)
                when = sv.verify_token(token, seal_doc.root, None).gen_time
                stamps.append((str(entry.get("tsa")), isoformat(when)))
            except (sv.VerifyError, KeyError, TypeError, ValueError):
                continue  # the time verdict says why
        seal = ReportSeal(
            key=finding.key, root=seal_doc.root.hex(), timestamps=stamps,
            seal_sha256=hashlib.sha256(finding.document).hexdigest(),
            signer=signer,
            problems=[line for name in ("integrity", "origin", "time")
                      for line in getattr(three, name).lines
                      if getattr(three, name).status == sv.FAILED],
            verdicts=[(name, three.status(name), "; ".join(getattr(three, name).lines))
                      for name in ("integrity", "origin", "time")])
        seal.status = ", ".join(f"{name}: {three.status(name)}"
                                for name in ("integrity", "origin", "time"))
        if signer:
            self.signers.add(str(signer))
        self.tsas.update(str(t.get("tsa")) for t in seal_doc.doc.get("timestamps") or [])
        return seal


def _reduced(seal: sv.Seal) -> bytes:
    """The seal as a bundle carries it: without leaves when the signature does not need them."""
    if seal.doc.get("version", 1) >= 2:
        return rfc8785.dumps({k: v for k, v in seal.doc.items() if k != "leaves"})
    return rfc8785.dumps(seal.doc)  # version 1: the signature covers the leaves


def _proof(finding: SealFinding, capture_id: str, seal_name: str) -> bytes:
    seal = finding.seal
    assert seal is not None and seal.leaves is not None and finding.index is not None
    hashes = [sv.leaf_hash(bytes.fromhex(d)) for _, d in seal.leaves]
    return rfc8785.dumps({
        "type": sv.PROOF_TYPE, "capture_id": capture_id, "seal": seal_name,
        "manifest_sha256": seal.leaves[finding.index][1], "index": finding.index,
        "tree_size": len(seal.leaves),
        "path": [node.hex() for node in sv.audit_path(finding.index, hashes)],
    })


def _readme(writer: _Writer, ids: Sequence[str], pdf: bool, verify_sha: str) -> str:
    signers = "\n".join(f"    {s}" for s in sorted(writer.signers)) or "    (none: not signed)"
    tsas = "\n".join(f"    {t}" for t in sorted(writer.tsas)) or "    (none: time not attested)"
    reports = "report/<capture_id>.html and .pdf" if pdf else "report/<capture_id>.html"
    return f"""markwatch evidence bundle
=========================

{len(ids)} capture(s) of marketplace pages, with what is needed to check, without markwatch,
three things about each: INTEGRITY (nothing was changed since it was sealed), ORIGIN (whose
key sealed it) and TIME (an RFC 3161 time-stamping authority saw it by a given time).

Human-readable reports: {reports}.

1. First check verify.py itself. Its SHA-256 is
       {verify_sha}
   Compare it with the hash published with the markwatch release that made this bundle
   (`sha256sum verify.py`), or do not use it at all: with your own markwatch installation run
       markwatch verify THIS-BUNDLE.zip --trust-key sha256:HEX --trust-tsa-ca TSA-CA.pem

2. Then verify (Python 3.9+, and `cryptography` 45 or later; nothing else):

       python3 -m venv venv
       venv/bin/pip install cryptography
       venv/bin/python verify.py --trust-key sha256:HEX --trust-tsa-ca TSA-CA.pem

   sha256:HEX is the sealing key's fingerprint, which the sender must give you by another
   channel (letter, phone, signed e-mail); TSA-CA.pem is the CA certificate of the
   time-stamping authority, obtained from that authority (for a qualified TSA, from the EU
   trusted list). verify.py never trusts keys or CA certificates found inside the bundle.
   It prints, per capture, integrity / origin / time as PROVEN, NOT PROVEN, NOT ATTESTED
   or FAILED with the reasons, and exits 0 only if all three are proven for every capture.
   `--integrity-only` checks only the files against their seals, and says so.

Signing key fingerprint(s) named in this bundle (NOT proof: compare with the one you were
given):
{signers}

Time-stamping authorities named in this bundle:
{tsas}

Layout:
    index.json                  signed index: SHA-256 of the reports, this README, verify.py,
                                the seals, proofs and custody files; the custody tree head
    manifests/<capture_id>.json each capture's manifest (canonical JSON, RFC 8785)
    artifacts/<sha256>          the files the manifests list, named by SHA-256
    seals/<run>.json            run seals (Merkle root, RFC 3161 tokens, Ed25519 signature),
                                without other captures' entries
    proofs/<capture_id>.json    each manifest's Merkle inclusion proof into its seal
    custody.jsonl               the chain-of-custody entries about these captures
    custody-proofs.json         their inclusion proofs in the signed custody tree
    verify.py                   the verifier
"""


def _zip(root: Path, output: Path) -> int:
    """Zip `root` (as one enclosing folder) into `output`, atomically; the number of files."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    count = 0
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(f"{root.name}/{path.relative_to(root).as_posix()}",
                                           _ZIP_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    with path.open("rb") as src, zf.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst, 1024 * 1024)
                    count += 1
        os.link(partial, output)  # fails if someone created `output` meanwhile
    except FileExistsError as exc:
        raise ConfigError(f"{output} already exists; not overwriting it") from exc
    finally:
        partial.unlink(missing_ok=True)
    return count
