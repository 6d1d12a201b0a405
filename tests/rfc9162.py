"""An auditor's own Merkle verifier, written from RFC 9162 (section 2.1) and
docs/INTEGRITY.md alone: the tests check the ledger's proofs with it, never with the
ledger's code."""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_input(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """docs/INTEGRITY.md's canonical bytes of a stored event."""
    encoded = topic.encode("utf-8")
    return (
        struct.pack(">Q", position)
        + originator_id.bytes
        + struct.pack(">Q", version)
        + struct.pack(">I", len(encoded))
        + encoded
        + struct.pack(">I", len(state))
        + state
    )


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 over leaf *hashes*, by its recursive definition."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while not (fn % 2 == 1 or fn == 0):
                    fn //= 2
                    sn //= 2
        else:
            r = node(r, p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2."""
    if first == second:
        return path == [] and first_hash == second_hash
    if not 0 < first < second or not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if fn % 2 == 0:
                while not (fn % 2 == 1 or fn == 0):
                    fn //= 2
                    sn //= 2
        else:
            sr = node(sr, c)
        fn //= 2
        sn //= 2
    return sn == 0 and fr == first_hash and sr == second_hash
