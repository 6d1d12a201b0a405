"""Writing the chain and the tree: once, for every store.

A store hands `ChainTables`, its chain and tree tables as seen by one write transaction
that holds its write lock (SQLite's writer, PostgreSQL's EXCLUSIVE lock on the events
table, the memory store's lock), so the heads cannot move while they are extended.

- `record(tables, events)`, in the transaction that inserts the events: link them and,
  when the tree is complete up to the event before them, append them to the tree. The
  tree reads its right edge (at most log2(n) blocks) and writes one leaf and, on average,
  one inner block per event.
- `backfill(tables)`, the explicit `ledger chain backfill`: link a log written before
  the chain (only when no link exists at all), then extend the tree over the linked log,
  checking every event against its link before it becomes a leaf.

Nothing else writes links or leaves: verification and start-up only read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol

from ledger.integrity.chain import GENESIS, ChainEvent, canonical_bytes, chain_hashes, link_hash
from ledger.integrity.merkle import Block, Frontier, leaf_hash, range_blocks

# Events read, hashed and written per step of a backfill.
BACKFILL_WINDOW = 5000


class UnlinkedLog(Exception):
    """Events the chain does not cover are in the way (see the message)."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


class Leaf(NamedTuple):
    position: int
    index: int
    hash: bytes


class Heads(NamedTuple):
    link: tuple[int, bytes] | None  # (position, hash) of the last link below a position
    leaf: Leaf | None  # the tree's last leaf

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Heads:
        """From (link position, link, leaf position, leaf index, leaf hash), NULLs for
        what is not there (a leaf's hash only if its block was deleted)."""
        link_position, link, leaf_position, index, leaf = row
        return cls(
            (link_position, bytes(link)) if link_position is not None else None,
            Leaf(leaf_position, index, bytes(leaf or b"")) if leaf_position is not None else None,
        )


class FrontierCache:
    """The tree's right edge as this process's last write left it, so the next write
    need not read it back. It is only used for the tree it was made for, recognised by
    its size and the hash of its last leaf (which commits to that event's bytes and
    position), both read by every write anyway; and it is taken, not shared, so a
    write that fails or rolls back leaves nothing behind that a later one could use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[tuple[int, bytes | None], Frontier] | None = None

    def take(self, size: int, last_leaf: bytes | None) -> Frontier | None:
        with self._lock:
            kept, self._kept = self._kept, None
        return kept[1] if kept is not None and kept[0] == (size, last_leaf) else None

    def keep(self, frontier: Frontier, last_leaf: bytes) -> None:
        with self._lock:
            self._kept = ((frontier.size, last_leaf), frontier)


class ChainTables(Protocol):
    frontiers: FrontierCache

    def heads(self, before: int) -> Heads:
        """The last link below `before` and the tree's last leaf, in one read."""

    def last_link(self, before: int) -> tuple[int, bytes] | None:
        """The link with the greatest position below `before`, as (position, hash)."""

    def has_event_before(self, position: int) -> bool: ...

    def max_event_position(self) -> int: ...

    def events(self, after: int, upto: int) -> list[ChainEvent]:
        """Stored events with `after < position <= upto`, in position order."""

    def links(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        """Stored links with `after < position <= upto`, in position order."""

    def insert_links(self, rows: Sequence[tuple[int, bytes]]) -> None: ...

    def blocks(self, wanted: Iterable[Block]) -> dict[Block, bytes]: ...

    def insert_tree(
        self, leaves: Sequence[tuple[int, int]], nodes: Sequence[tuple[int, int, bytes]]
    ) -> None:
        """Leaves as (position, leaf index); blocks as (level, index, hash)."""


def record(tables: ChainTables, events: Sequence[ChainEvent]) -> None:
    first = events[0].position
    previous, leaf = tables.heads(first)
    if previous is None and tables.has_event_before(first):
        # A new chain must start at the log's first event, or backfill could never
        # link the events before it without rewriting the links after them.
        raise UnlinkedLog(
            first,
            "the log holds events from before the hash chain; "
            "run `ledger chain backfill` before writing",
        )
    # Each event's canonical bytes once: the link and the leaf both hash them.
    blobs = [canonical_bytes(event) for event in events]
    link = previous[1] if previous else GENESIS
    rows = []
    for event, blob in zip(events, blobs, strict=True):
        link = link_hash(link, blob)
        rows.append((event.position, link))
    tables.insert_links(rows)
    extend_tree(tables, leaf, previous[0] if previous else 0, events, blobs)


def extend_tree(
    tables: ChainTables,
    last: Leaf | None,
    previous: int,
    events: Sequence[ChainEvent],
    blobs: Sequence[bytes] | None = None,
) -> int:
    """Append `events` to the tree whose last leaf is `last` if that leaf is at
    `previous` (0: none); else the tree lags the chain (a store from before it) and
    `backfill` extends it."""
    if (last.position if last else 0) != previous:
        return 0
    size = last.index + 1 if last else 0
    frontier = tables.frontiers.take(size, last.hash if last else None)
    if frontier is None:
        edge = range_blocks(0, size)
        blocks = tables.blocks(edge)
        if len(blocks) != len(edge):
            raise UnlinkedLog(
                events[0].position,
                f"blocks of the Merkle tree's right edge are missing at size {size}; "
                "the store was tampered with (run `ledger verify`)",
            )
        frontier = Frontier(size, blocks)
    leaves, nodes = [], []
    for number, event in enumerate(events):
        leaves.append((event.position, frontier.size))
        leaf = leaf_hash(blobs[number] if blobs is not None else canonical_bytes(event))
        nodes.extend(frontier.append(leaf))
    tables.insert_tree(leaves, nodes)
    tables.frontiers.keep(frontier, leaf)
    return len(leaves)


@dataclass(frozen=True)
class Backfilled:
    linked: int
    leaves: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def backfill(
    locked: Callable[[], AbstractContextManager[ChainTables]], window: int | None = None
) -> Backfilled:
    """Link a log from before the chain, then grow the tree over the linked log.
    `locked()` opens one write transaction holding the store's write lock.

    The links are written in one transaction: a write finding an empty chain over
    stored events is refused, but one finding part of a chain would extend it. The tree
    grows one window per transaction (5,000 events, tens of milliseconds), so writers
    wait for a window, not for the whole log: while the tree lags they skip it, and the
    window that reaches the end of the log, under the lock, hands it back to them.

    Refused (UnlinkedLog) when a chain exists but events past its head have no link
    (nothing written), or when an event the tree would take does not match its link
    (the windows before it stay): both are what tampering leaves, and `ledger verify`
    names them."""
    window = window or BACKFILL_WINDOW
    with locked() as tables:
        linked = _link_log(tables, window)
    leaves = 0
    while True:
        with locked() as tables:
            grown = _grow_tree(tables, window)
        if grown is None:
            return Backfilled(linked, leaves)
        leaves += grown


def _link_log(tables: ChainTables, window: int) -> int:
    upto = tables.max_event_position()
    head = tables.last_link(upto + 1)
    if head is not None and head[0] < upto:
        unlinked = tables.events(head[0], min(upto, head[0] + window))
        raise UnlinkedLog(
            unlinked[0].position if unlinked else head[0] + 1,
            f"events after position {head[0]} have no link although the chain exists: "
            "not a store from before the chain (run `ledger verify`)",
        )
    linked = 0
    if head is None:
        previous = GENESIS
        for after in range(0, upto, window):
            events = tables.events(after, min(upto, after + window))
            if events:
                hashes = chain_hashes(previous, events)
                tables.insert_links([(e.position, h) for e, h in zip(events, hashes, strict=True)])
                previous = hashes[-1]
                linked += len(events)
    return linked


def _grow_tree(tables: ChainTables, window: int) -> int | None:
    """Add the next window of linked events to the tree: the number added, or None
    when the tree already reaches the end of the log."""
    upto = tables.max_event_position()
    last = tables.heads(upto + 1).leaf
    tail = after = last.position if last else 0
    link = tables.last_link(tail + 1) if tail else None
    previous = link[1] if link and link[0] == tail else GENESIS
    while after < upto:
        stop = min(upto, after + window)
        events = tables.events(after, stop)
        if not events:
            after = stop  # a gap in PostgreSQL's positions as wide as a window
            continue
        stored = dict(tables.links(after, stop))
        for event, expected in zip(events, chain_hashes(previous, events), strict=True):
            if stored.get(event.position) != expected:
                raise UnlinkedLog(
                    event.position,
                    f"the event at position {event.position} does not match its link; "
                    "it cannot join the tree (run `ledger verify`)",
                )
        return extend_tree(tables, last, tail, events)
    return None
