"""Ed25519 signing keys for run seals: create, load, fingerprint, verify.

A key file is an unencrypted PKCS#8 PEM readable by its owner only (mode 0600); `load_signer`
refuses a file anyone else may read. A public key is identified by its fingerprint
`sha256:<hex of SHA-256 over the 32 raw public key bytes>`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crawler.exceptions import SealError

__all__ = ["Signer", "fingerprint", "init_key", "load_signer", "verify_signature"]

KEY_MODE = 0o600


def fingerprint(public_key_raw: bytes) -> str:
    """`sha256:<hex>` of a raw 32-byte Ed25519 public key."""
    return "sha256:" + hashlib.sha256(public_key_raw).hexdigest()


class Signer:
    """An Ed25519 private key that signs seal bodies."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key_raw: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        """The 32 raw public key bytes."""

    @property
    def public_key_b64(self) -> str:
        """The raw public key, standard base64."""
        return base64.b64encode(self.public_key_raw).decode("ascii")

    @property
    def fingerprint(self) -> str:
        """`sha256:<hex>` of the raw public key."""
        return fingerprint(self.public_key_raw)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `data`."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"Signer({self.fingerprint})"


def init_key(path: Path | str, overwrite: bool = False) -> Signer:
    """Create a new Ed25519 key at `path` (mode 0600); SealError if one is there already."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SealError(f"signing key {path} already exists; refusing to overwrite it")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.chmod(tmp, KEY_MODE)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if someone created `path` meanwhile
    except FileExistsError as exc:
        raise SealError(f"signing key {path} already exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise SealError(f"cannot write signing key {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return Signer(key)


def load_signer(path: Path | str) -> Signer:
    """Load the Ed25519 key at `path`; SealError if unreadable, too open, or not Ed25519."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise SealError(f"cannot read signing key {path}: {exc.strerror or exc}") from exc
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealError(
            f"signing key {path} has permissions {stat.S_IMODE(mode):04o}; "
            f"others may read it: run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SealError(f"signing key {path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SealError(f"signing key {path} is {type(key).__name__}, not an Ed25519 key")
    return Signer(key)


def verify_signature(public_key_raw: bytes, signature: bytes, data: bytes) -> bool:
    """Whether `signature` is a valid Ed25519 signature of `data` by `public_key_raw`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
