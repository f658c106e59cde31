"""Sealing evidence: Merkle run seals, Ed25519 signatures, RFC 3161 timestamps, custody log.

The public surface (see docs/sealing.md):

* `seal_run(run_id, {capture_id: manifest_sha256}, signer=, tsas=, clock=) -> RunSeal`, stored
  write-once under `storage.layout.run_seal_key(run_id, marketplace)`;
  `verify_seal(...) -> SealVerification`; `inclusion_proof_for(seal, capture_id)`.
* `init_key(path)`, `load_signer(path) -> Signer` (Ed25519, PEM PKCS#8, mode 0600).
* `TSAConfig`, `request_timestamp`, `verify_timestamp` (RFC 3161).
* `custody.append / read_log / verify_log / entries_for / to_jsonl`.
* `crawler/seal/standalone_verify.py` ships in export bundles as `verify.py`.
"""

from __future__ import annotations

from crawler.seal import custody
from crawler.seal.keys import Signer, fingerprint, init_key, load_signer
from crawler.seal.merkle import inclusion_proof, merkle_root, verify_inclusion
from crawler.seal.sealer import (
    InclusionProof,
    RunSeal,
    SealVerification,
    inclusion_proof_for,
    seal_run,
    verify_seal,
)
from crawler.seal.tsa import (
    TimestampInfo,
    TimestampToken,
    TSAConfig,
    request_timestamp,
    verify_timestamp,
)

__all__ = [
    "InclusionProof",
    "RunSeal",
    "SealVerification",
    "Signer",
    "TSAConfig",
    "TimestampInfo",
    "TimestampToken",
    "custody",
    "fingerprint",
    "inclusion_proof",
    "inclusion_proof_for",
    "init_key",
    "load_signer",
    "merkle_root",
    "request_timestamp",
    "seal_run",
    "verify_inclusion",
    "verify_seal",
    "verify_timestamp",
]
