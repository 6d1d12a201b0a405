"""In memory (the library's POPO store), for unit tests, with the hash chain and tree."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, DatabaseError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from ledger.integrity.append import (
    FrontierCache,
    Heads,
    Leaf,
    UnlinkedLog,
    record,
)
from ledger.integrity.chain import ChainEvent, chain_event
from ledger.integrity.merkle import Block
from ledger.store.aggregate_rows import StoredRow
from ledger.store.chain_recording import ALL_VERSIONS, ChainRecording
from ledger.store.recorded_order import STAMP_BYTES, check, shown_by


class LedgerPOPOApplicationRecorder(ChainRecording, POPOApplicationRecorder):
    def __init__(self) -> None:
        super().__init__()
        # Position i + 1 is _stored_events[i]; links, leaves and blocks by position.
        self._links: dict[int, bytes] = {}
        self._leaves: dict[int, int] = {}
        self._blocks: dict[Block, bytes] = {}
        self.frontiers = FrontierCache()
        self._recorded_last: int | None = None

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        last = check(self._recorded_last, stored_events)  # under the store's lock
        ids = super()._update_table(stored_events, **kwargs) or []
        if last is not None:
            self._recorded_last = last
        if ids:
            try:
                events = [chain_event(p, s) for p, s in zip(ids, stored_events, strict=True)]
                record(MemoryChainTables(self), events)
            except UnlinkedLog as error:
                raise DatabaseError(str(error)) from None
        return ids

    @contextmanager
    def _locked(self) -> Iterator[MemoryChainTables]:
        with self._database_lock:
            yield MemoryChainTables(self)

    # Reads take the same lock as writes: the memory store has no transactions.
    _tables = _locked

    def registered(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Those of the aggregates that have a first event in the store."""
        with self._database_lock:
            index = self._stored_events_index
            return {i for i in originator_ids if 1 in index.get(str(i), {})}

    def originators_after(self, after: int, limit: int) -> list[tuple[int, UUID]]:
        """The position and aggregate of the first `limit` events after `after`."""
        with self._database_lock:
            events = self._stored_events[after : after + limit]
            return [(after + n + 1, e.originator_id) for n, e in enumerate(events)]

    def event_positions(
        self, originator_id: UUID, versions: tuple[int, int] = ALL_VERSIONS
    ) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version (those after
        `versions[0]` up to `versions[1]`)."""
        after, upto = versions
        with self._database_lock:
            index = self._stored_events_index[str(originator_id)]
            return {v: offset + 1 for v, offset in index.items() if after < v <= upto}

    def aggregate_rows(
        self, originator_id: UUID, versions: tuple[int, int] = ALL_VERSIONS, limit: int = -1
    ) -> list[StoredRow]:
        """As `ledger.store.aggregate_rows` says: the events after version `versions[0]`
        up to `versions[1]`, the first `limit` of them (every one if negative)."""
        after, upto = versions
        with self._database_lock:
            index = self._stored_events_index.get(str(originator_id), {})
            rows = []
            for version in sorted(v for v in index if after < v <= upto):
                stored = self._stored_events[index[version]]
                rows.append((version, stored.topic, stored.state, index[version] + 1))
            return rows if limit < 0 else rows[:limit]

    def heads_not_shown_by(
        self, originator_id: UUID, bound: bytes, versions: tuple[int, int], limit: int
    ) -> list[tuple[int, bytes]]:
        """The first `limit` events of one aggregate (after version `versions[0]`, up to
        `versions[1]`) whose state's head does not show them recorded by `bound`
        (`recorded_order.shown_by`), in version order: each version and head."""
        after, upto = versions
        with self._database_lock:
            index = self._stored_events_index[str(originator_id)]
            heads = (
                (v, self._stored_events[index[v]].state[:STAMP_BYTES])
                for v in sorted(index)
                if after < v <= upto
            )
            return list(islice(((v, h) for v, h in heads if not shown_by(h, bound)), limit))


class MemoryChainTables:
    """The chain and tree of the memory store (`ChainTables`), under its lock."""

    def __init__(self, recorder: LedgerPOPOApplicationRecorder) -> None:
        self.recorder = recorder
        self._links = recorder._links
        self._leaves = recorder._leaves
        self._blocks = recorder._blocks
        self.frontiers = recorder.frontiers

    def heads(self, before: int) -> Heads:
        last = self.last_leaf()
        leaf = Leaf(*last, self._blocks.get((0, last[1]), b"")) if last else None
        return Heads(self.last_link(before), leaf)

    def last_link(self, before: int | None) -> tuple[int, bytes] | None:
        # Links are added in position order, so the last ones are at the dict's end.
        for position in reversed(self._links):
            if before is None or position < before:
                return position, self._links[position]
        return None

    def has_event_before(self, position: int) -> bool:
        return 1 < position <= len(self.recorder._stored_events) + 1

    def max_event_position(self) -> int:
        return len(self.recorder._stored_events)

    def events(self, after: int, upto: int) -> list[ChainEvent]:
        stored = self.recorder._stored_events
        stop = min(upto, len(stored))
        return [chain_event(i + 1, stored[i]) for i in range(max(after, 0), stop)]

    def links(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        return sorted((p, h) for p, h in self._links.items() if after < p <= upto)

    def insert_links(self, rows: Sequence[tuple[int, bytes]]) -> None:
        self._links.update(rows)

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]:
        return {p: self._links[p] for p in positions if p in self._links}

    def leaf_indexes(self, positions: Iterable[int]) -> dict[int, int]:
        return {p: self._leaves[p] for p in positions if p in self._leaves}

    def last_leaf(self) -> tuple[int, int] | None:
        last = next(reversed(self._leaves), None)
        return (last, self._leaves[last]) if last is not None else None

    def blocks(self, wanted: Iterable[Block]) -> dict[Block, bytes]:
        return {block: self._blocks[block] for block in wanted if block in self._blocks}

    def insert_tree(
        self, leaves: Sequence[tuple[int, int]], nodes: Sequence[tuple[int, int, bytes]]
    ) -> None:
        self._leaves.update(leaves)
        self._blocks.update(((level, index), block) for level, index, block in nodes)


class LedgerPOPOFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return LedgerPOPOApplicationRecorder()
