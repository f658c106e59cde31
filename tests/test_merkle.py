"""RFC 9162 Merkle tree: reference vectors, every proof in trees of 1..17 leaves, tampering."""

from __future__ import annotations

import hashlib

import pytest

from crawler.seal import merkle

# Certificate Transparency reference inputs and tree heads (RFC 6962 test vectors).
CT_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PROOFS = [  # (index, tree size, audit path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
]


def ct_leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def digests(n: int) -> list[bytes]:
    return [hashlib.sha256(f"manifest {i}".encode()).digest() for i in range(n)]


def reference_root(leaves: list[bytes]) -> bytes:
    """Bottom-up construction (RFC 9162 section 2.1.1, promoted odd node): an independent check."""
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def test_empty_tree_is_hash_of_nothing() -> None:
    assert merkle.merkle_root([]) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_tree_heads(size: int) -> None:
    hashes = [ct_leaf_hash(d) for d in CT_INPUTS[:size]]
    assert merkle._root(hashes).hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), CT_PROOFS)
def test_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    hashes = [ct_leaf_hash(d) for d in CT_INPUTS[:size]]
    assert [n.hex() for n in merkle._path(index, hashes)] == path
    root = bytes.fromhex(CT_ROOTS[size - 1])
    assert merkle._verify_path(hashes[index], index, size, [bytes.fromhex(p) for p in path], root)


@pytest.mark.parametrize("size", range(1, 18))
def test_every_proof_verifies(size: int) -> None:
    leaves = digests(size)
    root = merkle.merkle_root(leaves)
    assert root == reference_root(leaves).hex()
    for index, leaf in enumerate(leaves):
        proof = merkle.inclusion_proof(leaves, index)
        assert merkle.verify_inclusion(leaf, index, size, proof, root)
        assert merkle.verify_inclusion(leaf.hex(), index, size, proof, bytes.fromhex(root))


@pytest.mark.parametrize("size", range(1, 18))
def test_tampering_is_detected(size: int) -> None:
    leaves = digests(size)
    root = merkle.merkle_root(leaves)
    other = hashlib.sha256(b"other").digest()
    for index, leaf in enumerate(leaves):
        proof = merkle.inclusion_proof(leaves, index)
        assert not merkle.verify_inclusion(other, index, size, proof, root)
        assert not merkle.verify_inclusion(leaf, index, size, proof, other)
        if size > 1:
            assert not merkle.verify_inclusion(leaf, (index + 1) % size, size, proof, root)
        for k in range(len(proof)):
            bad = list(proof)
            bad[k] = ("0" if bad[k][0] != "0" else "1") + bad[k][1:]
            assert not merkle.verify_inclusion(leaf, index, size, bad, root)
        assert not merkle.verify_inclusion(leaf, index, size, [*proof, root], root)
        if proof:
            assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], root)
            if len(set(proof)) > 1:
                assert not merkle.verify_inclusion(leaf, index, size, proof[::-1], root)


def test_order_matters() -> None:
    leaves = digests(5)
    assert merkle.merkle_root(leaves) != merkle.merkle_root(leaves[::-1])


def test_bad_input() -> None:
    leaves = digests(3)
    root = merkle.merkle_root(leaves)
    with pytest.raises(ValueError):
        merkle.merkle_root([b"short"])
    with pytest.raises(IndexError):
        merkle.inclusion_proof(leaves, 3)
    assert not merkle.verify_inclusion(leaves[0], -1, 3, [], root)
    assert not merkle.verify_inclusion(leaves[0], 0, 3, ["zz"], root)
    assert not merkle.verify_inclusion(b"short", 0, 1, [], root)
    assert merkle.verify_inclusion(leaves[0], 0, 1, [], merkle.merkle_root(leaves[:1]))
