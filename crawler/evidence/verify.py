"""Verifying captures against the store: re-hash every artifact, re-check every manifest.

A capture verifies when its manifest is the canonical JSON its run record lists by SHA-256,
the run record's root over its manifests is intact, and every artifact the manifest names is
in the store with exactly the size and SHA-256 the manifest gives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from crawler.evidence.manifest import MANIFEST_SCHEMA, canonical_json
from crawler.evidence.warc_refs import referenced_payload_problems
from crawler.ids import is_ulid, ulid_time
from crawler.runs.ledger import digest_list_root
from crawler.seal.check import SealChecker, ThreeVerdicts
from crawler.seal.config import SealConfig
from crawler.seal.standalone_verify import safe as sv_safe
from storage.base import Store
from storage.catalog import Catalog
from storage.layout import CAPTURES, manifest_key, run_record_key


@dataclass
class Verdict:
    """What verifying one capture found."""

    capture_id: str
    problems: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Information that is neither proof nor failure (e.g. "not sealed")."""
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"capture_id": self.capture_id, "ok": self.ok, "problems": self.problems,
                "proven": self.proven, "notes": self.notes}


class Verifier:
    """Checks captures in a store; the catalog, when given, is checked against the store too."""

    def __init__(self, store: Store, catalog: Catalog | None = None,
                 seals: SealChecker | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.seals = seals
        self._runs: dict[str, tuple[dict[str, Any] | None, str | None]] = {}

    def all_capture_ids(self) -> Iterator[str]:
        """Every capture the store holds (the store, not the catalog, is the truth)."""
        for key in self.store.list_documents(CAPTURES):
            name = key.rsplit("/", 1)[-1]
            if name.endswith(".json"):
                yield name[: -len(".json")]

    def manifest_key(self, capture_id: str) -> str | None:
        if self.catalog is not None:
            row = self.catalog.get(capture_id)
            if row is not None:
                return str(row["manifest_key"])
        if not is_ulid(capture_id):
            return None
        return manifest_key(capture_id, ulid_time(capture_id))

    def verify(self, capture_id: str) -> Verdict:
        verdict = Verdict(capture_id)
        key = self.manifest_key(capture_id)
        if key is None:
            verdict.problems.append("not a capture id")
            return verdict
        try:
            data = self.store.read_document(key)
        except KeyError:
            verdict.problems.append(f"manifest {key}: missing from the store")
            return verdict
        digest = hashlib.sha256(data).hexdigest()
        manifest = self._parse_manifest(key, data, capture_id, verdict)
        if manifest is None:
            return verdict
        verdict.manifest = manifest
        self._check_run(manifest, digest, key, verdict)
        self._check_catalog(capture_id, digest, key, verdict)
        for artifact in manifest.get("artifacts", []):
            self._check_artifact(artifact, verdict)
        verdict.problems += referenced_payload_problems(self.store, manifest)
        if verdict.ok:
            verdict.proven.append(
                f"integrity: manifest sha256:{digest} and {len(manifest['artifacts'])} "
                "artifacts match the run record")
        if self.seals is not None:  # time and origin: crawler/seal/check.py
            self.seals.check(manifest, digest, verdict)
        return verdict

    def _parse_manifest(self, key: str, data: bytes, capture_id: str,
                        verdict: Verdict) -> dict[str, Any] | None:
        try:
            manifest = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            verdict.problems.append(f"manifest {key}: not valid JSON ({exc})")
            return None
        if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
            verdict.problems.append(f"manifest {key}: not a markwatch capture manifest")
            return None
        if canonical_json(manifest) != data:
            verdict.problems.append(f"manifest {key}: altered (no longer canonical JSON)")
        if manifest.get("capture_id") != capture_id:
            verdict.problems.append(f"manifest {key}: names capture {manifest.get('capture_id')}")
        return manifest

    def _run_record(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        if key not in self._runs:
            try:
                data = self.store.read_document(key)
                self._runs[key] = (json.loads(data), hashlib.sha256(data).hexdigest())
            except KeyError:
                self._runs[key] = (None, None)
            except (UnicodeDecodeError, json.JSONDecodeError):
                self._runs[key] = ({"captures": [], "broken": True}, None)
        return self._runs[key]

    def _check_run(self, manifest: dict[str, Any], digest: str, key: str,
                   verdict: Verdict) -> None:
        run_key = run_record_key(manifest["run_id"], manifest["watch"]["marketplace"])
        record, record_sha = self._run_record(run_key)
        if record is None:
            verdict.problems.append(
                f"run record {run_key}: missing (the run did not finish; capture not sealed)")
            return
        if record.get("broken"):
            verdict.problems.append(f"run record {run_key}: not valid JSON (altered)")
            return
        entries = {e["capture_id"]: e for e in record.get("captures", [])}
        digests = [e["manifest_sha256"] for e in record.get("captures", [])]
        if digest_list_root(digests) != record.get("manifests_root"):
            verdict.problems.append(f"run record {run_key}: altered (root over manifests differs)")
        if self.catalog is not None:
            runs = self.catalog.runs(manifest["run_id"])
            for row in runs:
                if row["record_key"] == run_key and row["record_sha256"] != record_sha:
                    verdict.problems.append(
                        f"run record {run_key}: altered since it was indexed")
        entry = entries.get(manifest["capture_id"])
        if entry is None:
            verdict.problems.append(f"run record {run_key}: does not list this capture")
        elif entry["manifest_sha256"] != digest:
            verdict.problems.append(
                f"manifest {key}: altered (sha256 {digest}, run record says "
                f"{entry['manifest_sha256']})")

    def _check_catalog(self, capture_id: str, digest: str, key: str, verdict: Verdict) -> None:
        if self.catalog is None:
            return
        row = self.catalog.get(capture_id)
        if row is not None and row["manifest_sha256"] != digest:
            verdict.problems.append(
                f"manifest {key}: altered since it was indexed (catalog has "
                f"{row['manifest_sha256']})")

    def _check_artifact(self, artifact: dict[str, Any], verdict: Verdict) -> None:
        name, expected = artifact["name"], artifact["sha256"]
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in self.store.iter_blob(expected):
                digest.update(chunk)
                size += len(chunk)
        except KeyError:
            verdict.problems.append(f"artifact {name}: missing from the store ({expected})")
            return
        if digest.hexdigest() != expected:
            verdict.problems.append(
                f"artifact {name}: altered (sha256 {digest.hexdigest()}, manifest says {expected})")
        elif size != artifact["size"]:
            verdict.problems.append(f"artifact {name}: size {size}, manifest says "
                                    f"{artifact['size']}")


def capture_verdicts(store: Store, capture_id: str, config: SealConfig | None = None,
                     catalog: Catalog | None = None) -> ThreeVerdicts:
    """The three verdicts (integrity, origin, time) of one stored capture, for any front end.

    Integrity re-hashes the manifest and every artifact and checks the run record and the
    seal's Merkle inclusion; origin and time are checked against the operator's anchors
    (`config`, default: the project's `SEAL_*` settings), never against the seal's contents.
    Each verdict is a `standalone_verify.Finding`: `status` is PROVEN, NOT PROVEN or FAILED
    (`ThreeVerdicts.status("time")` says NOT ATTESTED when no timestamp exists) and `lines`
    are the reasons, already escaped.
    """
    if config is None:
        config = SealConfig.from_settings({})
    checker = SealChecker(store, config)
    verdict = Verifier(store, catalog, checker).verify(capture_id)
    finding = checker.findings.get(capture_id)
    three = finding.verdicts if finding is not None else ThreeVerdicts(capture_id)
    problems = [p for p in verdict.problems
                if not p.startswith(("integrity:", "origin:", "time:"))]
    for problem in problems:
        three.integrity.fail(sv_safe(problem))
    if finding is None and not problems:
        three.integrity.fail("the capture could not be checked")
    return three
