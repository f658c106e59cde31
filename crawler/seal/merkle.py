"""RFC 9162 (RFC 6962) Merkle tree over 32-byte manifest digests: root, inclusion proofs.

Leaf hash is `SHA-256(0x00 || leaf)`, interior node `SHA-256(0x01 || left || right)`, and a
tree of `n > 1` leaves splits at the largest power of two below `n` (RFC 9162 section 2.1.1).
Leaves and proof elements may be given as raw bytes or lower-case hex; results are hex. The
hashing itself is `crawler.seal.standalone_verify` (the bundles' verify.py): one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

from crawler.seal import standalone_verify as sv

__all__ = ["inclusion_proof", "leaf_hash", "merkle_root", "node_hash", "verify_inclusion"]

DIGEST_SIZE = 32


def _as_bytes(value: bytes | str, what: str) -> bytes:
    """A 32-byte digest from bytes or hex; ValueError otherwise."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError as exc:
            raise ValueError(f"{what} is not hex: {value!r}") from exc
    if len(value) != DIGEST_SIZE:
        raise ValueError(f"{what} must be {DIGEST_SIZE} bytes, got {len(value)}")
    return value


def leaf_hash(leaf: bytes | str) -> bytes:
    """`SHA-256(0x00 || leaf)`."""
    return sv.leaf_hash(_as_bytes(leaf, "leaf"))


node_hash = sv.node_hash
_root = sv.tree_hash
_path = sv.audit_path
_verify_path = sv.verify_path


def merkle_root(leaves: Sequence[bytes | str]) -> str:
    """Hex Merkle tree hash of the leaves, in the given order (`SHA-256("")` for none)."""
    return sv.merkle_root([_as_bytes(leaf, "leaf") for leaf in leaves]).hex()


def inclusion_proof(leaves: Sequence[bytes | str], index: int) -> list[str]:
    """The audit path of leaf `index` (RFC 9162 section 2.1.3.1), as hex node hashes."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} outside a tree of {len(leaves)}")
    return [node.hex() for node in _path(index, [leaf_hash(leaf) for leaf in leaves])]


def verify_inclusion(
    leaf: bytes | str,
    index: int,
    tree_size: int,
    proof: Sequence[bytes | str],
    root: bytes | str,
) -> bool:
    """Whether `proof` shows `leaf` at `index` in the tree of `tree_size` with `root`.

    RFC 9162 section 2.1.3.2. Malformed input (wrong lengths, bad hex) is simply False.
    """
    try:
        expected = _as_bytes(root, "root")
        path = [_as_bytes(node, "proof element") for node in proof]
        current = leaf_hash(leaf)
    except ValueError:
        return False
    return _verify_path(current, index, tree_size, path, expected)
