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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.integrity.chain import GENESIS, ChainEvent, canonical_bytes, chain_hashes
from ledger.integrity.merkle import Block, Frontier, leaf_hash, range_blocks

# Events read, hashed and written per step of a backfill.
BACKFILL_WINDOW = 5000


class UnlinkedLog(Exception):
    """Events the chain does not cover are in the way (see the message)."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


class ChainTables(Protocol):
    def last_link(self, before: int) -> tuple[int, bytes] | None:
        """The link with the greatest position below `before`, as (position, hash)."""

    def has_event_before(self, position: int) -> bool: ...

    def max_event_position(self) -> int: ...

    def events(self, after: int, upto: int) -> list[ChainEvent]:
        """Stored events with `after < position <= upto`, in position order."""

    def links(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        """Stored links with `after < position <= upto`, in position order."""

    def insert_links(self, rows: Sequence[tuple[int, bytes]]) -> None: ...

    def last_leaf(self) -> tuple[int, int] | None:
        """The tree's last leaf as (position, leaf index); None for an empty tree."""

    def blocks(self, wanted: Iterable[Block]) -> dict[Block, bytes]: ...

    def insert_tree(
        self, leaves: Sequence[tuple[int, int]], nodes: Sequence[tuple[int, int, bytes]]
    ) -> None:
        """Leaves as (position, leaf index); blocks as (level, index, hash)."""


def record(tables: ChainTables, events: Sequence[ChainEvent]) -> None:
    first = events[0].position
    previous = tables.last_link(first)
    if previous is None and tables.has_event_before(first):
        # A new chain must start at the log's first event, or backfill could never
        # link the events before it without rewriting the links after them.
        raise UnlinkedLog(
            first,
            "the log holds events from before the hash chain; "
            "run `ledger chain backfill` before writing",
        )
    hashes = chain_hashes(previous[1] if previous else GENESIS, events)
    tables.insert_links([(e.position, h) for e, h in zip(events, hashes, strict=True)])
    extend_tree(tables, previous[0] if previous else 0, events)


def extend_tree(tables: ChainTables, previous: int, events: Sequence[ChainEvent]) -> int:
    """Append `events` to the tree if its last leaf is at `previous` (0: none); else
    the tree lags the chain (a store from before it) and `backfill` extends it."""
    last = tables.last_leaf()
    if (last[0] if last else 0) != previous:
        return 0
    size = last[1] + 1 if last else 0
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
    for event in events:
        leaves.append((event.position, frontier.size))
        nodes.extend(frontier.append(leaf_hash(canonical_bytes(event))))
    tables.insert_tree(leaves, nodes)
    return len(leaves)


@dataclass(frozen=True)
class Backfilled:
    linked: int
    leaves: int

    def as_dict(self) -> dict[str, int]:
        return {"linked": self.linked, "leaves": self.leaves}


def backfill(tables: ChainTables, window: int = BACKFILL_WINDOW) -> Backfilled:
    """Link a log from before the chain, then grow the tree over the linked log.

    Refused (UnlinkedLog, nothing written) when a chain exists but events past its head
    have no link, or when an event the tree would take does not match its link: both
    are what tampering leaves, and `ledger verify` names them."""
    upto = tables.max_event_position()
    head = tables.last_link(upto + 1)
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
    elif head[0] < upto:
        unlinked = tables.events(head[0], min(upto, head[0] + window))
        raise UnlinkedLog(
            unlinked[0].position if unlinked else head[0] + 1,
            f"events after position {head[0]} have no link although the chain exists: "
            "not a store from before the chain (run `ledger verify`)",
        )
    return Backfilled(linked, _grow_tree(tables, upto, window))


def _grow_tree(tables: ChainTables, upto: int, window: int) -> int:
    last = tables.last_leaf()
    tail = after = last[0] if last else 0
    link = tables.last_link(tail + 1) if tail else None
    previous = link[1] if link and link[0] == tail else GENESIS
    grown = 0
    while after < upto:
        stop = min(upto, after + window)
        events = tables.events(after, stop)
        stored = dict(tables.links(after, stop))
        for event, expected in zip(events, chain_hashes(previous, events), strict=True):
            if stored.get(event.position) != expected:
                raise UnlinkedLog(
                    event.position,
                    f"the event at position {event.position} does not match its link; "
                    "it cannot join the tree (run `ledger verify`)",
                )
        if events:
            grown += extend_tree(tables, tail, events)
            tail, previous = events[-1].position, stored[events[-1].position]
        after = stop
    return grown
