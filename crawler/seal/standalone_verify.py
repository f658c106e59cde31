#!/usr/bin/env python3
"""verify.py: check a markwatch evidence bundle without markwatch.

Needs only Python 3.9+ and the `cryptography` package (`pip install cryptography`).

    python verify.py [BUNDLE_DIR_OR_ZIP] [--trust-tsa-ca CA.pem]... [--trust-key sha256:HEX]...

With no argument it checks the folder it sits in. Bundle layout:

    manifests/<capture_id>.json         canonical JSON manifest of each capture
    artifacts/<sha256>                  every artifact a manifest lists, named by its SHA-256
    runs/<run_id>.<marketplace>.json    the run records
    seals/<run_id>.<marketplace>.json   the run seal(s) holding the manifests' digests
    custody.jsonl                       the chain-of-custody log, one canonical JSON entry a line
    verify.py                           this file

(markwatch builds these names in storage/layout.py; this file imports nothing of markwatch and
reads every `seals/*.json` whatever its name.)

What it checks:

* every artifact's SHA-256 and size against its manifest;
* every manifest's SHA-256 is a leaf of a run seal, with an RFC 9162 Merkle audit path that
  reaches the seal's root, and the root matches all the seal's leaves;
* the seal's Ed25519 signature over its canonical body (RFC 8785), and that the public key
  matches its fingerprint (and, with --trust-key, that it is a key you trust);
* every RFC 3161 timestamp in the seal: that its messageImprint is SHA-256 (or SHA-384/512)
  of the 32-byte Merkle root, that the CMS signed attributes carry the content type TSTInfo
  and the digest of the TSTInfo, that the TSA certificate named in the ESS
  signing-certificate attribute signed them (RSA PKCS#1 v1.5, ECDSA or Ed25519), that the
  certificate has the critical timeStamping extended key usage and was valid at genTime, and
  that it chains (by signature) to a CA certificate: the one bundled in the seal, or with
  --trust-tsa-ca one of yours; it reports genTime;
* the custody log's hash chain (each entry's `prev` is the SHA-256 of the line before).

What it does not check: revocation (CRL/OCSP) of TSA certificates; name constraints, policy
and key usage of CA certificates beyond their signatures; RSA-PSS signatures; that a bundled
TSA CA is the genuine CA of the named TSA unless you pass --trust-tsa-ca (compare the printed
CA fingerprint with the one the TSA publishes); that the custody log was not cut short at
its end. The Ed25519 key is vouched for only by --trust-key.

Exit status: 0 everything verified, 1 something failed (each failure is printed), 2 usage.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

SEAL_TYPE = "markwatch/run-seal"
UTC = dt.timezone.utc  # noqa: UP017 - dt.UTC needs Python 3.11; this runs on 3.9
HEX = frozenset("0123456789abcdef")

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
RSA_OIDS = {
    "1.2.840.113549.1.1.1": None,  # rsaEncryption: hash from digestAlgorithm
    "1.2.840.113549.1.1.5": "sha1",
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


# --- a tiny DER reader ------------------------------------------------------------------


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
    raw = tlv.content
    parts: list[int] = []
    value = 0
    for byte in raw:
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


# --- RFC 8785 canonical JSON (for the seal body the Ed25519 signature covers) ------------


def canonical_json(value: Any) -> bytes:
    """RFC 8785 for what seals hold (no floats): sorted keys (UTF-16 order), no spaces."""
    return _canon(value).encode("utf-8")


def _canon(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise VerifyError("seal: integer outside the I-JSON range")
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_canon(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_canon(k) + ":" + _canon(value[k]) for k in keys) + "}"
    raise VerifyError(f"seal: unexpected JSON value {type(value).__name__}")


# --- Merkle tree (RFC 9162) ----------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def tree_hash(hashes_: list[bytes]) -> bytes:
    if len(hashes_) == 1:
        return hashes_[0]
    k = _split(len(hashes_))
    return node_hash(tree_hash(hashes_[:k]), tree_hash(hashes_[k:]))


def audit_path(index: int, hashes_: list[bytes]) -> list[bytes]:
    if len(hashes_) == 1:
        return []
    k = _split(len(hashes_))
    if index < k:
        return [*audit_path(index, hashes_[:k]), tree_hash(hashes_[k:])]
    return [*audit_path(index - k, hashes_[k:]), tree_hash(hashes_[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, current = index, size - 1, leaf_hash(leaf)
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


# --- RFC 3161 tokens ------------------------------------------------------------------------


@dataclass
class Timestamp:
    """What a verified token says."""

    gen_time: dt.datetime
    serial: int
    policy: str
    tsa_subject: str
    ca_subject: str
    ca_sha256: str
    pinned: bool


def _hash_alg(oid: str) -> tuple[str, hashes.HashAlgorithm]:
    if oid not in HASH_OIDS:
        raise VerifyError(f"malformed timestamp: unsupported hash algorithm {oid}")
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
        attrs[der_oid(oid_tlv)] = der_children(values)
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
            raise VerifyError(f"bad signature: unsupported signature algorithm {sig_alg}")
    except InvalidSignature as exc:
        raise VerifyError("bad signature: the TSA signature does not verify") from exc


def _hash_by_name(name: str) -> hashes.HashAlgorithm:
    for known, factory in HASH_OIDS.values():
        if known == name:
            return factory()
    raise VerifyError(f"malformed timestamp: unsupported hash {name}")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _valid_at(cert: x509.Certificate, moment: dt.datetime) -> bool:
    if hasattr(cert, "not_valid_before_utc"):  # cryptography >= 42
        before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    else:
        before = cert.not_valid_before.replace(tzinfo=UTC)
        after = cert.not_valid_after.replace(tzinfo=UTC)
    return before <= moment <= after


def _chain(
    cert: x509.Certificate, pool: list[x509.Certificate], anchors: list[x509.Certificate]
) -> x509.Certificate:
    """The trust anchor `cert` chains to through `pool`; VerifyError if none."""
    current = cert
    for _ in range(8):
        for anchor in anchors:
            if _issued_by(current, anchor):
                return anchor
        step = next((c for c in pool if c != current and _issued_by(current, c)), None)
        if step is None:
            break
        current = step
    raise VerifyError(
        f"untrusted CA: TSA certificate {cert.subject.rfc4514_string()} (issuer "
        f"{cert.issuer.rfc4514_string()}) does not chain to a trusted CA"
    )


def verify_token(
    token_der: bytes, message: bytes, bundled_ca_pem: bytes, pinned: list[x509.Certificate] | None
) -> Timestamp:
    """Check an RFC 3161 response/token over `message`; VerifyError names the failure."""
    try:
        return _verify_token(token_der, message, bundled_ca_pem, pinned)
    except (IndexError, ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
        raise VerifyError(f"malformed timestamp: {exc!r}") from exc


def _verify_token(
    token_der: bytes, message: bytes, bundled_ca_pem: bytes, pinned: list[x509.Certificate] | None
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

    # TSTInfo: the imprint must be the hash of the Merkle root
    tst = der_children(expect(der_read(tst_der)[0], 0x30, "TSTInfo"))
    policy = der_oid(tst[1])
    imprint = der_children(tst[2])
    hash_name, algorithm = _hash_alg(der_oid(der_children(imprint[0])[0]))
    hashed = expect(imprint[1], 0x04, "hashedMessage").content
    if hashed != _digest(algorithm, message):
        raise VerifyError(
            f"digest mismatch: the token covers {hashed.hex()}, not {hash_name}(root)"
        )
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

    bundled = x509.load_pem_x509_certificates(bundled_ca_pem) if bundled_ca_pem.strip() else []
    cert = _find_signer(sid, certs + bundled)
    signed_bytes = b"\x31" + signed_attrs.encoded[1:]
    _verify_cms_signature(cert, sig_alg, digest_name, signature, signed_bytes)
    _check_ess(attrs, cert)
    _check_tsa_cert(cert, gen_time)
    anchors = pinned if pinned is not None else [c for c in bundled if c.subject == c.issuer]
    anchor = _chain(cert, certs + bundled, anchors)
    if not _valid_at(anchor, gen_time):
        raise VerifyError("untrusted CA: the CA certificate was not valid at genTime")
    return Timestamp(
        gen_time,
        serial,
        policy,
        cert.subject.rfc4514_string(),
        anchor.subject.rfc4514_string(),
        anchor.fingerprint(hashes.SHA256()).hex(),
        pinned is not None,
    )


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
    raise VerifyError("bad signature: the TSA certificate is neither in the token nor bundled")


def _issuer_der(cert: x509.Certificate) -> bytes:
    """The issuer Name exactly as encoded in the certificate."""
    tbs = der_children(der_children(der_read(cert.public_bytes(Encoding.DER))[0])[0])
    offset = 1 if tbs[0].tag == 0xA0 else 0  # explicit version
    return tbs[offset + 2].encoded


def _check_tsa_cert(cert: x509.Certificate, gen_time: dt.datetime) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise VerifyError("bad signature: TSA certificate lacks the timeStamping EKU") from exc
    if not eku.critical or x509.oid.ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        raise VerifyError("bad signature: TSA certificate lacks a critical timeStamping EKU")
    if not _valid_at(cert, gen_time):
        raise VerifyError("bad signature: TSA certificate was not valid at genTime")


# --- the bundle -------------------------------------------------------------------------


class Bundle:
    """Read files from a bundle folder or zip."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if os.path.isfile(location):
            self._zip = zipfile.ZipFile(location)
            names = self._zip.namelist()
            tops = {n.split("/", 1)[0] for n in names}
            if not any(n.startswith("manifests/") for n in names) and len(tops) == 1:
                self._prefix = tops.pop() + "/"  # zipped with an enclosing folder

    def list(self, folder: str) -> list[str]:
        if self._zip is not None:
            start = self._prefix + folder + "/"
            return sorted(
                n[len(start) :]
                for n in self._zip.namelist()
                if n.startswith(start) and not n.endswith("/") and "/" not in n[len(start) :]
            )
        path = os.path.join(self.location, folder)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def exists(self, name: str) -> bool:
        if self._zip is not None:
            return self._prefix + name in self._zip.namelist()
        return os.path.isfile(os.path.join(self.location, name))

    def open(self, name: str) -> io.BufferedIOBase:
        if self._zip is not None:
            return self._zip.open(self._prefix + name)  # type: ignore[return-value]
        return open(os.path.join(self.location, name), "rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()


@dataclass
class Verdict:
    """Everything found about one capture (or about the bundle, for `capture_id` "")."""

    capture_id: str
    proven: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _hash_file(bundle: Bundle, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with bundle.open(name) as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass
class SealCheck:
    """A run seal and what was verified about it."""

    name: str
    doc: dict[str, Any]
    leaves: dict[str, tuple[int, str]]
    ordered: list[bytes]
    root: bytes
    proven: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def check_seal(
    name: str, raw: bytes, pinned_cas: list[x509.Certificate] | None, trusted_keys: list[str]
) -> SealCheck:
    """Parse and verify one seal (tree, signature, timestamps); never raises on bad content."""
    try:
        doc = json.loads(raw)
        if doc.get("type") != SEAL_TYPE or doc.get("version") != 1:
            raise VerifyError(f"{name}: not a version 1 markwatch run seal")
        leaves_list = [(str(x["capture_id"]), str(x["manifest_sha256"])) for x in doc["leaves"]]
        root_hex = doc["tree"]["root"]
        if len(root_hex) != 64 or not set(root_hex) <= HEX:
            raise VerifyError(f"{name}: the root is not a SHA-256 hex digest")
        for _, digest in leaves_list:
            if len(digest) != 64 or not set(digest) <= HEX:
                raise VerifyError(f"{name}: a leaf is not a SHA-256 hex digest")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        empty = SealCheck(name, {}, {}, [], b"", failures=[f"{name}: malformed seal ({exc!r})"])
        return empty
    except VerifyError as exc:
        return SealCheck(name, {}, {}, [], b"", failures=[str(exc)])
    ordered = [bytes.fromhex(d) for _, d in leaves_list]
    check = SealCheck(
        name,
        doc,
        {cid: (i, d) for i, (cid, d) in enumerate(leaves_list)},
        ordered,
        bytes.fromhex(root_hex),
    )
    ids = [cid for cid, _ in leaves_list]
    if ids != sorted(set(ids)):
        check.failures.append(f"{name}: leaves are not in strict capture id order")
    if not ordered or tree_hash([leaf_hash(x) for x in ordered]) != check.root:
        check.failures.append(f"{name}: the Merkle root does not match the seal's leaves")
    if doc["tree"].get("size") != len(ordered):
        check.failures.append(f"{name}: tree size does not match the number of leaves")
    _check_seal_signature(check, trusted_keys)
    _check_seal_timestamps(check, pinned_cas)
    return check


def _check_seal_signature(check: SealCheck, trusted_keys: list[str]) -> None:
    doc, name = check.doc, check.name
    signer: Any = doc.get("signer")
    signature: Any = doc.get("signature")
    if signer is None and signature is None:
        if trusted_keys:
            check.failures.append(f"{name}: signature: not signed, but --trust-key was given")
        else:
            check.proven.append("WARNING: seal not signed")
        return
    try:
        raw_key = base64.b64decode(signer["public_key"], validate=True)
        sig = base64.b64decode(signature, validate=True)
        body = canonical_json({k: v for k, v in doc.items() if k != "signature"})
        fp = "sha256:" + hashlib.sha256(raw_key).hexdigest()
        if fp != signer.get("fingerprint"):
            check.failures.append(f"{name}: signer fingerprint does not match its public key")
        ed25519.Ed25519PublicKey.from_public_bytes(raw_key).verify(sig, body)
    except InvalidSignature:
        check.failures.append(f"{name}: signature: invalid Ed25519 signature")
        return
    except (ValueError, TypeError, KeyError) as exc:
        check.failures.append(f"{name}: signature: malformed ({exc})")
        return
    if trusted_keys and fp not in trusted_keys:
        check.failures.append(f"{name}: signature: signer {fp} is not one of --trust-key")
        return
    trust = "trusted key" if trusted_keys else "key not vouched for: pass --trust-key"
    check.proven.append(f"signed by {fp} ({trust})")


def _check_seal_timestamps(check: SealCheck, pinned_cas: list[x509.Certificate] | None) -> None:
    entries = check.doc.get("timestamps") or []
    if not entries and pinned_cas is not None:
        check.failures.append(f"{check.name}: not timestamped, but --trust-tsa-ca was given")
    elif not entries:
        check.proven.append("WARNING: seal not timestamped: the capture time is not proven")
    for i, entry in enumerate(entries):
        label = entry.get("tsa", f"#{i}") if isinstance(entry, dict) else f"#{i}"
        try:
            token = base64.b64decode(entry["response"], validate=True)
            chain = str(entry.get("ca_chain_pem") or "").encode("ascii")
            ts = verify_token(token, check.root, chain, pinned_cas)
        except (TypeError, KeyError, ValueError) as exc:
            check.failures.append(f"{check.name}: timestamp[{label}]: malformed entry ({exc})")
            continue
        except VerifyError as exc:
            check.failures.append(f"{check.name}: timestamp[{label}]: {exc}")
            continue
        source = "your --trust-tsa-ca" if ts.pinned else "CA bundled in the seal, not pinned"
        check.proven.append(
            f"timestamped by {label} at {ts.gen_time.strftime('%Y-%m-%dT%H:%M:%SZ')} "
            f"(TSA {ts.tsa_subject}, serial {ts.serial}; CA {ts.ca_subject} "
            f"sha256:{ts.ca_sha256} from {source})"
        )


def check_capture(bundle: Bundle, filename: str, seals: list[SealCheck]) -> Verdict:
    capture_id = filename[: -len(".json")]
    verdict = Verdict(capture_id)
    name = "manifests/" + filename
    raw = bundle.read(name)
    manifest_sha256 = hashlib.sha256(raw).hexdigest()
    try:
        manifest = json.loads(raw)
        artifacts = manifest.get("artifacts", [])
        if manifest.get("capture_id", capture_id) != capture_id:
            verdict.failures.append(f"manifest names capture {manifest.get('capture_id')!r}")
    except (ValueError, AttributeError) as exc:
        verdict.failures.append(f"manifest: not JSON ({exc})")
        artifacts = []
    for artifact in artifacts:
        _check_artifact(bundle, artifact, verdict)
    if artifacts:
        verdict.proven.append(f"{len(artifacts)} artifact(s) match their manifest")
    holders = [s for s in seals if capture_id in s.leaves]
    if not holders:
        verdict.failures.append("not in any seal in the bundle")
    for seal in holders:
        index, sealed = seal.leaves[capture_id]
        if sealed != manifest_sha256:
            verdict.failures.append(
                f"{seal.name}: manifest digest {manifest_sha256} differs from sealed {sealed}"
            )
            continue
        path = audit_path(index, [leaf_hash(x) for x in seal.ordered])
        if not verify_inclusion(bytes.fromhex(sealed), index, len(seal.ordered), path, seal.root):
            verdict.failures.append(f"{seal.name}: Merkle audit path does not reach the root")
            continue
        verdict.proven.append(f"manifest {manifest_sha256} included in {seal.name}")
        verdict.proven.extend(seal.proven)
        verdict.failures.extend(seal.failures)
    return verdict


def _check_artifact(bundle: Bundle, artifact: Any, verdict: Verdict) -> None:
    try:
        digest, size, label = artifact["sha256"], artifact.get("size"), artifact.get("name", "?")
    except (KeyError, TypeError, AttributeError):
        verdict.failures.append(f"manifest: malformed artifact entry {artifact!r}")
        return
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= HEX:
        verdict.failures.append(f"artifact {label}: not a SHA-256 hex digest: {digest!r}")
        return
    name = "artifacts/" + digest
    if not bundle.exists(name):
        verdict.failures.append(f"artifact {label}: {name} missing from the bundle")
        return
    actual, actual_size = _hash_file(bundle, name)
    if actual != digest:
        verdict.failures.append(f"artifact {label}: SHA-256 is {actual}, manifest says {digest}")
    elif size is not None and actual_size != size:
        verdict.failures.append(f"artifact {label}: {actual_size} bytes, manifest says {size}")


def check_custody(bundle: Bundle) -> tuple[list[str], dict[str, list[str]]]:
    """Chain problems, and each capture's events (`time event by actor`)."""
    if not bundle.exists("custody.jsonl"):
        return ["custody.jsonl missing from the bundle"], {}
    problems: list[str] = []
    events: dict[str, list[str]] = {}
    prev_hash: str | None = None
    lines = bundle.read("custody.jsonl").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, 1):
        where = f"custody.jsonl line {number}"
        try:
            entry = json.loads(line)
            seq, prev = entry["seq"], entry.get("prev")
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where}: unreadable ({exc})")
            prev_hash = None
            continue
        if seq != number - 1:
            problems.append(f"{where}: seq {seq}, expected {number - 1} (removed or reordered)")
        if number == 1 and prev is not None:
            problems.append(f"{where}: first entry has a predecessor (log cut at the start)")
        elif number > 1 and prev != prev_hash:
            problems.append(f"{where}: prev does not match line {number - 1} (changed/removed)")
        if canonical_or_none(entry) != line:
            problems.append(f"{where}: not in canonical form (rewritten)")
        prev_hash = hashlib.sha256(line).hexdigest()
        for cid in entry.get("capture_ids") or []:
            text = f"{entry.get('time')} {entry.get('event')} by {entry.get('actor')}"
            events.setdefault(cid, []).append(text)
    return problems, events


def canonical_or_none(entry: Any) -> bytes | None:
    try:
        return canonical_json(entry)
    except VerifyError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a markwatch evidence bundle.")
    parser.add_argument("bundle", nargs="?", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument(
        "--trust-tsa-ca",
        action="append",
        default=[],
        metavar="PEM",
        help="trust only these TSA CA certificates (else the bundled ones)",
    )
    parser.add_argument(
        "--trust-key",
        action="append",
        default=[],
        metavar="sha256:HEX",
        help="accept only seals signed by these key fingerprints",
    )
    args = parser.parse_args(argv)
    if not os.path.exists(args.bundle):
        print(f"verify.py: no such bundle: {args.bundle}", file=sys.stderr)
        return 2
    pinned: list[x509.Certificate] | None = None
    if args.trust_tsa_ca:
        pinned = []
        for path in args.trust_tsa_ca:
            try:
                with open(path, "rb") as fh:
                    pinned.extend(x509.load_pem_x509_certificates(fh.read()))
            except (OSError, ValueError) as exc:
                print(f"verify.py: --trust-tsa-ca {path}: {exc}", file=sys.stderr)
                return 2
    try:
        bundle = Bundle(args.bundle)
    except zipfile.BadZipFile as exc:
        print(f"verify.py: {args.bundle}: {exc}", file=sys.stderr)
        return 2
    seals = [
        check_seal("seals/" + n, bundle.read("seals/" + n), pinned, args.trust_key)
        for n in bundle.list("seals")
        if n.endswith(".json")
    ]
    manifests = [n for n in bundle.list("manifests") if n.endswith(".json")]
    custody_problems, events = check_custody(bundle)
    failed = bool(custody_problems) or not manifests
    if not manifests:
        print("FAIL bundle: no manifests/*.json")
    for filename in manifests:
        verdict = check_capture(bundle, filename, seals)
        verdict.proven.extend("custody: " + e for e in events.get(verdict.capture_id, []))
        status = "FAIL" if verdict.failures else "OK  "
        failed = failed or bool(verdict.failures)
        print(f"{status} {verdict.capture_id}")
        for line in verdict.proven:
            print(f"       {line}")
        for line in verdict.failures:
            print(f"   !!  {line}")
    for seal in seals:
        failed = failed or bool(seal.failures)
        print(f"{'FAIL' if seal.failures else 'OK  '} {seal.name}")
        for line in seal.failures:
            print(f"   !!  {line}")
    for line in custody_problems:
        print(f"FAIL {line}")
    if not custody_problems:
        print("OK   custody log: hash chain intact")
    print("VERIFIED: every capture checks out" if not failed else "NOT VERIFIED: see FAIL above")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
