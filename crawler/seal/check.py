"""Checking a stored capture against its run seal, for `markwatch verify` and the export.

What is proven is said in words: the manifest's place in the sealed Merkle tree, the time
(which TSA, its genTime, whether its CA was pinned), the signer's fingerprint (and whether it
is trusted). Every failure is named: `seal ...: inclusion: ...`, `signature: ...`,
`timestamp[<tsa>]: untrusted CA ...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from crawler.clock import isoformat
from crawler.seal.config import SealConfig
from crawler.seal.runs import read_pending
from crawler.seal.sealer import SealVerification, inclusion_proof_for, verify_seal
from storage.base import Store
from storage.layout import run_seal_key

__all__ = ["NOT_SEALED", "SealChecker", "SealFinding"]

NOT_SEALED = "not sealed (no signature or timestamp configured)"


class _Verdict(Protocol):
    capture_id: str
    problems: list[str]
    proven: list[str]
    notes: list[str]


@dataclass
class SealFinding:
    """A capture's seal and what checking it gave (None: the run has no seal)."""

    key: str
    document: bytes | None
    result: SealVerification | None
    pinned: bool
    index: int | None = None


class SealChecker:
    """Verifies captures' seals in a store against the configured trust (`SealConfig`)."""

    def __init__(self, store: Store, config: SealConfig) -> None:
        self.store = store
        self.config = config
        self._pems = config.trusted_ca_pems()
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
        """Add what the seal proves, or why it fails, to `verdict`."""
        run_id, marketplace = manifest["run_id"], manifest["watch"]["marketplace"]
        key = run_seal_key(run_id, marketplace)
        doc = self._seal(key)
        finding = SealFinding(key, doc, None, bool(self._pems))
        self.findings[verdict.capture_id] = finding
        if doc is None:
            pending = read_pending(self.store, run_id, marketplace)
            if pending is None:
                verdict.notes.append(NOT_SEALED)
            else:
                verdict.problems.append(
                    f"seal {key}: missing: sealing failed at {pending.get('failed_at')} "
                    f"({pending.get('reason')}); run `markwatch seal --pending`")
            return finding
        pems = self._pems or _bundled_cas(doc)
        result = verify_seal(doc, digest, verdict.capture_id, pems,
                             self.config.trusted_keys or None)
        finding.result = result
        verdict.problems.extend(f"seal {key}: {failure}" for failure in result.failures)
        if result.included:
            proof = inclusion_proof_for(doc, verdict.capture_id)
            finding.index = proof.index
            verdict.proven.append(
                f"sealed: manifest is leaf {proof.index} of {proof.tree_size} in {key} "
                f"(root {result.root}, audit path of {len(proof.path)})")
        source = "pinned CA" if self._pems else "CA bundled in the seal, not pinned"
        for ts in result.timestamps:
            verdict.proven.append(
                f"time: existed by {isoformat(ts.gen_time)} (RFC 3161 TSA {ts.label or ts.tsa}: "
                f"{ts.tsa}, serial {ts.serial}; {source})")
        if result.signature_valid:
            trust = "trusted" if result.signer_trusted else "not vouched for: SEAL_TRUSTED_KEYS"
            verdict.proven.append(f"signer: {result.signer_fingerprint} ({trust})")
        if result.ok and result.signature_valid is None:
            verdict.notes.append("seal not signed (no SEAL_KEY when sealed)")
        if result.ok and not result.timestamps:
            verdict.notes.append("seal not timestamped: the time is not proven")
        return finding


def _bundled_cas(doc: bytes) -> list[bytes]:
    try:
        entries = json.loads(doc).get("timestamps") or []
        return [str(e.get("ca_chain_pem") or "").encode("ascii") for e in entries]
    except (ValueError, AttributeError, UnicodeEncodeError):
        return []  # verify_seal names the malformed seal


def describe_seal(store: Store, config: SealConfig, manifest: dict[str, Any],
                  digest: str) -> list[str]:
    """Lines for `evidence show`: what the capture's seal proves, or why it does not."""

    @dataclass
    class _Lines:
        capture_id: str
        problems: list[str]
        proven: list[str]
        notes: list[str]

    lines = _Lines(str(manifest["capture_id"]), [], [], [])
    SealChecker(store, config).check(manifest, digest, lines)
    return lines.proven + lines.notes + [f"FAILED: {p}" for p in lines.problems]
