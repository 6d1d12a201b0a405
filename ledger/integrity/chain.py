"""The hash chain over the global log: canonical bytes, the chain step, and the check.

Canonical bytes of a stored event at global position `p` (all integers unsigned,
big-endian; lengths count bytes):

    p                       8 bytes
    originator_id           16 bytes (the UUID's raw bytes)
    originator_version      8 bytes
    len(topic)              4 bytes, then topic encoded UTF-8
    len(state)              4 bytes, then state: the bytes the library stored

    hash(p) = SHA-256(hash(previous position) || canonical bytes(p))

The previous position is the greatest position below `p` in the log; before the first
event it is 32 zero bytes (`GENESIS`). Positions need not be contiguous (PostgreSQL's
sequence can skip a value when a transaction rolls back), which is why the position is
hashed: renumbering an event changes its hash. The state is hashed as stored (after
the library's compression or encryption, if any), so a change to the bytes in the
database is caught without decoding anything.

This module knows no database: stores feed it rows, a bundle feeds it lines.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol, TypeVar
from uuid import UUID

from ledger.integrity.merkle import Frontier, leaf_hash

GENESIS = bytes(32)

Row = TypeVar("Row", bound=tuple[Any, ...])

# position, originator_id, version, len(topic): the fixed-size head of canonical bytes.
_HEAD = struct.Struct(">Q16sQI")
_LENGTH = struct.Struct(">I")


class ChainEvent(NamedTuple):
    """A stored event as the chain sees it. `originator_id` is the UUID's 16 raw bytes."""

    position: int
    originator_id: bytes
    version: int
    topic: str
    state: bytes


def uuid_bytes(originator_id: UUID | str) -> bytes:
    return originator_id.bytes if isinstance(originator_id, UUID) else UUID(originator_id).bytes


def chain_event(position: int, stored: Any) -> ChainEvent:
    """A store's `StoredEvent` at `position`, as the chain sees it."""
    return ChainEvent(
        position,
        uuid_bytes(stored.originator_id),
        stored.originator_version,
        stored.topic,
        stored.state,
    )


class ChainRecorder(Protocol):
    """What a recorder offers the integrity service. Reads take a window of positions,
    which the caller keeps small: positions are unique, so a window of `n` positions
    holds at most `n` rows however many gaps the log has."""

    def chain_head(self) -> tuple[int, bytes] | None:
        """The greatest hashed position and its hash; None before the first event."""

    def max_event_position(self) -> int:
        """The greatest position in the events table (0 when empty)."""

    def chain_events(self, after: int, upto: int) -> list[ChainEvent]:
        """Stored events with `after < position <= upto`, in position order."""

    def chain_hashes(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        """Stored hashes with `after < position <= upto`, in position order."""

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]:
        """The stored hash of each of these positions that has one."""

    def tree_tail(self) -> tuple[int, int] | None:
        """The Merkle tree's last leaf as (position, leaf index); None when empty."""

    def leaf_indexes(self, positions: Iterable[int]) -> dict[int, int]:
        """The leaf index of each of these positions that is in the tree."""

    def tree_blocks(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hash of each wanted complete block (level, index) of the tree."""

    def backfill_chain(self) -> Any:
        """`ledger.integrity.append.backfill` in one write transaction under the lock."""


def canonical_bytes(event: ChainEvent) -> bytes:
    if len(event.originator_id) != 16:
        raise ValueError("originator_id must be a UUID's 16 raw bytes")
    topic = event.topic.encode("utf-8")
    state = event.state
    head = _HEAD.pack(event.position, event.originator_id, event.version, len(topic))
    return b"".join((head, topic, _LENGTH.pack(len(state)), state))


def link_hash(previous: bytes, canonical: bytes) -> bytes:
    """The link after `previous` of the event whose canonical bytes are `canonical`."""
    return hashlib.sha256(previous + canonical).digest()


def next_hash(previous: bytes, event: ChainEvent) -> bytes:
    return link_hash(previous, canonical_bytes(event))


def chain_hashes(previous: bytes, events: Iterable[ChainEvent]) -> list[bytes]:
    """The hashes of events that follow `previous` in the chain, in order."""
    hashes = []
    for event in events:
        previous = next_hash(previous, event)
        hashes.append(previous)
    return hashes


@dataclass(frozen=True)
class Digest:
    """A commitment to the whole log up to `position`; `hash` is lowercase hex. The tree
    head (`tree_size` leaves, `root_hash`) commits to the same log as a Merkle tree;
    a digest kept from before the tree has none."""

    position: int
    hash: str
    recorded_at: str | None = None
    tree_size: int | None = None
    root_hash: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Digest:
        position = data.get("position")
        if not _natural(position):
            raise ValueError("digest position must be a non-negative integer")
        digest_hash = _hex32(data.get("hash"), "digest hash")
        recorded_at = data.get("recorded_at")
        tree_size, root = data.get("tree_size"), data.get("root_hash")
        if tree_size is not None and not _natural(tree_size):
            raise ValueError("digest tree_size must be a non-negative integer")
        if root is not None:
            root = _hex32(root, "digest root_hash")
        return cls(
            position,  # type: ignore[arg-type]
            digest_hash,
            recorded_at if isinstance(recorded_at, str) else None,
            tree_size,  # type: ignore[arg-type]
            root,
        )


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hex32(value: object, name: str) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"{name} must be 64 hex digits")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{name} must be 64 hex digits") from None
    return value.lower()


@dataclass(frozen=True)
class Verification:
    """`checked` counts the events that hashed correctly before the first mismatch."""

    ok: bool
    checked: int
    first_mismatch: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ChainEntry(NamedTuple):
    """One position of the log: its event (None if missing) and its recorded hash
    (None if none was recorded)."""

    position: int
    event: ChainEvent | None
    recorded: bytes | None


def merge_by_position(
    events: Iterator[ChainEvent], hashes: Iterator[tuple[int, bytes]]
) -> Iterator[ChainEntry]:
    """Join two position-ordered streams, yielding every position either one holds."""
    event = next(events, None)
    recorded = next(hashes, None)
    while event is not None or recorded is not None:
        if recorded is None or (event is not None and event.position < recorded[0]):
            assert event is not None
            yield ChainEntry(event.position, event, None)
            event = next(events, None)
        elif event is None or recorded[0] < event.position:
            yield ChainEntry(recorded[0], None, recorded[1])
            recorded = next(hashes, None)
        else:
            yield ChainEntry(event.position, event, recorded[1])
            event = next(events, None)
            recorded = next(hashes, None)


def check_chain(entries: Iterable[ChainEntry], digest: Digest | None = None) -> Verification:
    """Recompute the chain over `entries` and compare it with the recorded hashes and,
    if given, the digest (whose position bounds the entries the caller passes).

    The first mismatch is the first position whose event is missing, carries no
    recorded hash, or no longer hashes to its recorded hash. A log that verifies
    against its own hashes but not against the digest was rewritten together with its
    hashes; the mismatch is then placed at the digest's position, the only evidence.
    A log that ends before the digest's position mismatches just after its last event.
    Positions must increase; a bundle may not run past its digest.
    """
    previous = GENESIS
    checked = 0
    last = 0
    for position, event, recorded in entries:
        beyond_digest = digest is not None and position > digest.position
        if event is None or recorded is None or position <= last or beyond_digest:
            return Verification(False, checked, position)
        previous = next_hash(previous, event)
        if previous != recorded:
            return Verification(False, checked, position)
        checked += 1
        last = position
    if digest is None:
        return Verification(True, checked, None)
    if last < digest.position:
        return Verification(False, checked, last + 1)
    if previous.hex() != digest.hash:
        return Verification(False, checked, digest.position)
    return Verification(True, checked, None)


def check_log(entries: Iterable[ChainEntry], digest: Digest | None = None) -> Verification:
    """`check_chain`, and, when the digest carries a tree head, the Merkle tree
    recomputed from the same events (its first `tree_size`) against its root. A log
    whose chain holds but whose tree does not is not the one the digest was cut from:
    the mismatch is placed at the digest's position, as for its chain hash."""
    if digest is None or digest.tree_size is None or digest.root_hash is None:
        return check_chain(entries, digest)
    size = digest.tree_size
    frontier = Frontier(0, {})

    def leaves() -> Iterator[ChainEntry]:
        for entry in entries:
            if entry.event is not None and frontier.size < size:
                frontier.append(leaf_hash(canonical_bytes(entry.event)))
            yield entry

    result = check_chain(leaves(), digest)
    if result.ok and (frontier.size, frontier.root().hex()) != (size, digest.root_hash):
        return Verification(False, result.checked, digest.position)
    return result


def windowed(fetch: Callable[[int, int], Sequence[Row]], upto: int, window: int) -> Iterator[Row]:
    """Stream rows with `0 < position <= upto`, reading `window` positions at a time, so
    memory holds one window whatever the length of the log (and each query's cost is
    that of its window, whatever the planner knows about the table)."""
    after = 0
    while after < upto:
        stop = min(upto, after + window)
        yield from fetch(after, stop)
        after = stop


def stream_entries(recorder: ChainRecorder, upto: int, page_size: int) -> Iterator[ChainEntry]:
    """Every position up to `upto`, with its stored event and stored hash."""
    return merge_by_position(
        windowed(recorder.chain_events, upto, page_size),
        windowed(recorder.chain_hashes, upto, page_size),
    )
