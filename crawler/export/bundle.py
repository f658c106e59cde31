"""`markwatch evidence export`: a self-contained, offline-verifiable zip for a third party.

Layout (inside one folder named after the zip):

    README.txt                      what this is and how to verify it
    verify.py                       crawler/seal/standalone_verify.py (needs only `cryptography`)
    manifests/<capture_id>.json     the manifests, byte for byte as stored
    artifacts/<sha256>              every artifact they list
    runs/<run_id>.<marketplace>.json    the run records
    seals/<run_id>.<marketplace>.json   the run seals (tokens and TSA CA chains inside; the
                                        inclusion proofs are derived from the leaves)
    custody.jsonl                   the whole custody log, ending with this export
    report/<capture_id>.html|.pdf   a human-readable report per capture

Captures are verified (with their seals) before anything is written; one that fails is not
exported. The `exported` custody event is appended just before the log is copied in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crawler.clock import Clock, isoformat
from crawler.evidence.verify import Verdict, Verifier
from crawler.evidence.warc_refs import referenced_blobs, write_materialised
from crawler.exceptions import ConfigError, MarkwatchError
from crawler.export.report import ReportSeal, render_report
from crawler.seal import custody, standalone_verify
from crawler.seal.check import NOT_SEALED, SealChecker, SealFinding
from crawler.seal.config import SealConfig
from storage.base import Store
from storage.catalog import Catalog
from storage.layout import bundle_run_name, run_record_key

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
    result.warnings += [f"{v.capture_id}: {NOT_SEALED}: the bundle's verify.py will report it "
                        "as not in any seal" for v in verdicts if NOT_SEALED in v.notes]
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
        (root / "README.txt").write_text(_readme(writer, ids, pdf), encoding="utf-8")
        custody.append(store, "exported", clock=clock, actor=seal_config.actor,
                       capture_ids=ids, details={"bundle": output.name, "format": "bundle"})
        (root / "custody.jsonl").write_bytes(custody.to_jsonl(custody.read_log(store)))
        result.files = _zip(root, output)
    return result


class _Writer:
    """Copies one capture's evidence from the store into the bundle folder."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self.signers: set[str] = set()
        self.tsas: set[str] = set()
        for folder in ("manifests", "artifacts", "runs", "seals", "report"):
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
            if artifact["name"] == "screenshot.png":
                screenshot = f"../artifacts/{artifact['sha256']}"
        for sha256 in referenced_blobs(self.store, manifest):  # payloads its WARC names
            self._blob(sha256)
        write_materialised(self.store, manifest, self.root / "warc")  # the WARC, complete
        run_id, marketplace = manifest["run_id"], manifest["watch"]["marketplace"]
        flat = bundle_run_name(run_id, marketplace)
        (self.root / "runs" / flat).write_bytes(
            self.store.read_document(run_record_key(run_id, marketplace)))
        seal = ReportSeal()
        if finding is not None and finding.document is not None:
            (self.root / "seals" / flat).write_bytes(finding.document)
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
        result = finding.result
        assert result is not None and finding.document is not None
        seal = ReportSeal(
            key=finding.key, root=result.root,
            seal_sha256=hashlib.sha256(finding.document).hexdigest(),
            signer=result.signer_fingerprint,
            timestamps=[(t.label or t.tsa, isoformat(t.gen_time)) for t in result.timestamps],
            problems=list(result.failures))
        parts = ["sealed: the manifest is a leaf of the run's Merkle tree"]
        if result.timestamps:
            parts.append("timestamped (RFC 3161)")
        if result.signature_valid:
            parts.append("signed (Ed25519)")
        seal.status = ", ".join(parts)
        if result.signer_fingerprint:
            self.signers.add(result.signer_fingerprint)
        self.tsas.update(f"{t.label}: {t.tsa}" for t in result.timestamps)
        return seal


def _readme(writer: _Writer, ids: Sequence[str], pdf: bool) -> str:
    signers = "\n".join(f"    {s}" for s in sorted(writer.signers)) or "    (none: not signed)"
    tsas = "\n".join(f"    {t}" for t in sorted(writer.tsas)) or "    (none: not timestamped)"
    reports = "report/<capture_id>.html and .pdf" if pdf else "report/<capture_id>.html"
    return f"""markwatch evidence bundle
=========================

{len(ids)} capture(s) of marketplace pages, with everything needed to check, without
markwatch, that nothing was changed since they were sealed, when they were sealed (RFC 3161
trusted timestamps) and by whose key (Ed25519).

Human-readable reports: {reports}
(screenshot, URL, times, seller, price, hashes, seal).

How to verify (Python 3.9 or later, and the `cryptography` package; nothing else):

    python3 -m venv venv
    venv/bin/pip install cryptography
    venv/bin/python verify.py                 # checks the folder verify.py is in
    venv/bin/python verify.py BUNDLE.zip      # or the zip itself

For the strongest check, pin what you trust instead of what the bundle carries:

    venv/bin/python verify.py --trust-tsa-ca TSA-CA.pem --trust-key sha256:HEX

where TSA-CA.pem is the time-stamping authority's CA certificate, obtained from the TSA, and
sha256:HEX is the sealing key's fingerprint, obtained from the sender by another channel.
It prints OK or FAIL per capture with what is proven, and exits 0 only if everything
verifies.

Signing key fingerprint(s) in this bundle (compare with the one you were given):
{signers}

Time-stamping authorities in this bundle:
{tsas}

Layout:
    manifests/<capture_id>.json          each capture's manifest (canonical JSON, RFC 8785)
    artifacts/<sha256>                   the files the manifests list, named by SHA-256
    runs/<run_id>.<marketplace>.json     the run records
    seals/<run_id>.<marketplace>.json    the run seals: Merkle root over the manifests'
                                         SHA-256, RFC 3161 tokens with the TSA CA chain,
                                         Ed25519 signature
    custody.jsonl                        the chain-of-custody log (hash-chained)
    verify.py                            the verifier
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
