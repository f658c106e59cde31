#!/usr/bin/env python3
"""verify.py: check a markwatch evidence bundle without markwatch, trusting only what YOU give.

Needs Python 3.9+ and the `cryptography` package (version 45 or later), nothing else:

    python verify.py [BUNDLE_DIR_OR_ZIP] --trust-key sha256:HEX --trust-tsa-ca TSA-CA.pem
    python verify.py [BUNDLE_DIR_OR_ZIP] --integrity-only

This file is the one implementation of markwatch's evidence checks: the package imports it
(`crawler.seal.standalone_verify`) and every export bundle carries it byte for byte as
`verify.py`. With no bundle argument it checks the folder it sits in.

For each capture it gives three verdicts:

* integrity: every artifact's SHA-256 and size match the manifest, and the manifest's SHA-256
  is a leaf of the run seal's Merkle tree (RFC 9162 audit path up to the sealed root); the
  capture's WARC, read record by record (a bounded gzip and WARC reader of its own): each
  record's stated digests, each payload blob a revisit record names (carried in `artifacts/`)
  against the digest and length it states, and the restored `warc/<capture_id>.warc.gz`
  against the sealed WARC, record for record;
* origin: the run seal carries a valid Ed25519 signature by key F, and F is one you pinned
  with --trust-key (a key merely found in the bundle proves nothing about who sealed it);
* time: an RFC 3161 token over the seal's root, whose TSA certificate chains (basic
  constraints, path length, validity at genTime, critical timeStamping EKU: checked by
  `cryptography`'s X.509 verifier) to a CA certificate YOU gave with --trust-tsa-ca; CA
  certificates inside the bundle are never trusted. No such token: "time: not attested".

Bundle-wide it checks the signed bundle index (every report, the README and this file listed
with their SHA-256, signed by the same pinned key) and that each disclosed custody-log entry
is a leaf of the custody tree the index signs, in order, none dropped.

Exit status: 0 all three verdicts hold for every capture against your anchors (or, with
--integrity-only, integrity holds and the output says origin and time were not checked);
1 anything else (each reason printed); 2 usage error. Every string taken from the bundle is
escaped before it is printed.
"""

from __future__ import annotations

import argparse
import base64
import builtins
import datetime as dt
import hashlib
import io
import json
import os
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

SEAL_TYPE = "markwatch/run-seal"
INDEX_TYPE = "markwatch/bundle-index"
PROOF_TYPE = "markwatch/inclusion-proof"
CUSTODY_EVENTS = frozenset({
    "captured", "stored", "sealed", "exported", "verified",
    "viewed", "downloaded",  # the evidence portal: a person looked at or took a copy
    "decided",  # a reviewer's triage verdict on a capture
    "takedown",  # a listing's takedown status changed (reported, removed, ...)
})
UTC = dt.timezone.utc  # noqa: UP017 - dt.UTC needs Python 3.11; this runs on 3.9
HEX = frozenset("0123456789abcdef")

# Limits on what is read from a bundle (a bundle is hostile until verified).
MAX_JSON = 16 * 1024 * 1024
"""Largest manifest, seal, proof, index or custody log read into memory."""
MAX_MEMBER = 4 * 1024 * 1024 * 1024
"""Largest single artifact (hashed as a stream)."""
MAX_TOTAL = 32 * 1024 * 1024 * 1024
"""Largest total uncompressed size of a zip bundle."""
MAX_MEMBERS = 200_000
MAX_RATIO = 400
"""Largest compression ratio of a zip member over 1 MiB (a zip bomb has thousands)."""
MAX_TEXT = 300
"""Characters of any bundle string shown."""
MAX_WARC_BYTES = 4 * 1024 * 1024 * 1024
"""Largest decompressed size of one WARC read (a gzip bomb stops here; memory stays flat)."""
MAX_WARC_RECORDS = 200_000
"""Most records read from one WARC."""
MAX_WARC_HEAD = 64 * 1024
"""Largest WARC record header, and largest HTTP head at the start of a response record."""

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TSTINFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_CERT = "1.2.840.113549.1.9.16.2.12"
OID_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
HASH_OIDS: dict[str, tuple[str, Callable[[], hashes.HashAlgorithm]]] = {
    "1.3.14.3.2.26": ("sha1", hashes.SHA1),
    "2.16.840.1.101.3.4.2.1": ("sha256", hashes.SHA256),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashes.SHA384),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashes.SHA512),
}
IMPRINT_HASHES = ("sha256", "sha384", "sha512")
RSA_OIDS = {
    "1.2.840.113549.1.1.1": None,  # rsaEncryption: hash from digestAlgorithm
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
ECDSA_OIDS = {
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
OID_ED25519 = "1.3.101.112"


class VerifyError(Exception):
    """One named verification failure."""


class Refused(Exception):
    """The bundle itself is refused (too large, a zip bomb, unreadable)."""


def safe(value: Any, limit: int = MAX_TEXT) -> str:
    """Text from a bundle, fit for a terminal: every non-printable character escaped, clipped.

    Control characters, ANSI escapes, bidi overrides and line separators become `\\xNN` /
    `\\uNNNN`, so nothing read from a bundle can move the cursor, recolour or repaint output.
    """
    text = value if isinstance(value, str) else str(value)
    out = []
    for ch in text[: limit + 1]:
        if ch.isprintable() and ch != "\\":
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out[:limit]) + ("..." if len(text) > limit else "")


def is_hex_digest(value: Any) -> bool:
    """A lower-case SHA-256 hex digest."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX


# --- RFC 8785 canonical JSON ---------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """RFC 8785 for what markwatch writes (no floats): sorted keys (UTF-16 order), no spaces."""
    return _canon(value).encode("utf-8")


def _canon(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise VerifyError("integer outside the I-JSON range")
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_canon(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_canon(k) + ":" + _canon(value[k]) for k in keys) + "}"
    raise VerifyError("unexpected JSON value " + type(value).__name__)


def is_canonical(raw: bytes) -> bool:
    """Whether `raw` is exactly the canonical JSON of what it parses to."""
    try:
        return canonical_json(json.loads(raw)) == raw
    except (ValueError, VerifyError, RecursionError):
        return False


# --- Merkle tree (RFC 9162 / RFC 6962) -----------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """`SHA-256(0x00 || leaf)`."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """`SHA-256(0x01 || left || right)`."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def tree_hash(hashes_: Sequence[bytes]) -> bytes:
    """The Merkle tree hash over leaf hashes (at least one)."""
    if len(hashes_) == 1:
        return hashes_[0]
    k = _split(len(hashes_))
    return node_hash(tree_hash(hashes_[:k]), tree_hash(hashes_[k:]))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over raw leaves (`SHA-256("")` for none)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    return tree_hash([leaf_hash(leaf) for leaf in leaves])


def audit_path(index: int, hashes_: Sequence[bytes]) -> list[bytes]:
    """The RFC 9162 audit path of leaf `index` over leaf hashes."""
    if len(hashes_) == 1:
        return []
    k = _split(len(hashes_))
    if index < k:
        return [*audit_path(index, hashes_[:k]), tree_hash(hashes_[k:])]
    return [*audit_path(index - k, hashes_[k:]), tree_hash(hashes_[:k])]


def verify_path(current: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2 from a leaf hash."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    for node in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            current = node_hash(node, current)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            current = node_hash(current, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and current == root


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether `path` shows raw `leaf` at `index` in the tree of `size` leaves with `root`."""
    return verify_path(leaf_hash(leaf), index, size, path, root)


def hex_path(path: Any) -> list[bytes]:
    """An audit path given as hex strings; VerifyError if it is not one."""
    if not isinstance(path, list) or len(path) > 64:
        raise VerifyError("audit path is not a list of at most 64 hashes")
    if not all(is_hex_digest(p) for p in path):
        raise VerifyError("audit path holds something that is not a SHA-256 hex digest")
    return [bytes.fromhex(p) for p in path]


# --- Ed25519 signatures over canonical JSON -------------------------------------------------


def fingerprint(public_key_raw: bytes) -> str:
    """`sha256:<hex>` of a raw 32-byte Ed25519 public key."""
    return "sha256:" + hashlib.sha256(public_key_raw).hexdigest()


def signing_body(doc: dict[str, Any]) -> bytes:
    """What a markwatch signature covers: canonical JSON of the document less `signature`.

    Run seals of version 2 and later also leave out `leaves` (the Merkle root commits to
    them), so a bundle can carry a seal without other captures' ids.
    """
    skip = {"signature"}
    if doc.get("type") == SEAL_TYPE and doc.get("version", 1) >= 2:
        skip.add("leaves")
    return canonical_json({k: v for k, v in doc.items() if k not in skip})


def check_signature(doc: dict[str, Any]) -> str | None:
    """The signer's fingerprint if `doc` carries a valid Ed25519 signature; VerifyError if bad.

    None: the document is not signed at all.
    """
    signer: Any = doc.get("signer")
    signature: Any = doc.get("signature")
    if signer is None and signature is None:
        return None
    try:
        raw_key = base64.b64decode(signer["public_key"], validate=True)
        sig = base64.b64decode(signature, validate=True)
    except (TypeError, KeyError, ValueError) as exc:
        raise VerifyError("malformed signer or signature") from exc
    if signer.get("algorithm", "ed25519") != "ed25519":
        raise VerifyError("unsupported signature algorithm")
    fp = fingerprint(raw_key)
    if signer.get("fingerprint") != fp:
        raise VerifyError("the signer's fingerprint does not match its public key")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw_key).verify(sig, signing_body(doc))
    except (InvalidSignature, ValueError) as exc:
        raise VerifyError("invalid Ed25519 signature by " + fp) from exc
    return fp


# --- run seals -----------------------------------------------------------------------------


@dataclass
class Seal:
    """A run seal's parsed, structurally checked contents (signature and tokens not yet)."""

    name: str
    doc: dict[str, Any]
    run_id: str
    root: bytes
    size: int
    leaves: list[tuple[str, str]] | None
    """(capture id, manifest SHA-256) in tree order; None in a bundle's reduced seal."""
    custody: dict[str, Any] | None
    """The custody log's head the seal covers: {size, root, head_seq, head_sha256}."""


def parse_seal(name: str, raw: bytes) -> Seal:
    """Check a run seal's structure and tree; VerifyError names what is wrong."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise VerifyError(name + ": not JSON") from exc
    if not isinstance(doc, dict) or doc.get("type") != SEAL_TYPE:
        raise VerifyError(name + ": not a markwatch run seal")
    if doc.get("version") not in (1, 2):
        raise VerifyError(name + ": unsupported seal version")
    tree, run_id = doc.get("tree"), doc.get("run_id")
    if not isinstance(tree, dict) or not is_hex_digest(tree.get("root")):
        raise VerifyError(name + ": the root is not a SHA-256 hex digest")
    size = tree.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise VerifyError(name + ": tree size is not a positive integer")
    if not isinstance(run_id, str):
        raise VerifyError(name + ": run_id is not a string")
    root = bytes.fromhex(tree["root"])
    leaves = None
    if doc.get("leaves") is not None:
        try:
            leaves = [(str(x["capture_id"]), x["manifest_sha256"]) for x in doc["leaves"]]
        except (TypeError, KeyError) as exc:
            raise VerifyError(name + ": malformed leaves") from exc
        if not all(is_hex_digest(d) for _, d in leaves):
            raise VerifyError(name + ": a leaf is not a SHA-256 hex digest")
        ids = [cid for cid, _ in leaves]
        if ids != sorted(set(ids)):
            raise VerifyError(name + ": leaves are not in strict capture id order")
        if len(leaves) != size:
            raise VerifyError(name + ": tree size does not match the number of leaves")
        if merkle_root([bytes.fromhex(d) for _, d in leaves]) != root:
            raise VerifyError(name + ": the Merkle root does not match the seal's leaves")
    elif doc.get("version") == 1:
        raise VerifyError(name + ": a version 1 seal must carry its leaves")
    custody = doc.get("custody")
    if custody is not None and not (
            isinstance(custody, dict) and isinstance(custody.get("size"), int)
            and is_hex_digest(custody.get("root"))):
            raise VerifyError(name + ": malformed custody head")
    return Seal(name, doc, run_id, root, size, leaves, custody)


# --- the custody log ------------------------------------------------------------------------


def capture_digest(capture_id: str) -> str:
    """How custody entries about a whole run name each capture without disclosing its id."""
    return "sha256:" + hashlib.sha256(("markwatch-capture:" + capture_id).encode()).hexdigest()


def entry_names(entry: dict[str, Any]) -> list[str]:
    """The capture ids and capture digests a custody entry names."""
    details = entry.get("details")
    digests = details.get("capture_digests") if isinstance(details, dict) else None
    return [str(x) for x in (entry.get("capture_ids") or []) + (digests or [])]


def custody_leaf(raw: bytes) -> bytes:
    """An entry's leaf in the custody tree: the SHA-256 of its stored bytes."""
    return hashlib.sha256(raw).digest()


def check_custody_chain(entries: Sequence[tuple[str, bytes]], first_seq: int = 0) -> list[str]:
    """Problems in consecutive custody entries (name, bytes) starting at `first_seq`.

    Each entry is canonical JSON holding its `seq` and, in `prev`, the SHA-256 of the entry
    before it (null for entry 0). [] if the chain holds.
    """
    problems: list[str] = []
    prev_hash: str | None = None
    for position, (name, raw) in enumerate(entries):
        where = safe(name)
        expected = first_seq + position
        try:
            entry = json.loads(raw)
            seq, prev, event = entry["seq"], entry.get("prev"), entry["event"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            problems.append(f"{where}: unreadable ({type(exc).__name__})")
            prev_hash = hashlib.sha256(raw).hexdigest()
            continue
        if seq != expected:
            problems.append(f"{where}: holds seq {safe(seq)} at position {expected} (entry "
                            "removed, inserted or reordered)")
        if expected == 0 and prev is not None:
            problems.append(where + ": first entry has a predecessor (log cut at the start)")
        elif position > 0 and prev != prev_hash:
            problems.append(f"{where}: prev does not match entry {expected - 1} (an earlier "
                            "entry was changed, removed or reordered)")
        if event not in CUSTODY_EVENTS:
            problems.append(f"{where}: unknown event {safe(event)}")
        if not is_canonical(raw):
            problems.append(where + ": not canonical JSON (rewritten)")
        prev_hash = hashlib.sha256(raw).hexdigest()
    return problems


# --- a tiny DER reader, for the CMS structure of RFC 3161 tokens ---------------------------
# (`cryptography` parses certificates and checks their paths, but has no CMS verifier.)


@dataclass
class TLV:
    """One DER element: tag byte, the whole encoding, and where its content lies."""

    tag: int
    data: bytes
    start: int
    end: int

    @property
    def content(self) -> bytes:
        return self.data[self.start : self.end]

    @property
    def encoded(self) -> bytes:
        return self.data


def der_read(data: bytes, pos: int = 0) -> tuple[TLV, int]:
    """The element at `pos` and the position after it; VerifyError on anything but DER."""
    if pos + 2 > len(data):
        raise VerifyError("malformed timestamp: truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise VerifyError("malformed timestamp: multi-byte DER tags are not expected")
    length = data[pos + 1]
    head = pos + 2
    if length == 0x80:
        raise VerifyError("malformed timestamp: indefinite length (BER) is not DER")
    if length > 0x80:
        count = length & 0x7F
        if count > 4 or head + count > len(data):
            raise VerifyError("malformed timestamp: bad DER length")
        length = int.from_bytes(data[head : head + count], "big")
        head += count
    end = head + length
    if end > len(data):
        raise VerifyError("malformed timestamp: DER element runs past its container")
    return TLV(tag, data[pos:end], head - pos, end - pos), end


def der_children(tlv: TLV) -> list[TLV]:
    """The elements inside a constructed element."""
    items: list[TLV] = []
    content, pos = tlv.content, 0
    while pos < len(content):
        item, pos = der_read(content, pos)
        items.append(item)
    return items


def der_oid(tlv: TLV) -> str:
    if tlv.tag != 0x06 or not tlv.content:
        raise VerifyError("malformed timestamp: expected an OBJECT IDENTIFIER")
    parts: list[int] = []
    value = 0
    for byte in tlv.content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in [first, parts[0] - 40 * first, *parts[1:]])


def der_int(tlv: TLV) -> int:
    if tlv.tag != 0x02 or not tlv.content:
        raise VerifyError("malformed timestamp: expected an INTEGER")
    return int.from_bytes(tlv.content, "big", signed=True)


def expect(tlv: TLV, tag: int, what: str) -> TLV:
    if tlv.tag != tag:
        raise VerifyError(f"malformed timestamp: {what}: tag {tlv.tag:#04x}, expected {tag:#04x}")
    return tlv


# --- RFC 3161 tokens ------------------------------------------------------------------------


@dataclass
class Timestamp:
    """What a checked token says; `anchor` is None when no anchor of yours was used."""

    gen_time: dt.datetime
    serial: int
    policy: str
    tsa_subject: str
    anchor_subject: str | None = None
    anchor_sha256: str | None = None


def _hash_alg(oid: str) -> tuple[str, hashes.HashAlgorithm]:
    if oid not in HASH_OIDS:
        raise VerifyError("malformed timestamp: unsupported hash algorithm " + oid)
    name, factory = HASH_OIDS[oid]
    return name, factory()


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _gen_time(tlv: TLV) -> dt.datetime:
    text = expect(tlv, 0x18, "genTime").content.decode("ascii")
    if not text.endswith("Z"):
        raise VerifyError("malformed timestamp: genTime is not UTC")
    whole, _, frac = text[:-1].partition(".")
    moment = dt.datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    if frac:
        moment += dt.timedelta(microseconds=int((frac + "000000")[:6]))
    return moment


def _signed_data(token_der: bytes) -> TLV:
    """The SignedData inside a TimeStampResp or a bare TimeStampToken."""
    outer, end = der_read(token_der)
    if end != len(token_der):
        raise VerifyError("malformed timestamp: trailing bytes")
    items = der_children(expect(outer, 0x30, "TimeStampResp"))
    if items and items[0].tag == 0x30:  # TimeStampResp: status, token
        status = der_int(der_children(items[0])[0])
        if status not in (0, 1):
            raise VerifyError(f"timestamp refused by TSA (status {status})")
        if len(items) < 2:
            raise VerifyError("malformed timestamp: response holds no token")
        items = der_children(expect(items[1], 0x30, "TimeStampToken"))
    if der_oid(items[0]) != OID_SIGNED_DATA:
        raise VerifyError("malformed timestamp: token is not CMS SignedData")
    explicit = der_children(expect(items[1], 0xA0, "SignedData wrapper"))
    return expect(explicit[0], 0x30, "SignedData")


def _attributes(signed_attrs: TLV) -> dict[str, list[TLV]]:
    attrs: dict[str, list[TLV]] = {}
    for attr in der_children(signed_attrs):
        oid_tlv, values = der_children(attr)
        oid = der_oid(oid_tlv)
        if oid in attrs:
            raise VerifyError("malformed timestamp: repeated signed attribute " + oid)
        attrs[oid] = der_children(values)
    return attrs


def _check_ess(attrs: dict[str, list[TLV]], cert: x509.Certificate) -> None:
    """The ESS signing-certificate(-v2) attribute must name the signer's certificate."""
    cert_der = cert.public_bytes(Encoding.DER)
    if OID_SIGNING_CERT_V2 in attrs:
        ids = der_children(der_children(attrs[OID_SIGNING_CERT_V2][0])[0])
        first = der_children(ids[0])
        algorithm: hashes.HashAlgorithm = hashes.SHA256()
        if first[0].tag == 0x30:  # hashAlgorithm present (DEFAULT sha256 otherwise)
            algorithm = _hash_alg(der_oid(der_children(first[0])[0]))[1]
            first = first[1:]
        cert_hash = expect(first[0], 0x04, "ESSCertIDv2 certHash").content
    elif OID_SIGNING_CERT in attrs:
        ids = der_children(der_children(attrs[OID_SIGNING_CERT][0])[0])
        algorithm = hashes.SHA1()  # noqa: S303 - ESSCertID (v1) is defined with SHA-1
        cert_hash = expect(der_children(ids[0])[0], 0x04, "ESSCertID certHash").content
    else:
        raise VerifyError("bad signature: no ESS signing-certificate attribute")
    if _digest(algorithm, cert_der) != cert_hash:
        raise VerifyError("bad signature: ESS signing-certificate does not name the signer")


def _hash_by_name(name: str) -> hashes.HashAlgorithm:
    for known, factory in HASH_OIDS.values():
        if known == name and known != "sha1":
            return factory()
    raise VerifyError("malformed timestamp: unsupported signature hash " + name)


def _verify_cms_signature(
    cert: x509.Certificate, sig_alg: str, digest_name: str, signature: bytes, data: bytes
) -> None:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and sig_alg in RSA_OIDS:
            name = RSA_OIDS[sig_alg] or digest_name
            key.verify(signature, data, padding.PKCS1v15(), _hash_by_name(name))
        elif isinstance(key, ec.EllipticCurvePublicKey) and sig_alg in ECDSA_OIDS:
            key.verify(signature, data, ec.ECDSA(_hash_by_name(ECDSA_OIDS[sig_alg])))
        elif isinstance(key, ed25519.Ed25519PublicKey) and sig_alg == OID_ED25519:
            key.verify(signature, data)
        else:
            raise VerifyError("bad signature: unsupported signature algorithm " + sig_alg)
    except InvalidSignature as exc:
        raise VerifyError("bad signature: the TSA signature does not verify") from exc


def _find_signer(sid: TLV, certs: list[x509.Certificate]) -> x509.Certificate:
    if sid.tag == 0x30:  # issuerAndSerialNumber
        issuer, serial = der_children(sid)
        for cert in certs:
            if cert.serial_number == der_int(serial) and _issuer_der(cert) == issuer.encoded:
                return cert
    elif sid.tag == 0x80:  # subjectKeyIdentifier
        for cert in certs:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.content:
                return cert
    raise VerifyError("bad signature: the TSA certificate is not in the token")


def _issuer_der(cert: x509.Certificate) -> bytes:
    """The issuer Name exactly as encoded in the certificate."""
    tbs = der_children(der_children(der_read(cert.public_bytes(Encoding.DER))[0])[0])
    offset = 1 if tbs[0].tag == 0xA0 else 0  # explicit version
    return tbs[offset + 2].encoded


def _require_timestamping(policy: Any, cert: x509.Certificate, eku: Any) -> None:
    if eku is None or x509.oid.ExtendedKeyUsageOID.TIME_STAMPING not in eku:
        raise ValueError("the TSA certificate's extended key usage lacks timeStamping")


def has_path_validation() -> bool:
    """Whether the installed `cryptography` has the X.509 verification API this needs (45+)."""
    try:
        from cryptography.x509 import verification
    except ImportError:
        return False
    return hasattr(verification.PolicyBuilder, "extension_policies")


def validate_tsa_path(
    cert: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: list[x509.Certificate],
    moment: dt.datetime,
) -> x509.Certificate:
    """The anchor the TSA certificate chains to at `moment`; VerifyError ("untrusted CA") else.

    `cryptography`'s X.509 verifier builds the path: every issuer must assert
    basicConstraints cA (path length constraints honoured), every certificate must be valid
    at `moment`, and the TSA certificate must carry a critical extended key usage holding
    timeStamping. `intermediates` are untrusted helpers (from the token or the bundle); only
    `anchors` are trusted.
    """
    from cryptography.x509 import verification as v

    if not anchors:
        raise VerifyError("untrusted CA: no TSA CA certificate was given")
    ca_policy = v.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, v.Criticality.AGNOSTIC, None)
    ee_policy = v.ExtensionPolicy.permit_all().require_present(
        x509.ExtendedKeyUsage, v.Criticality.CRITICAL, _require_timestamping)
    verifier = (
        v.PolicyBuilder()
        .store(v.Store(anchors))
        .time(moment)
        .max_chain_depth(6)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(cert, intermediates).chain
    except v.VerificationError as exc:
        raise VerifyError(
            f"untrusted CA: TSA certificate {safe(cert.subject.rfc4514_string())} does not "
            f"chain to a CA you gave: {safe(exc)}"
        ) from exc
    return chain[-1]


def verify_token(
    token_der: bytes,
    message: bytes,
    anchors: list[x509.Certificate] | None,
    extra_certs: Sequence[x509.Certificate] = (),
) -> Timestamp:
    """Check an RFC 3161 response/token over `message`; VerifyError names the failure.

    The token's own content (imprint over `message`, signed attributes, the TSA's signature,
    ESS certificate binding) is always checked. With `anchors` the TSA certificate must also
    chain to one of them (see `validate_tsa_path`); with None it is not anchored and the
    result's `anchor_subject` stays None.
    """
    try:
        return _verify_token(token_der, message, anchors, list(extra_certs))
    except (IndexError, ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm,
            UnicodeDecodeError) as exc:
        raise VerifyError("malformed timestamp: " + safe(repr(exc), 120)) from exc


def _verify_token(
    token_der: bytes,
    message: bytes,
    anchors: list[x509.Certificate] | None,
    extra_certs: list[x509.Certificate],
) -> Timestamp:
    sd = der_children(_signed_data(token_der))
    if der_int(sd[0]) not in (1, 3, 4, 5):
        raise VerifyError("malformed timestamp: bad SignedData version")
    expect(sd[1], 0x31, "digestAlgorithms")
    encap = der_children(expect(sd[2], 0x30, "encapContentInfo"))
    if der_oid(encap[0]) != OID_TSTINFO:
        raise VerifyError("malformed timestamp: content is not a TSTInfo")
    tst_der = expect(der_children(expect(encap[1], 0xA0, "eContent"))[0], 0x04, "eContent").content
    rest = sd[3:]
    certs: list[x509.Certificate] = []
    if rest and rest[0].tag == 0xA0:
        certs = [x509.load_der_x509_certificate(c.encoded) for c in der_children(rest[0])]
        rest = rest[1:]
    if rest and rest[0].tag == 0xA1:
        rest = rest[1:]
    signer_infos = der_children(expect(rest[0], 0x31, "signerInfos"))
    if len(signer_infos) != 1:
        raise VerifyError(f"malformed timestamp: {len(signer_infos)} signers, expected 1")
    si = der_children(expect(signer_infos[0], 0x30, "SignerInfo"))
    if der_int(si[0]) not in (1, 3):
        raise VerifyError("malformed timestamp: bad SignerInfo version")

    # TSTInfo: the imprint must be the hash of the message (the Merkle root)
    tst = der_children(expect(der_read(tst_der)[0], 0x30, "TSTInfo"))
    policy = der_oid(tst[1])
    imprint = der_children(tst[2])
    hash_name, algorithm = _hash_alg(der_oid(der_children(imprint[0])[0]))
    if hash_name not in IMPRINT_HASHES:
        raise VerifyError(f"malformed timestamp: imprint hash {hash_name} is too weak")
    hashed = expect(imprint[1], 0x04, "hashedMessage").content
    if hashed != _digest(algorithm, message):
        raise VerifyError(
            f"digest mismatch: the token covers {hashed.hex()}, not {hash_name}(root)")
    serial = der_int(tst[3])
    gen_time = _gen_time(tst[4])

    # SignerInfo: signed attributes bind the TSTInfo; the TSA key signs them
    sid = si[1]
    digest_name, digest_alg = _hash_alg(der_oid(der_children(expect(si[2], 0x30, "alg"))[0]))
    signed_attrs = expect(si[3], 0xA0, "signedAttrs")
    sig_alg = der_oid(der_children(expect(si[4], 0x30, "signatureAlgorithm"))[0])
    signature = expect(si[5], 0x04, "signature").content
    attrs = _attributes(signed_attrs)
    if OID_CONTENT_TYPE not in attrs or der_oid(attrs[OID_CONTENT_TYPE][0]) != OID_TSTINFO:
        raise VerifyError("bad signature: signed content type is not TSTInfo")
    if OID_MESSAGE_DIGEST not in attrs:
        raise VerifyError("bad signature: no message-digest attribute")
    if attrs[OID_MESSAGE_DIGEST][0].content != _digest(digest_alg, tst_der):
        raise VerifyError("bad signature: the TSTInfo does not match its signed digest")
    cert = _find_signer(sid, certs)
    _verify_cms_signature(cert, sig_alg, digest_name, signature, b"\x31" + signed_attrs.encoded[1:])
    _check_ess(attrs, cert)
    result = Timestamp(gen_time, serial, policy, cert.subject.rfc4514_string())
    if anchors is not None:
        anchor = validate_tsa_path(cert, [c for c in certs + extra_certs if c != cert],
                                   anchors, gen_time)
        result.anchor_subject = anchor.subject.rfc4514_string()
        result.anchor_sha256 = anchor.fingerprint(hashes.SHA256()).hex()
    return result


# --- reading a bundle, bounded --------------------------------------------------------------


class Bundle:
    """Files of a bundle folder or zip, every read bounded; Refused for a hostile archive."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._zip: zipfile.ZipFile | None = None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._prefix = ""
        if os.path.isfile(location):
            try:
                self._zip = zipfile.ZipFile(location)
                infos = self._zip.infolist()
                _check_zip(infos)
            except (zipfile.BadZipFile, OSError, ValueError, Refused) as exc:
                self.close()
                if isinstance(exc, Refused):
                    raise
                raise Refused("not a readable zip: " + safe(exc)) from exc
            names = [i.filename for i in infos]
            tops = {n.split("/", 1)[0] for n in names}
            if not any(n.startswith("manifests/") for n in names) and len(tops) == 1:
                self._prefix = tops.pop() + "/"  # zipped with an enclosing folder
            self._infos = {i.filename[len(self._prefix):]: i for i in infos
                           if i.filename.startswith(self._prefix) and not i.is_dir()}

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def names(self) -> builtins.list[str]:
        """Every file in the bundle, relative to its top folder."""
        if self._zip is not None:
            return sorted(self._infos)
        out = []
        for folder, _, files in os.walk(self.location):
            for name in files:
                rel = os.path.relpath(os.path.join(folder, name), self.location)
                out.append(rel.replace(os.sep, "/"))
        return sorted(out)

    def list(self, folder: str) -> builtins.list[str]:
        start = folder + "/"
        return [n[len(start):] for n in self.names()
                if n.startswith(start) and "/" not in n[len(start):]]

    def exists(self, name: str) -> bool:
        if self._zip is not None:
            return name in self._infos
        return os.path.isfile(self._path(name))

    def _path(self, name: str) -> str:
        if name.startswith("/") or ".." in name.split("/"):
            raise Refused("member name escapes the bundle: " + safe(name))
        return os.path.join(self.location, *name.split("/"))

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._infos[name].file_size
        return os.path.getsize(self._path(name))

    def open(self, name: str) -> io.BufferedIOBase:
        if self._zip is not None:
            return self._zip.open(self._infos[name])  # type: ignore[return-value]
        return open(self._path(name), "rb")

    def read(self, name: str, limit: int = MAX_JSON) -> bytes:
        """A member's bytes; Refused if it is (or unpacks to) more than `limit` bytes."""
        if self.size(name) > limit:
            raise Refused(f"{safe(name)} is {self.size(name)} bytes, over the limit of {limit}")
        with self.open(name) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise Refused(f"{safe(name)} unpacks to more than {limit} bytes")
        return data

    def sha256(self, name: str, limit: int = MAX_MEMBER) -> tuple[str, int]:
        """SHA-256 hex and size of a member, streamed; Refused past `limit` bytes."""
        digest, size = hashlib.sha256(), 0
        with self.open(name) as fh:
            for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                size += len(chunk)
                if size > limit:
                    raise Refused(f"{safe(name)} unpacks to more than {limit} bytes")
                digest.update(chunk)
        return digest.hexdigest(), size


def _check_zip(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip bomb before anything is unpacked."""
    if len(infos) > MAX_MEMBERS:
        raise Refused(f"zip holds {len(infos)} members, over the limit of {MAX_MEMBERS}")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > MAX_MEMBER:
            raise Refused(f"zip member {safe(info.filename)} declares {info.file_size} bytes, "
                          f"over the limit of {MAX_MEMBER}")
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Refused(f"zip bomb: member {safe(info.filename)} would unpack "
                          f"{info.file_size} bytes from {info.compress_size} (ratio over "
                          f"{MAX_RATIO})")
    if total > MAX_TOTAL:
        raise Refused(f"zip would unpack to {total} bytes, over the limit of {MAX_TOTAL}")


# --- WARC records, streamed and bounded (the standard library only) -------------------------

PAYLOAD_SHA256 = "warc-markwatch-payload-sha256"
"""A markwatch revisit record's payload blob (hex SHA-256): `crawler.recording.dedup`."""
PAYLOAD_LENGTH = "warc-markwatch-payload-length"
ORIGINAL_BLOCK = "warc-markwatch-original-block-digest"
MATERIALISE_AS = "warc-markwatch-materialise-as"
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


class GzipStream:
    """The decompressed bytes of a multi-member gzip file, read on demand; VerifyError past
    `limit` decompressed bytes or on a damaged stream. Memory: about 128 KiB plus what the
    caller asks for at once."""

    def __init__(self, fh: Any, limit: int = MAX_WARC_BYTES) -> None:
        self._fh = fh
        self._limit = limit
        self._d: Any = None
        self._input = b""
        self._buf = bytearray()
        self._pos = 0
        self.total = 0

    def _more(self) -> bool:
        """Decompress some more into the buffer; False at the clean end of the file."""
        while True:
            if not self._input:
                self._input = self._fh.read(1 << 16)
                if not self._input:
                    if self._d is not None and not self._d.eof:
                        raise VerifyError("gzip stream cut short")
                    return False
            if self._d is None or self._d.eof:
                self._d = zlib.decompressobj(31)
            try:
                out = self._d.decompress(self._input, 1 << 16)
            except zlib.error as exc:
                raise VerifyError("not a valid gzip stream: " + safe(exc)) from exc
            self._input = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            if out:
                self.total += len(out)
                if self.total > self._limit:
                    raise VerifyError(f"decompresses to more than {self._limit} bytes")
                if self._pos > 1 << 20:
                    del self._buf[: self._pos]
                    self._pos = 0
                self._buf += out
                return True

    def read(self, n: int) -> bytes:
        """Up to `n` bytes (fewer only at the end of the file)."""
        while len(self._buf) - self._pos < n and self._more():
            pass
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += len(out)
        return out

    def read_until(self, marker: bytes, limit: int) -> bytes | None:
        """Bytes up to and including `marker`; None at a clean end; VerifyError past `limit`."""
        start = 0
        while True:
            found = self._buf.find(marker, self._pos + start)
            if found >= 0 and found + len(marker) - self._pos <= limit:
                out = bytes(self._buf[self._pos : found + len(marker)])
                self._pos = found + len(marker)
                return out
            if len(self._buf) - self._pos > limit:
                raise VerifyError(f"a record header longer than {limit} bytes")
            start = max(0, len(self._buf) - self._pos - len(marker))
            if not self._more():
                if len(self._buf) == self._pos:
                    return None
                raise VerifyError("the file ends inside a record header")


@dataclass
class WarcRecord:
    """One record's header fields (lower-case names, first value) and what its bytes hash to."""

    number: int
    fields: dict[str, str]
    length: int
    block_sha256: str
    payload_sha256: str
    """Of the block after its HTTP head for `application/http` records, else of the block."""
    head_sha256: str | None
    """Of the HTTP head (with its blank line) of an `application/http` record."""
    problems: list[str]

    @property
    def type(self) -> str:
        return self.fields.get("warc-type", "")

    @property
    def label(self) -> str:
        uri = self.fields.get("warc-target-uri", "")
        return f"record {self.number} ({safe(self.type, 20)} {safe(uri, 120)})"


def _parse_digest(label: str) -> tuple[str, bytes] | None:
    """`algorithm:value` (base32 or hex) as (algorithm, digest bytes); None if unreadable."""
    algorithm, sep, value = label.strip().partition(":")
    algorithm = algorithm.lower()
    if not sep or algorithm not in _DIGESTS:
        return None
    size = _DIGESTS[algorithm]().digest_size
    try:
        if len(value) == size * 2 and set(value.lower()) <= HEX:
            return algorithm, bytes.fromhex(value)
        raw = base64.b32decode(value.upper() + "=" * (-len(value) % 8))
    except (ValueError, TypeError):
        return None
    return (algorithm, raw) if len(raw) == size else None


def warc_records(stream: GzipStream) -> Iterator[WarcRecord]:
    """Every record of a gzipped WARC, its block streamed through its digests (stated digests
    checked: `WarcRecord.problems`); VerifyError if the file is not a readable WARC."""
    number = 0
    while True:
        head = stream.read_until(b"\r\n\r\n", MAX_WARC_HEAD)
        if head is None:
            return
        number += 1
        if number > MAX_WARC_RECORDS:
            raise VerifyError(f"more than {MAX_WARC_RECORDS} records")
        lines = head[:-4].decode("utf-8", "replace").split("\r\n")
        if not lines[0].startswith("WARC/"):
            raise VerifyError(f"record {number}: not a WARC record")
        fields: dict[str, str] = {}
        name = ""
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and name:
                fields[name] += " " + line.strip()
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise VerifyError(f"record {number}: a malformed header line")
            name = key.strip().lower()
            if name in fields:
                name = ""  # a repeated field: the first one counts
                continue
            fields[name] = value.strip()
        try:
            length = int(fields.get("content-length", ""))
        except ValueError:
            raise VerifyError(f"record {number}: no Content-Length") from None
        if length < 0:
            raise VerifyError(f"record {number}: a negative Content-Length")
        yield _hash_block(stream, number, fields, length)
        if stream.read(4) != b"\r\n\r\n":
            raise VerifyError(f"record {number}: its block does not end where its "
                              "Content-Length says")


def _hash_block(stream: GzipStream, number: int, fields: dict[str, str],
                length: int) -> WarcRecord:
    problems: list[str] = []
    stated = {}
    for name in ("warc-block-digest", "warc-payload-digest"):
        if name in fields:
            parsed = _parse_digest(fields[name])
            if parsed is None:
                problems.append(f"{name}: {safe(fields[name], 80)} is not a digest this "
                                "verifier can check")
            else:
                stated[name] = parsed
    block = {a: _DIGESTS[a]() for a in {"sha256", *(d[0] for d in stated.values())}}
    payload = {a: _DIGESTS[a]() for a in {"sha256", stated.get("warc-payload-digest",
                                                                  ("sha256", b""))[0]}}
    is_http = fields.get("content-type", "").lower().startswith("application/http")
    first = stream.read(min(length, MAX_WARC_HEAD))
    if len(first) < min(length, MAX_WARC_HEAD):
        raise VerifyError(f"record {number}: the file ends inside its block")
    head_sha = None
    body_start = 0
    if is_http:
        end = first.find(b"\r\n\r\n")
        if end < 0 and length > len(first):
            raise VerifyError(f"record {number}: an HTTP head longer than {MAX_WARC_HEAD} bytes")
        body_start = len(first) if end < 0 else end + 4
        head_sha = hashlib.sha256(first[:body_start]).hexdigest()
    for h in block.values():
        h.update(first)
    for h in payload.values():
        h.update(first[body_start:])
    left = length - len(first)
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            raise VerifyError(f"record {number}: the file ends inside its block")
        left -= len(chunk)
        for h in block.values():
            h.update(chunk)
        for h in payload.values():
            h.update(chunk)
    kind = fields.get("warc-type", "")
    if "warc-block-digest" in stated:
        algorithm, want = stated["warc-block-digest"]
        if block[algorithm].digest() != want:
            problems.append(f"its block does not match its WARC-Block-Digest "
                            f"{safe(fields['warc-block-digest'], 80)}")
    if "warc-payload-digest" in stated and kind in ("response", "resource", "request"):
        algorithm, want = stated["warc-payload-digest"]
        if payload[algorithm].digest() != want:
            problems.append(f"its payload does not match its WARC-Payload-Digest "
                            f"{safe(fields['warc-payload-digest'], 80)}")
    return WarcRecord(number, fields, length, block["sha256"].hexdigest(),
                      payload["sha256"].hexdigest(), head_sha, problems)


# --- verdicts -------------------------------------------------------------------------------

PROVEN, NOT_PROVEN, FAILED = "PROVEN", "NOT PROVEN", "FAILED"


@dataclass
class Finding:
    """One of the three verdicts: its status and the reasons, already escaped."""

    status: str = NOT_PROVEN
    lines: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.status = FAILED
        self.lines.append(line)


@dataclass
class CaptureVerdict:
    """Integrity, origin and time for one capture."""

    capture_id: str
    integrity: Finding = field(default_factory=Finding)
    origin: Finding = field(default_factory=Finding)
    time: Finding = field(default_factory=Finding)

    def ok(self, integrity_only: bool = False) -> bool:
        if integrity_only:
            return self.integrity.status == PROVEN
        return all(f.status == PROVEN for f in (self.integrity, self.origin, self.time))


@dataclass
class Anchors:
    """What the verifier trusts: given on the command line, never read from a bundle."""

    keys: list[str] = field(default_factory=list)
    tsa_cas: list[x509.Certificate] = field(default_factory=list)


def origin_verdict(doc: dict[str, Any], anchors: Anchors, what: str) -> Finding:
    """Who signed `doc` (a seal or the bundle index), and whether you pinned that key."""
    finding = Finding()
    try:
        fp = check_signature(doc)
    except VerifyError as exc:
        finding.fail(f"{what}: {exc}")
        return finding
    if fp is None:
        finding.fail(what + ": no signature: nothing shows who made it")
    elif fp in anchors.keys:
        finding.status = PROVEN
        finding.lines.append(f"{what} signed by Ed25519 key {fp} (pinned: you gave it)")
    elif anchors.keys:
        finding.fail(f"{what} signed by key {fp}, which is not one you pinned (--trust-key)")
    else:
        finding.lines.append(
            f"{what} signed by key {fp}, NOT pinned: give --trust-key {fp} only if the "
            "sender told you this fingerprint by another channel")
    return finding


def time_verdict(seal: Seal, anchors: Anchors) -> Finding:
    """What the seal's RFC 3161 tokens prove about when the sealed root existed."""
    finding = Finding()
    entries = seal.doc.get("timestamps") or []
    if not isinstance(entries, list):
        finding.fail(seal.name + ": malformed timestamps")
        return finding
    if not entries:
        finding.lines.append(
            "not attested: the seal carries no trusted timestamp, so nothing here proves when "
            "the capture was made (the times inside it are the sender's own word)")
        return finding
    for i, entry in enumerate(entries):
        label = safe(entry.get("tsa", f"#{i}")) if isinstance(entry, dict) else f"#{i}"
        try:
            token = base64.b64decode(entry["response"], validate=True)
            extra = _pem_certs(str(entry.get("ca_chain_pem") or ""))
            unanchored = verify_token(token, seal.root, None)
        except (TypeError, KeyError, ValueError, AttributeError):
            finding.fail(f"timestamp[{label}]: malformed entry")
            continue
        except VerifyError as exc:
            finding.fail(f"timestamp[{label}]: {exc}")
            continue
        when = unanchored.gen_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        tsa = safe(unanchored.tsa_subject)
        if not anchors.tsa_cas:
            finding.lines.append(
                f"token by TSA {tsa} says {when}, but no TSA CA was given (--trust-tsa-ca): "
                "the TSA is not vouched for (CA certificates in the bundle are never trusted)")
            continue
        try:
            ts = verify_token(token, seal.root, anchors.tsa_cas, extra)
        except VerifyError as exc:
            finding.lines.append(f"token by TSA {tsa}: {exc}")
            continue
        if finding.status != FAILED:
            finding.status = PROVEN
        finding.lines.append(
            f"existed by {when}: RFC 3161 token by TSA {tsa} (serial {ts.serial}), chained to "
            f"your CA {safe(ts.anchor_subject)} (sha256:{ts.anchor_sha256})")
    return finding


def _pem_certs(text: str) -> list[x509.Certificate]:
    if not text.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return []


def check_artifacts(bundle: Bundle, manifest: dict[str, Any], finding: Finding,
                    matched: dict[str, tuple[str, int]] | None = None) -> int:
    """Hash every artifact the manifest lists; the number that matched (each one's member
    name, digest and size added to `matched`)."""
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, list):
        finding.fail("manifest lists no artifacts")
        return 0
    good = 0
    for artifact in artifacts:
        if not isinstance(artifact, dict):
            finding.fail("manifest: malformed artifact entry")
            continue
        digest, size = artifact.get("sha256"), artifact.get("size")
        label = safe(artifact.get("name", "?"), 80)
        if not is_hex_digest(digest):
            finding.fail(f"artifact {label}: not a SHA-256 hex digest")
            continue
        name = "artifacts/" + str(digest)
        if not bundle.exists(name):
            finding.fail(f"artifact {label}: {name} missing from the bundle")
            continue
        actual, actual_size = bundle.sha256(name)
        if actual != digest:
            finding.fail(f"artifact {label}: SHA-256 is {actual}, manifest says {digest}")
        elif size is not None and actual_size != size:
            finding.fail(f"artifact {label}: {actual_size} bytes, manifest says {safe(size)}")
        else:
            good += 1
            if matched is not None:
                matched[name] = (actual, actual_size)
    return good


@dataclass
class _Blobs:
    """SHA-256 and size of bundle members hashed so far (each blob read once)."""

    bundle: Bundle
    known: dict[str, tuple[str, int]] = field(default_factory=dict)

    def hash(self, name: str) -> tuple[str, int]:
        if name not in self.known:
            self.known[name] = self.bundle.sha256(name)
        return self.known[name]


def check_warc(bundle: Bundle, manifest: dict[str, Any], finding: Finding,
               blobs: _Blobs | None = None) -> str | None:
    """The capture's WARC, record by record: each record's stated digests; each payload blob a
    revisit record names, carried in the bundle, against the digest and length it states (and,
    for a capture artifact, the manifest's); the restored `warc/<capture_id>.warc.gz` against
    the sealed WARC, every record the same or the full record its revisit stands for.
    Returns a line saying what was checked (None: the manifest lists no WARC)."""
    blobs = blobs or _Blobs(bundle)
    artifacts = [a for a in manifest.get("artifacts") or [] if isinstance(a, dict)]
    entry = next((a for a in artifacts if a.get("name") == "page.warc.gz"), None)
    if entry is None or not is_hex_digest(entry.get("sha256")):
        return None
    stored_name = "artifacts/" + entry["sha256"]
    if not bundle.exists(stored_name) or blobs.hash(stored_name)[0] != entry["sha256"]:
        return None  # the artifact check names it
    capture_id = str(manifest.get("capture_id"))
    by_name = {str(a.get("name")): a.get("sha256") for a in artifacts}
    restored_name = f"warc/{capture_id}.warc.gz"
    counts = {"records": 0, "references": 0, "restored": 0}
    with bundle.open(stored_name) as stored_fh:
        restored_fh = bundle.open(restored_name) if bundle.exists(restored_name) else None
        try:
            _walk_warc(bundle, stored_fh, restored_fh, restored_name, capture_id, by_name,
                       finding, blobs, counts)
        finally:
            if restored_fh is not None:
                restored_fh.close()
    if counts["references"] and restored_fh is None:
        finding.fail(f"{restored_name} missing: the bundle does not carry the capture's "
                     "complete WARC")
    line = (f"page.warc.gz: {counts['records']} record(s), their stated digests match; "
            f"{counts['references']} payload reference(s) match the blobs carried")
    if counts["restored"]:
        line += f"; {restored_name} matches it record for record"
    return line


def _walk_warc(bundle: Bundle, stored_fh: Any, restored_fh: Any, restored_name: str,
               capture_id: str, by_name: dict[str, Any], finding: Finding, blobs: _Blobs,
               counts: dict[str, int]) -> None:
    stored = warc_records(GzipStream(stored_fh))
    restored = warc_records(GzipStream(restored_fh)) if restored_fh is not None else None
    while True:
        try:
            record = next(stored, None)
        except VerifyError as exc:
            finding.fail(f"page.warc.gz: unreadable: {exc}")
            return
        full: WarcRecord | None = None
        if restored is not None:
            try:
                full = next(restored, None)
            except VerifyError as exc:
                finding.fail(f"{restored_name}: unreadable: {exc}")
                restored = None
        if record is None:
            if full is not None:
                finding.fail(f"{restored_name}: {full.label} is not in the sealed WARC")
            return
        counts["records"] += 1
        for problem in record.problems:
            finding.fail(f"page.warc.gz {record.label}: {problem}")
        sha = record.fields.get(PAYLOAD_SHA256)
        if record.type == "revisit" and sha is not None:
            counts["references"] += 1
            _check_reference(bundle, record, capture_id, by_name, finding, blobs)
        if restored is None:
            continue
        if full is None:
            finding.fail(f"{restored_name}: ends before the sealed WARC's {record.label}")
            restored = None
            continue
        counts["restored"] += 1
        for problem in full.problems:
            finding.fail(f"{restored_name} {full.label}: {problem}")
        differs = _restored_differs(record, full)
        if differs:
            finding.fail(f"{restored_name} {full.label}: {differs}")


def _check_reference(bundle: Bundle, record: WarcRecord, capture_id: str,
                     by_name: dict[str, Any], finding: Finding, blobs: _Blobs) -> None:
    """A revisit record's payload blob: carried, and hashing to what the record states."""
    sha = record.fields[PAYLOAD_SHA256].lower()
    original = record.fields.get("warc-markwatch-original-capture")
    first = (f", first recorded by capture {safe(original, 80)}"
             if original and original != capture_id else "")
    what = f"payload blob {safe(sha, 80)} named by page.warc.gz {record.label}{first}"
    if not is_hex_digest(sha):
        finding.fail(f"{what}: not a SHA-256 hex digest")
        return
    stated = _parse_digest(record.fields.get("warc-payload-digest", ""))
    if stated is None or stated != ("sha256", bytes.fromhex(sha)):
        finding.fail(f"{what}: its WARC-Payload-Digest does not state this blob")
    uri = record.fields.get("warc-target-uri", "")
    prefix = f"urn:markwatch:{capture_id}:"
    if uri.startswith(prefix) and uri[len(prefix):] in by_name \
            and by_name[uri[len(prefix):]] != sha:
        finding.fail(f"{what}: the manifest lists {safe(uri[len(prefix):], 80)} as "
                     f"{safe(by_name[uri[len(prefix):]], 80)}")
    name = "artifacts/" + sha
    if not bundle.exists(name):
        finding.fail(f"{what}: missing from the bundle ({name})")
        return
    actual, size = blobs.hash(name)
    if actual != sha:
        finding.fail(f"{what}: altered (its SHA-256 is {actual})")
        return
    try:
        length = int(record.fields.get(PAYLOAD_LENGTH, str(size)))
    except ValueError:
        length = -1
    if length != size:
        finding.fail(f"{what}: {size} bytes, the record says "
                     f"{safe(record.fields.get(PAYLOAD_LENGTH), 20)}")


def _restored_differs(record: WarcRecord, full: WarcRecord) -> str | None:
    """Why a restored record is not the sealed record (or the full record its revisit
    stands for), or None."""
    if full.fields.get("warc-record-id") != record.fields.get("warc-record-id"):
        return (f"is {safe(full.fields.get('warc-record-id'), 80)}, the sealed WARC has "
                f"{safe(record.fields.get('warc-record-id'), 80)} here")
    if full.fields.get("warc-target-uri") != record.fields.get("warc-target-uri"):
        return "its target URI is not the sealed record's"
    sha = record.fields.get(PAYLOAD_SHA256)
    if record.type != "revisit" or sha is None:
        if full.type != record.type or full.block_sha256 != record.block_sha256:
            return "differs from the sealed WARC's record"
        return None
    kind = record.fields.get(MATERIALISE_AS, "response")
    if full.type != kind:
        return (f"is a {safe(full.type, 20)} record, the sealed revisit stands for a "
                f"{safe(kind, 20)}")
    if full.payload_sha256 != sha.lower():
        return (f"its payload's SHA-256 is {full.payload_sha256}, the sealed revisit names "
                f"{safe(sha, 80)}")
    if kind == "response" and full.head_sha256 != record.block_sha256:
        return "its HTTP head is not the one the sealed revisit recorded"
    return None


def load_proof(bundle: Bundle, capture_id: str) -> dict[str, Any]:
    """A capture's inclusion proof file; VerifyError if missing or malformed."""
    name = f"proofs/{capture_id}.json"
    if not bundle.exists(name):
        raise VerifyError(f"no inclusion proof ({name})")
    try:
        proof = json.loads(bundle.read(name))
    except (ValueError, RecursionError) as exc:
        raise VerifyError(name + ": not JSON") from exc
    if not isinstance(proof, dict) or proof.get("type") != PROOF_TYPE:
        raise VerifyError(name + ": not a markwatch inclusion proof")
    return proof


def integrity_verdict(
    bundle: Bundle, capture_id: str, seals: dict[str, Seal], verdict: CaptureVerdict
) -> Seal | None:
    """Artifacts against manifest, manifest into a seal; the seal holding it, if any."""
    finding = verdict.integrity
    name = f"manifests/{capture_id}.json"
    raw = bundle.read(name)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError):
        finding.fail("manifest is not JSON")
        return None
    if not isinstance(manifest, dict) or manifest.get("capture_id") != capture_id:
        finding.fail(f"the manifest does not name capture {safe(capture_id)}")
        return None
    blobs = _Blobs(bundle)
    good = check_artifacts(bundle, manifest, finding, blobs.known)
    warc_line = check_warc(bundle, manifest, finding, blobs)
    try:
        proof = load_proof(bundle, capture_id)
        seal = seals.get(str(proof.get("seal")))
        if seal is None:
            raise VerifyError("its proof names seal {}, which is not in the bundle or "
                              "did not parse".format(safe(proof.get("seal"))))
        index, size = proof.get("index"), proof.get("tree_size")
        if proof.get("manifest_sha256") != digest:
            raise VerifyError(f"the manifest's SHA-256 {digest} is not the one the proof seals")
        if size != seal.size or not isinstance(index, int):
            raise VerifyError(f"the proof's tree size does not match {seal.name}")
        if manifest.get("run_id") != seal.run_id:
            raise VerifyError(f"the manifest's run is not the run of {seal.name}")
        if not verify_inclusion(bytes.fromhex(digest), index, size, hex_path(proof.get("path")),
                                seal.root):
            raise VerifyError("the Merkle audit path does not reach the root of " + seal.name)
    except VerifyError as exc:
        finding.fail(f"not sealed: {exc}")
        return None
    if finding.status != FAILED:
        finding.status = PROVEN
        finding.lines.append(
            f"{good} artifact(s) match manifest sha256:{digest}, which is leaf {index} of "
            f"{size} under root {seal.root.hex()} ({seal.name})")
        if warc_line:
            finding.lines.append(warc_line)
    return seal


@dataclass
class BundleCheck:
    """Bundle-wide findings: the signed index and the custody log."""

    index: dict[str, Any] | None = None
    origin: Finding = field(default_factory=Finding)
    problems: list[str] = field(default_factory=list)
    custody: dict[str, list[str]] = field(default_factory=dict)


def check_index(bundle: Bundle, anchors: Anchors, seals: dict[str, Seal]) -> BundleCheck:
    """The signed bundle index: who signed it, the files it lists, the custody entries."""
    out = BundleCheck()
    if not bundle.exists("index.json"):
        out.origin.fail("index.json missing: the bundle's contents are not signed")
        out.problems.append("index.json missing")
        return out
    try:
        index = json.loads(bundle.read("index.json"))
        if not isinstance(index, dict) or index.get("type") != INDEX_TYPE:
            raise ValueError("not a markwatch bundle index")
        files = index["files"]
        if not isinstance(files, dict):
            raise ValueError("files is not a mapping")
    except (ValueError, KeyError, RecursionError) as exc:
        out.origin.fail(f"index.json: {safe(exc)}")
        out.problems.append("index.json unreadable")
        return out
    out.index = index
    out.origin = origin_verdict(index, anchors, "the bundle index")
    for name in sorted(files):
        if not bundle.exists(str(name)):
            out.problems.append(f"index.json lists {safe(name)}, missing from the bundle")
            continue
        actual, _ = bundle.sha256(str(name))
        if actual != files[name]:
            out.problems.append(
                f"{safe(name)}: SHA-256 {actual}, the signed index says {safe(files[name])}")
    covered = set(files) | {"index.json"}
    for name in bundle.names():
        if name.startswith(("manifests/", "artifacts/")):
            continue  # covered by the seals
        if name not in covered:
            out.problems.append(f"{safe(name)} is not listed in the signed index")
    _check_custody(bundle, index, seals, out)
    return out


def _check_custody(bundle: Bundle, index: dict[str, Any], seals: dict[str, Seal],
                   out: BundleCheck) -> None:
    tree = index.get("custody")
    if not isinstance(tree, dict) or not is_hex_digest(tree.get("root")):
        out.problems.append("index.json: no custody tree")
        return
    size, root, listed = tree.get("size"), bytes.fromhex(tree["root"]), tree.get("entries")
    if not isinstance(size, int) or not isinstance(listed, list):
        out.problems.append("index.json: malformed custody tree")
        return
    for seal in seals.values():
        if seal.custody is not None and seal.custody["size"] > size:
            out.problems.append(f"custody: {seal.name} covers {seal.custody['size']} entries, "
                                f"the index only {size} (log cut short)")
    if not bundle.exists("custody.jsonl"):
        out.problems.append("custody.jsonl missing from the bundle")
        return
    lines = bundle.read("custody.jsonl").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        paths = json.loads(bundle.read("custody-proofs.json"))
    except (ValueError, RecursionError, KeyError, OSError, Refused):
        paths = None
    if not isinstance(paths, list) or len(paths) != len(lines):
        out.problems.append("custody-proofs.json: missing, or not one proof per custody entry")
        return
    seqs: list[int] = []
    previous: tuple[int, bytes] | None = None
    for number, (line, path) in enumerate(zip(lines, paths), 1):  # noqa: B905 - strict= needs 3.10
        where = f"custody.jsonl line {number}"
        try:
            entry = json.loads(line)
            seq = entry["seq"]
            if not isinstance(seq, int) or not is_canonical(line):
                raise ValueError("not a canonical entry")
            if not verify_inclusion(custody_leaf(line), seq, size, hex_path(path), root):
                raise VerifyError(f"not entry {seq} of the signed custody log")
        except (ValueError, KeyError, TypeError, VerifyError, RecursionError) as exc:
            out.problems.append(f"{where}: {safe(exc)}")
            continue
        if previous is not None and previous[0] + 1 == seq:
            prev_ok = entry.get("prev") == hashlib.sha256(previous[1]).hexdigest()
            if not prev_ok:
                out.problems.append(where + ": prev does not match the entry before it")
        seqs.append(seq)
        previous = (seq, line)
        for cid in entry_names(entry):
            text = "{} {} by {}".format(safe(entry.get("time"), 40), safe(entry.get("event"), 20),
                                    safe(entry.get("actor"), 80))
            out.custody.setdefault(str(cid), []).append(text)
    if seqs != listed:
        out.problems.append(
            f"custody: the entries {safe(seqs, 120)} are not the ones the signed index lists "
            f"{safe(listed, 120)} (dropped, added or reordered)")


def verify_bundle(bundle: Bundle, anchors: Anchors) -> tuple[list[CaptureVerdict], BundleCheck]:
    """Check a whole bundle against the verifier's anchors."""
    seals: dict[str, Seal] = {}
    seal_errors: dict[str, str] = {}
    for name in bundle.list("seals"):
        if name.endswith(".json"):
            try:
                seal = parse_seal("seals/" + name, bundle.read("seals/" + name))
                seals[seal.name] = seal
            except VerifyError as exc:
                seal_errors["seals/" + name] = str(exc)
    check = check_index(bundle, anchors, seals)
    for error in seal_errors.values():
        check.problems.append(safe(error))
    verdicts = []
    ids = [n[: -len(".json")] for n in bundle.list("manifests") if n.endswith(".json")]
    if not ids:
        check.problems.append("no manifests/*.json: nothing to verify")
    for capture_id in ids:
        verdict = CaptureVerdict(capture_id)
        holder = integrity_verdict(bundle, capture_id, seals, verdict)
        if holder is None:
            verdict.origin.lines.append("no seal: origin not checked")
            verdict.time.lines.append("no seal: time not checked")
        else:
            verdict.origin = origin_verdict(holder.doc, anchors, "the run seal")
            verdict.time = time_verdict(holder, anchors)
        verdicts.append(verdict)
    return verdicts, check


def report(verdicts: list[CaptureVerdict], check: BundleCheck, integrity_only: bool,
           out: Callable[[str], None]) -> bool:
    """Print the verdicts (every bundle string already escaped); whether all holds."""
    good = not check.problems and bool(verdicts)
    if not integrity_only and check.origin.status != PROVEN:
        good = False
    for v in verdicts:
        ok = v.ok(integrity_only)
        good = good and ok
        out("{} capture {}".format("OK  " if ok else "FAIL", safe(v.capture_id, 80)))
        for label, finding in (("integrity", v.integrity), ("origin", v.origin), ("time", v.time)):
            status = finding.status
            if label == "time" and status == NOT_PROVEN and any(
                    line.startswith("not attested") for line in finding.lines):
                status = "NOT ATTESTED"
            out(f"       {label + ':':<9} {status}")
            for line in finding.lines:
                out("           " + line)
        events = sorted(check.custody.get(v.capture_id, [])
                        + check.custody.get(capture_digest(v.capture_id), []))
        for event in events:
            out("       custody:  " + event)
    out(f"bundle index: {check.origin.status}")
    for line in check.origin.lines:
        out("           " + line)
    for problem in check.problems:
        out("FAIL " + problem)
    if integrity_only:
        out("INTEGRITY ONLY: origin (who sealed it) and time (when) were NOT checked against "
            "anchors of yours; this proves only that the files match their seals.")
        out("INTEGRITY VERIFIED" if good else "NOT VERIFIED: see FAIL above")
    elif good:
        out("VERIFIED: integrity, origin and time hold for every capture against the anchors "
            "you gave")
    else:
        out("NOT VERIFIED: see FAIL, NOT PROVEN and NOT ATTESTED above")
    return good


def load_anchors(keys: Sequence[str], ca_files: Sequence[str]) -> Anchors:
    """Anchors from the command line; VerifyError names an unusable one."""
    anchors = Anchors()
    for key in keys:
        if not (key.startswith("sha256:") and is_hex_digest(key[len("sha256:"):])):
            raise VerifyError(f"--trust-key {safe(key)}: expected sha256:<64 hex digits>")
        anchors.keys.append(key)
    for path in ca_files:
        try:
            with open(path, "rb") as fh:
                anchors.tsa_cas.extend(x509.load_pem_x509_certificates(fh.read(MAX_JSON)))
        except (OSError, ValueError) as exc:
            raise VerifyError(f"--trust-tsa-ca {safe(path)}: {safe(exc)}") from exc
    return anchors



def missing_anchors(keys: Any, tsa_cas: Any) -> str:
    """What the recipient's anchors leave unproven, said precisely ('' when nothing)."""
    if not keys and not tsa_cas:
        return "no --trust-key and no --trust-tsa-ca given: origin and time cannot be proven"
    if not keys:
        return "no --trust-key given: origin cannot be proven"
    if not tsa_cas:
        return "no --trust-tsa-ca given: time cannot be proven"
    return ""

def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description="Verify a markwatch evidence bundle.")
    parser.add_argument("bundle", nargs="?", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--trust-tsa-ca", action="append", default=[], metavar="PEM",
                        help="a TSA CA certificate you trust (never taken from the bundle)")
    parser.add_argument("--trust-key", action="append", default=[], metavar="sha256:HEX",
                        help="the fingerprint of the sealing key you were given")
    parser.add_argument("--integrity-only", action="store_true",
                        help="check only that the files match their seals (weaker; said so)")
    args = parser.parse_args(argv)
    if not has_path_validation():
        print("verify.py: needs cryptography 45 or later (pip install -U cryptography)",
              file=sys.stderr)
        return 2
    if not os.path.exists(args.bundle):
        print("verify.py: no such bundle: " + safe(args.bundle), file=sys.stderr)
        return 2
    try:
        anchors = load_anchors(args.trust_key, args.trust_tsa_ca)
    except VerifyError as exc:
        print(f"verify.py: {exc}", file=sys.stderr)
        return 2
    missing = missing_anchors(anchors.keys, anchors.tsa_cas)
    if not args.integrity_only and missing:
        out(f"note: {missing}; this run says what is and is not proven, and exits 1")
    bundle: Bundle | None = None
    try:
        bundle = Bundle(args.bundle)
        verdicts, check = verify_bundle(bundle, anchors)
    except Refused as exc:
        out(f"REFUSED: {exc}")
        out("NOT VERIFIED: the bundle was refused")
        return 1
    finally:
        if bundle is not None:
            bundle.close()
    return 0 if report(verdicts, check, args.integrity_only, out) else 1


if __name__ == "__main__":
    sys.exit(main())
