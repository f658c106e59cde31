"""A certificate authority made for one crawl run, so the recording proxy can read HTTPS.

The CA key lives only in memory and in a private temporary folder for the run's lifetime;
every host certificate is signed by it and shares one leaf key (minting a certificate then
costs one signature, not a key generation). Nothing here is ever trusted outside the browser
contexts the run itself creates.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_PEM = serialization.Encoding.PEM
_PKCS8 = serialization.PrivateFormat.PKCS8
_NOENC = serialization.NoEncryption()


class RecordingCA:
    """A per-run CA that mints a TLS server context per host name."""

    def __init__(self, folder: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="markwatch-ca-") if folder is None else None
        self.folder: Path = Path(self._tmp.name) if self._tmp else Path(str(folder))
        self.folder.chmod(0o700)
        now = dt.datetime.now(dt.UTC)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, "markwatch recording proxy (per-run CA)"),
        ])
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(self._ca_key, hashes.SHA256())
        )
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._key_path = self.folder / "leaf.key"
        self._key_path.write_bytes(self._leaf_key.private_bytes(_PEM, _PKCS8, _NOENC))
        self._key_path.chmod(0o600)
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.ca_cert.public_bytes(_PEM)

    @property
    def leaf_spki_sha256(self) -> str:
        """Base64 SHA-256 of the leaf key, as `--ignore-certificate-errors-spki-list` wants."""
        spki = self._leaf_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting a certificate for `host` (DNS name or IP)."""
        host = host.strip("[]").lower()
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._mint(host)
                self._contexts[host] = context
            return context

    def _mint(self, host: str) -> ssl.SSLContext:
        now = dt.datetime.now(dt.UTC)
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self.ca_cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self._ca_key, hashes.SHA256())
        )
        digest = hashlib.sha256(host.encode("utf-8")).hexdigest()[:24]
        chain = self.folder / f"{digest}.pem"
        chain.write_bytes(cert.public_bytes(_PEM) + self.ca_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, self._key_path)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def close(self) -> None:
        """Delete the key material from disk."""
        if self._tmp is not None:
            self._tmp.cleanup()
