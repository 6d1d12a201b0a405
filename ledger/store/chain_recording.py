"""What the integrity service asks of a recorder (`ledger.integrity.chain.ChainRecorder`),
the same way on every store: the backfill runs in the store's write transaction under its
lock (`_locked()`), and the chain and the tree are read a page at a time, each read in a
read transaction of its own (`_tables()`); each recorder provides the two."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from ledger.integrity.append import Backfilled, ChainTables, backfill
from ledger.integrity.chain import ChainEvent
from ledger.integrity.merkle import Block

# Every version of an aggregate, as `(after, upto)`: what each recorder's
# `event_positions` and `aggregate_rows` read unless asked for fewer (a history page, an
# idempotent write's replay).
ALL_VERSIONS = (0, 2**31 - 1)


class ChainTableReads(Protocol):
    def last_link(self, before: int | None) -> tuple[int, bytes] | None: ...

    def events(self, after: int, upto: int) -> list[ChainEvent]: ...

    def links(self, after: int, upto: int) -> list[tuple[int, bytes]]: ...

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]: ...

    def last_leaf(self) -> tuple[int, int] | None: ...

    def leaf_indexes(self, positions: Iterable[int]) -> dict[int, int]: ...

    def blocks(self, wanted: Iterable[Block]) -> dict[Block, bytes]: ...


class ChainRecording:
    """Mixed into a recorder that offers `_locked()`, `_tables()` and the library's
    `max_notification_id`."""

    _locked: Callable[[], AbstractContextManager[ChainTables]]
    _tables: Callable[[], AbstractContextManager[ChainTableReads]]
    max_notification_id: Callable[[], int | None]

    def backfill_chain(self) -> Backfilled:
        return backfill(self._locked)

    def chain_head(self) -> tuple[int, bytes] | None:
        with self._tables() as tables:
            return tables.last_link(None)

    def max_event_position(self) -> int:
        return self.max_notification_id() or 0

    def chain_events(self, after: int, upto: int) -> list[ChainEvent]:
        with self._tables() as tables:
            return tables.events(after, upto)

    def chain_hashes(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        with self._tables() as tables:
            return tables.links(after, upto)

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]:
        with self._tables() as tables:
            return tables.hashes_at(positions)

    def tree_tail(self) -> tuple[int, int] | None:
        with self._tables() as tables:
            return tables.last_leaf()

    def leaf_indexes(self, positions: Iterable[int]) -> dict[int, int]:
        with self._tables() as tables:
            return tables.leaf_indexes(positions)

    def tree_blocks(self, wanted: Iterable[Block]) -> dict[Block, bytes]:
        with self._tables() as tables:
            return tables.blocks(wanted)
