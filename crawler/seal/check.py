"""Checking a stored capture against its run seal: three verdicts, integrity, origin, time.

The checks are `crawler.seal.standalone_verify` (the code every bundle carries as verify.py);
the anchors are the operator's own configuration, never the seal's contents:

* origin: the seal's Ed25519 signature, by a key in `SEAL_TRUSTED_KEYS` or the configured
  `SEAL_KEY` itself (pinned), else "signed by F, not pinned";
* time: an RFC 3161 token chaining to `SEAL_TRUSTED_CAS` (else the CAs configured for
  `SEAL_TSAS`); the TSA CA copies inside the seal are never trusted; no token: "not attested".

A verdict that FAILED (forged signature, token over another root) is a problem; one NOT
PROVEN is a note (an operator without a TSA still sees their captures verify, told in words
that their time is not attested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509

from crawler.seal import standalone_verify as sv
from crawler.seal.config import SealConfig
from crawler.seal.runs import read_pending
from storage.base import Store
from storage.layout import run_seal_key

__all__ = ["NOT_SEALED", "SealChecker", "SealFinding", "ThreeVerdicts", "describe_seal"]

NOT_SEALED = "not sealed: origin and time are not attested"
DEMO_TSA_MARK = "not a trusted authority"


class _Verdict(Protocol):
    capture_id: str
    problems: list[str]
    proven: list[str]
    notes: list[str]


@dataclass
class ThreeVerdicts:
    """Integrity, origin and time of one capture (`standalone_verify.Finding` each)."""

    capture_id: str
    integrity: sv.Finding = field(default_factory=sv.Finding)
    origin: sv.Finding = field(default_factory=sv.Finding)
    time: sv.Finding = field(default_factory=sv.Finding)

    @property
    def ok(self) -> bool:
        """All three PROVEN."""
        return all(f.status == sv.PROVEN for f in (self.integrity, self.origin, self.time))

    def status(self, name: str) -> str:
        """PROVEN, NOT PROVEN, NOT ATTESTED (time without any token) or FAILED."""
        finding: sv.Finding = getattr(self, name)
        if name == "time" and finding.status == sv.NOT_PROVEN and any(
                line.startswith("not attested") for line in finding.lines):
            return "NOT ATTESTED"
        return finding.status

    def to_json(self) -> dict[str, Any]:
        return {"capture_id": self.capture_id, "ok": self.ok, **{
            name: {"status": self.status(name), "lines": list(getattr(self, name).lines)}
            for name in ("integrity", "origin", "time")}}

    def lines(self) -> list[str]:
        """`integrity: PROVEN: ...` lines for a terminal or a report."""
        out = []
        for name in ("integrity", "origin", "time"):
            finding: sv.Finding = getattr(self, name)
            out.append(f"{name}: {self.status(name)}" + (
                f": {finding.lines[0]}" if finding.lines else ""))
            out.extend(f"{name}: {line}" for line in finding.lines[1:])
        return out


@dataclass
class SealFinding:
    """A capture's seal document (None: the run has no seal) and its verdicts."""

    key: str
    document: bytes | None
    verdicts: ThreeVerdicts
    seal: sv.Seal | None = None
    index: int | None = None


class SealChecker:
    """Verifies captures' seals in a store against the configured anchors (`SealConfig`)."""

    def __init__(self, store: Store, config: SealConfig) -> None:
        self.store = store
        self.config = config
        cas: list[x509.Certificate] = []
        for pem in config.trusted_ca_pems():
            cas.extend(x509.load_pem_x509_certificates(pem))
        self.anchors = sv.Anchors(keys=list(config.pinned_keys()), tsa_cas=cas)
        self._docs: dict[str, bytes | None] = {}
        self.findings: dict[str, SealFinding] = {}

    def _seal(self, key: str) -> bytes | None:
        if key not in self._docs:
            try:
                self._docs[key] = self.store.read_document(key)
            except KeyError:
                self._docs[key] = None
        return self._docs[key]

    def check(self, manifest: dict[str, Any], digest: str, verdict: _Verdict) -> SealFinding:
        """Add the three verdicts to `verdict`: FAILED as problems, NOT PROVEN as notes."""
        run_id, marketplace = manifest["run_id"], manifest["watch"]["marketplace"]
        key = run_seal_key(run_id, marketplace)
        doc = self._seal(key)
        three = ThreeVerdicts(verdict.capture_id)
        finding = SealFinding(key, doc, three)
        self.findings[verdict.capture_id] = finding
        if doc is None:
            pending = read_pending(self.store, run_id, marketplace)
            if pending is not None:
                three.integrity.fail(
                    f"seal {key}: missing: sealing failed at {pending.get('failed_at')} "
                    f"({pending.get('reason')}); run `markwatch seal --pending`")
            else:
                three.integrity.lines.append(f"not sealed ({key} missing)")
            three.origin.lines.append("not sealed: nothing shows who made the capture")
            three.time.lines.append("not attested: the run was never sealed")
        else:
            self._check_sealed(key, doc, digest, finding)
        _report(three, key, verdict)
        return finding

    def _check_sealed(self, key: str, doc: bytes, digest: str, finding: SealFinding) -> None:
        three = finding.verdicts
        try:
            seal = sv.parse_seal(key, doc)
        except sv.VerifyError as exc:
            three.integrity.fail(f"seal {exc}")
            return
        finding.seal = seal
        leaves = seal.leaves or []
        index = next((i for i, (cid, _) in enumerate(leaves) if cid == three.capture_id), None)
        if index is None:
            three.integrity.fail(f"seal {key}: inclusion: capture is not in this seal")
        elif leaves[index][1] != digest:
            three.integrity.fail(
                f"seal {key}: inclusion: manifest digest mismatch (sealed {leaves[index][1]}, "
                f"stored {digest})")
        else:
            hashes = [sv.leaf_hash(bytes.fromhex(d)) for _, d in leaves]
            path = sv.audit_path(index, hashes)
            if sv.verify_inclusion(bytes.fromhex(digest), index, len(leaves), path, seal.root):
                finding.index = index
                three.integrity.status = sv.PROVEN
                three.integrity.lines.append(
                    f"manifest sha256:{digest} is leaf {index} of {len(leaves)} in {key} "
                    f"(root {seal.root.hex()}, audit path of {len(path)})")
            else:
                three.integrity.fail(f"seal {key}: inclusion: audit path does not reach the root")
        three.origin = sv.origin_verdict(seal.doc, self.anchors, "the run seal")
        three.time = sv.time_verdict(seal, self.anchors)
        if (three.time.status == sv.NOT_PROVEN and self.anchors.tsa_cas
                and seal.doc.get("timestamps")):
            three.time.status = sv.FAILED  # a TSA CA is configured and no token chains to it
        if any(DEMO_TSA_MARK in line for line in three.time.lines):
            three.time.lines.append("the demo TSA is not a trusted authority: this time proves "
                                    "nothing to anyone else")


def _report(three: ThreeVerdicts, key: str, verdict: _Verdict) -> None:
    for name in ("integrity", "origin", "time"):
        finding: sv.Finding = getattr(three, name)
        status = three.status(name)
        if finding.status == sv.FAILED:
            verdict.problems.extend(f"{name}: {line}" for line in finding.lines)
        elif finding.status == sv.PROVEN:
            verdict.proven.extend(f"{name}: {line}" for line in finding.lines)
        else:
            verdict.notes.extend(f"{name}: {status}: {line}" for line in finding.lines)


def describe_seal(store: Store, config: SealConfig, manifest: dict[str, Any],
                  digest: str) -> list[str]:
    """Lines for `evidence show`: the capture's three verdicts."""

    @dataclass
    class _Lines:
        capture_id: str
        problems: list[str]
        proven: list[str]
        notes: list[str]

    lines = _Lines(str(manifest["capture_id"]), [], [], [])
    return SealChecker(store, config).check(manifest, digest, lines).verdicts.lines()
