"""The Merkle tree over the log (RFC 9162, Certificate Transparency v2, section 2.1).

Leaf `i` is the `i`-th event of the log in position order (PostgreSQL positions may skip
values; leaf indexes do not). Its leaf input is the event's canonical bytes
(`ledger.integrity.chain.canonical_bytes`), which hold its position, so a leaf proves
which event sits where without the chain link before it:

    leaf hash = SHA-256(0x00 || canonical bytes)
    node hash = SHA-256(0x01 || left || right)

The tree of `n` leaves is RFC 9162's MTH(D[n]): split at the largest power of two
below `n`. Every subtree it is built from is a *block*: `2**level` leaves starting at leaf
`index * 2**level`. A store keeps the hash of every complete block, written in the
transaction that appends its last leaf (one leaf and, on average, one inner node per
event), so the hash of any range MTH asks for comes from at most log2(n) stored blocks,
and a proof from at most 2 * log2(n).

This module knows no database: a store hands it blocks (`Blocks`, a dict from
`(level, index)` to hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

Block = tuple[int, int]  # (level, index): leaves index * 2**level .. (index + 1) * 2**level - 1
Blocks = Mapping[Block, bytes]


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) in RFC 9162


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def range_blocks(start: int, end: int) -> list[Block]:
    """The complete blocks MTH(D[start:end]) is made of, left to right. `start` is
    aligned as RFC 9162's recursion leaves it (a multiple of a power of two at least
    `end - start`), so they are the binary digits of the size, largest first."""
    blocks = []
    while start < end:
        level = (end - start).bit_length() - 1
        blocks.append((level, start >> level))
        start += 1 << level
    return blocks


def fold(hashes: list[bytes]) -> bytes:
    """MTH of a range from its blocks' hashes (left to right): the right-hand ones
    join first, as the tree splits at the largest power of two."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def range_hash(blocks: Blocks, start: int, end: int) -> bytes:
    return fold([blocks[block] for block in range_blocks(start, end)])


def root_hash(blocks: Blocks, size: int) -> bytes:
    return range_hash(blocks, 0, size) if size else EMPTY_ROOT


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make PATH(index, D[size]), leaf to root (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    ranges = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make PROOF(first, D[second]) (RFC 9162 2.1.4.1), in order."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, second, True
    m = first
    # SUBPROOF(m, D[start:end], whole), unrolled: each step appends the sibling range.
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def needed_blocks(ranges: Iterable[tuple[int, int]]) -> set[Block]:
    return {block for start, end in ranges for block in range_blocks(start, end)}


@dataclass(frozen=True)
class InclusionProof:
    position: int
    leaf_index: int
    tree_size: int
    root_hash: str
    leaf_hash: str
    audit_path: list[str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)  # a copy: the audit path is a new list


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Frontier:
    """The right edge of a tree: the hashes of `range_blocks(0, size)`, from which
    appending a leaf makes its block and every block it completes. What a writer reads
    before appending (at most log2(n) rows) and what it writes after."""

    def __init__(self, size: int, blocks: Blocks) -> None:
        self.size = size
        self._edge = {block: blocks[block] for block in range_blocks(0, size)}

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; the new complete blocks as (level, index, hash) rows."""
        level, index, current = 0, self.size, leaf
        made = [(0, index, leaf)]
        while index & 1:
            current = node_hash(self._edge.pop((level, index - 1)), current)
            level, index = level + 1, index >> 1
            made.append((level, index, current))
        self._edge[(level, index)] = current
        self.size += 1
        return made

    def root(self) -> bytes:
        return root_hash(self._edge, self.size)


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2: the root an inclusion proof leads to, or None when the path
    cannot belong to leaf `index` of a tree of `size` (wrong length, index past size)."""
    if not 0 <= index < size:
        return None
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return result if sn == 0 else None
