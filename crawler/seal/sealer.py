"""Run seals: one Merkle root over a run's manifest digests, signed and RFC 3161-timestamped.

`seal_run` builds the seal document (canonical JSON; markwatch stores it write-once under
`storage.layout.run_seal_key(run_id, marketplace)`),
`inclusion_proof_for` derives a capture's audit path from it, and `verify_seal` checks one
capture against it, naming every failure. See docs/sealing.md for the document layout.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from crawler.clock import Clock, isoformat
from crawler.exceptions import SealError
from crawler.seal import merkle
from crawler.seal import standalone_verify as sv
from crawler.seal.keys import Signer
from crawler.seal.tsa import TimestampInfo, TSAConfig, request_timestamp, verify_timestamp

__all__ = [
    "SEAL_TYPE",
    "InclusionProof",
    "RunSeal",
    "SealVerification",
    "inclusion_proof_for",
    "seal_run",
    "signing_body",
    "verify_seal",
]

SEAL_TYPE = "markwatch/run-seal"
SEAL_VERSION = 2
SEAL_MEDIA_TYPE = "application/json"
_HEX = frozenset("0123456789abcdef")


def _check_digest(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise SealError(f"{what} is not a lower-case SHA-256 hex digest: {value!r}")
    return value


@dataclass(frozen=True)
class RunSeal:
    """A sealed run: the document to store and what it says."""

    run_id: str
    document: bytes
    """The seal, canonical JSON (RFC 8785), as it is stored."""
    root: str
    """Hex Merkle root over the manifest digests ordered by capture id."""
    leaves: tuple[tuple[str, str], ...]
    """(capture id, manifest SHA-256 hex), in tree order."""
    timestamps: tuple[TimestampInfo, ...] = ()
    signer_fingerprint: str | None = None

    @property
    def sha256(self) -> str:
        """SHA-256 hex of the seal document."""
        return hashlib.sha256(self.document).hexdigest()

    @classmethod
    def from_document(cls, document: bytes) -> RunSeal:
        """Read a stored seal (not verified: see `verify_seal`)."""
        doc = _load(document)
        return cls(
            doc["run_id"],
            document,
            doc["tree"]["root"],
            _leaves(doc),
            signer_fingerprint=(doc.get("signer") or {}).get("fingerprint"),
        )


@dataclass(frozen=True)
class InclusionProof:
    """A capture's place in a run seal's Merkle tree."""

    capture_id: str
    manifest_sha256: str
    index: int
    tree_size: int
    path: tuple[str, ...]
    """Hex node hashes, leaf to root (RFC 9162 audit path)."""
    root: str

    def verify(self) -> bool:
        """Whether the path leads from the manifest digest to the root."""
        return merkle.verify_inclusion(
            self.manifest_sha256, self.index, self.tree_size, self.path, self.root
        )


@dataclass
class SealVerification:
    """What checking one capture against a run seal proved, and every failure by name."""

    capture_id: str
    manifest_sha256: str
    run_id: str | None = None
    root: str | None = None
    included: bool = False
    """The manifest digest is a leaf of the seal and its audit path reaches the root."""
    signer_fingerprint: str | None = None
    signature_valid: bool | None = None
    """None: the seal is not signed."""
    signer_trusted: bool | None = None
    """None: no trusted keys were given, so the signer is not vouched for."""
    timestamps: list[TimestampInfo] = field(default_factory=list)
    """Verified timestamps over the root: which TSA, and when."""
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing failed (what is proven is in the other fields)."""
        return not self.failures

    def summary(self) -> str:
        """One line for humans."""
        if self.failures:
            return f"{self.capture_id}: FAILED: " + "; ".join(self.failures)
        parts = [f"{self.capture_id}: included in run {self.run_id} (root {self.root})"]
        if self.signature_valid:
            trust = " (trusted)" if self.signer_trusted else ""
            parts.append(f"signed by {self.signer_fingerprint}{trust}")
        parts.extend(
            f"timestamped by {t.label or t.tsa} at {isoformat(t.gen_time)}" for t in self.timestamps
        )
        return ", ".join(parts)


def signing_body(doc: Mapping[str, Any]) -> bytes:
    """The bytes the Ed25519 signature covers (`standalone_verify.signing_body`): canonical
    JSON of the seal less `signature` and, from version 2, less `leaves`."""
    return sv.signing_body(dict(doc))


def seal_run(
    run_id: str,
    manifests: Mapping[str, str],
    *,
    signer: Signer | None,
    tsas: Sequence[TSAConfig],
    clock: Clock,
    custody_head: Mapping[str, Any] | None = None,
) -> RunSeal:
    """Seal a run's `{capture_id: manifest_sha256_hex}`; SealError if any configured part fails.

    With no signer and no TSA the seal holds only the Merkle root (integrity, no date, no
    origin). `custody_head` (`custody.head`) is signed with the seal, so entries later cut
    from the end of the custody log are detected. Never returns a partial seal: one TSA
    failing (after its retries) fails it all.
    """
    if not manifests:
        raise SealError(f"run {run_id}: nothing to seal")
    leaves = tuple(
        (cid, _check_digest(manifests[cid], f"manifest of {cid}")) for cid in sorted(manifests)
    )
    root = merkle.merkle_root([digest for _, digest in leaves])
    tokens = [request_timestamp(bytes.fromhex(root), tsa) for tsa in tsas]
    doc: dict[str, Any] = {
        "type": SEAL_TYPE,
        "version": SEAL_VERSION,
        "run_id": run_id,
        "sealed_at": isoformat(clock.now()),
        "tree": {"algorithm": "rfc9162-sha256", "size": len(leaves), "root": root},
        "leaves": [{"capture_id": cid, "manifest_sha256": d} for cid, d in leaves],
        "custody": dict(custody_head) if custody_head else None,
        "timestamps": [
            {
                "tsa": token.tsa_name,
                "url": token.url,
                "message": "merkle-root",
                "response": base64.b64encode(token.response_der).decode("ascii"),
                "ca_chain_pem": token.ca_pem.decode("ascii"),
            }
            for token in tokens
        ],
        "signer": None,
        "signature": None,
    }
    if signer is not None:
        doc["signer"] = {
            "algorithm": "ed25519",
            "public_key": signer.public_key_b64,
            "fingerprint": signer.fingerprint,
        }
        doc["signature"] = base64.b64encode(signer.sign(signing_body(doc))).decode("ascii")
    return RunSeal(
        run_id,
        rfc8785.dumps(doc),
        root,
        leaves,
        tuple(token.info for token in tokens),
        signer.fingerprint if signer else None,
    )


def _load(document: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SealError(f"seal: malformed JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != SEAL_TYPE:
        raise SealError("seal: not a markwatch run seal")
    if doc.get("version") not in (1, SEAL_VERSION):
        raise SealError(f"seal: unsupported version {doc.get('version')!r}")
    try:
        if not isinstance(doc["run_id"], str):
            raise TypeError("run_id is not a string")
        _check_digest(doc["tree"]["root"], "seal root")
        _leaves(doc)
    except (KeyError, TypeError) as exc:
        raise SealError(f"seal: malformed ({exc!r})") from exc
    return doc


def _leaves(doc: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    leaves = tuple(
        (leaf["capture_id"], _check_digest(leaf["manifest_sha256"], "seal leaf"))
        for leaf in doc["leaves"]
    )
    ids = [cid for cid, _ in leaves]
    if ids != sorted(set(ids)):
        raise SealError("seal: leaves are not in strict capture id order")
    return leaves


def inclusion_proof_for(seal: RunSeal | bytes, capture_id: str) -> InclusionProof:
    """The audit path of `capture_id` in a seal; KeyError if the run does not hold it."""
    if isinstance(seal, bytes):
        seal = RunSeal.from_document(seal)
    ids = [cid for cid, _ in seal.leaves]
    try:
        index = ids.index(capture_id)
    except ValueError as exc:
        raise KeyError(f"capture {capture_id} is not in run seal {seal.run_id}") from exc
    digests = [d for _, d in seal.leaves]
    return InclusionProof(
        capture_id,
        digests[index],
        index,
        len(digests),
        tuple(merkle.inclusion_proof(digests, index)),
        seal.root,
    )


def _check_signature(
    doc: Mapping[str, Any], result: SealVerification, trusted_keys: Collection[str] | None
) -> None:
    try:
        fp = sv.check_signature(dict(doc))
    except sv.VerifyError as exc:
        result.signature_valid = False
        result.failures.append(f"signature: {exc}")
        return
    if fp is None:
        return
    result.signer_fingerprint = fp
    result.signature_valid = True
    if trusted_keys is not None:
        result.signer_trusted = fp in set(trusted_keys)
        if not result.signer_trusted:
            result.failures.append(f"signature: signer {fp} is not trusted")


def _check_timestamps(
    doc: Mapping[str, Any], root: bytes, result: SealVerification, trusted_ca: bytes
) -> None:
    for i, entry in enumerate(doc.get("timestamps") or []):
        label = entry.get("tsa", f"#{i}") if isinstance(entry, dict) else f"#{i}"
        try:
            der = base64.b64decode(entry["response"], validate=True)
            info = verify_timestamp(der, root, trusted_ca, label=label)
        except (TypeError, KeyError, binascii.Error):
            result.failures.append(f"timestamp[{label}]: malformed timestamp entry")
        except SealError as exc:
            result.failures.append(f"timestamp[{label}]: {exc}")
        else:
            result.timestamps.append(info)


def verify_seal(
    seal_doc: bytes,
    manifest_sha256: str,
    capture_id: str,
    trusted_ca_pems: Sequence[bytes],
    trusted_keys: Collection[str] | None = None,
) -> SealVerification:
    """Check one capture's manifest digest against a run seal; never raises on bad evidence.

    `trusted_ca_pems`: PEM bundles of the TSA CAs to trust (pass the seal's own `ca_chain_pem`
    only if you accept the seal's word for who the TSA is). `trusted_keys`: signer
    fingerprints (`sha256:...`) to accept; None checks the signature without vouching for it.
    """
    result = SealVerification(capture_id, manifest_sha256)
    try:
        doc = _load(seal_doc)
    except SealError as exc:
        result.failures.append(str(exc))
        return result
    result.run_id = doc["run_id"]
    seal = RunSeal.from_document(seal_doc)
    result.root = seal.root
    if merkle.merkle_root([d for _, d in seal.leaves]) != seal.root:
        result.failures.append("tree: the root does not match the seal's leaves")
    if doc["tree"].get("size") != len(seal.leaves):
        result.failures.append("tree: size does not match the number of leaves")
    try:
        proof = inclusion_proof_for(seal, capture_id)
    except KeyError:
        result.failures.append(f"inclusion: capture {capture_id} is not in this seal")
    else:
        if proof.manifest_sha256 != manifest_sha256.lower():
            result.failures.append(
                f"inclusion: manifest digest mismatch (sealed {proof.manifest_sha256}, "
                f"got {manifest_sha256})"
            )
        elif not proof.verify():
            result.failures.append("inclusion: audit path does not reach the root")
        else:
            result.included = True
    _check_signature(doc, result, trusted_keys)
    _check_timestamps(doc, bytes.fromhex(seal.root), result, b"".join(trusted_ca_pems))
    return result
