"""The bulk path: client writes gathered in memory, then written many aggregates per
transaction (`ledger import`, `ledger demo`)."""

from __future__ import annotations

import gc
import itertools
import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from ledger.application.batch_keys import batch_mapper
from ledger.application.persistence import RESTAMPS, restamped
from ledger.application.results import event_type
from ledger.domain import Client
from ledger.domain.prospect import Prospect
from ledger.store.recorded_order import RecordedOutOfOrder

if TYPE_CHECKING:
    from ledger.application.writes import LedgerBase


@dataclass(frozen=True)
class _Unplaced:
    """A batched event's place in the log, unknown until the batch is written."""

    id: int = 0


# What a batch gathers: the aggregates a bulk load makes by the hundred thousand (a demo's
# prospects, one command at a time, were a third of its time). Anything else is saved.
GATHERED = frozenset({Client, Prospect})


@dataclass(frozen=True)
class _Batched:
    domain_event: Any
    notification: _Unplaced = _Unplaced()


class Batch:
    """Client (and prospect) writes gathered in memory, then written many aggregates per
    transaction (`ledger import`, `ledger demo`): the use cases run unchanged, with every
    rule, but a save of clients and prospects only gathers them, and a load of a gathered
    one answers it.

    `gather()` maps the gathered events to stored events and lets the aggregates go (one
    loaded after that is read from the store, so gather between clients);
    `write()` inserts what was gathered, `chunk` events per transaction, each extending
    the hash chain and the Merkle tree as any write does. Answers carry position 0."""

    def __init__(self, ledger: LedgerBase, chunk: int) -> None:
        self.ledger = ledger
        self.chunk = chunk
        self.pending: dict[UUID, Aggregate] = {}
        self._answered: dict[UUID, int] = {}
        self.stored: list[StoredEvent] = []
        self.types: list[str] = []
        self.gathered: set[UUID] = set()
        self.fresh: list[tuple[UUID, Sequence[Any]]] = []  # `add_new`, to map at `gather`
        self.left_out: set[UUID] = set()  # gathered, then found written by another writer
        # Units and staff as first read in this batch: a bulk load reads the same few
        # hundred thousands of times, and a fast-forward query for each was half its time.
        self.organisation: dict[UUID, Aggregate] = {}
        self.written = 0
        self.events_gathered = 0
        self._start = 0  # stored[:_start] are written
        # Its clients' events sealed with keys of its own, written by `write` (batch_keys).
        self.mapper, self.keys = batch_mapper(ledger.mapper)

    def add(self, aggregates: Sequence[Aggregate]) -> list[_Batched]:
        recordings = []
        for aggregate in aggregates:
            self.pending[aggregate.id] = aggregate
            events = aggregate.pending_events
            recordings += [_Batched(e) for e in events[self._answered.get(aggregate.id, 0) :]]
            self._answered[aggregate.id] = len(events)
        return recordings

    def add_new(self, aggregate_id: UUID, events: Sequence[Any]) -> None:
        """A new aggregate's events, recorded without the aggregate (`ClientIntake`):
        gathered as they are, and found by `check_exists` as a gathered one is."""
        self.gathered.add(aggregate_id)
        self.fresh.append((aggregate_id, events))

    def drop(self, aggregate_id: UUID) -> None:
        """Forget a gathered client (its row was refused)."""
        self.pending.pop(aggregate_id, None)
        self._answered.pop(aggregate_id, None)

    def gather(self) -> None:
        self.map(self.collect())

    def collect(self) -> list[Any]:
        """The events gathered since the last `collect`, in the order they were recorded;
        the aggregates let go."""
        self.gathered.update(self.pending)
        events = [e for aggregate in self.pending.values() for e in aggregate.collect_events()]
        events += [e for _, new in self.fresh for e in new]
        self.pending.clear()
        self._answered.clear()
        self.fresh.clear()
        return in_recorded_order(events)

    def map(self, events: Sequence[Any]) -> None:
        """The events as stored events, sealed with this batch's keys."""
        # Their subject keys read in a few queries, not one each (8% of a demo's CPU).
        self.keys.read_ahead([str(i) for i in dict.fromkeys(e.originator_id for e in events)])
        to_stored = self.mapper.to_stored_event
        for event in events:
            self.stored.append(to_stored(event))
            self.types.append(event_type(event))
        self.events_gathered += len(events)

    def unwritten(self) -> list[StoredEvent]:
        return self.stored[self._start :]

    def discard(self, aggregate_ids: set[UUID]) -> None:
        """Leave the unwritten events of these aggregates out of the batch."""
        if not aggregate_ids:
            return
        self.left_out |= aggregate_ids
        kept = [
            (stored, name)
            for stored, name in zip(self.unwritten(), self.types[self._start :], strict=True)
            if stored.originator_id not in aggregate_ids
        ]
        self.stored = [*self.stored[: self._start], *(stored for stored, _ in kept)]
        self.types = [*self.types[: self._start], *(name for _, name in kept)]

    def close(self) -> None:
        """The writes asked for are done (they are, in this process)."""

    def stop(self) -> None:
        """Nothing more will be asked of the batch."""

    def skip_registered(self) -> None:
        """Leave out the unwritten clients another writer registered meanwhile (a write
        of them failed on the store's key)."""
        self.discard(
            self.ledger.recorder.registered(  # type: ignore[attr-defined]
                [s.originator_id for s in self.unwritten() if s.originator_version == 1]
            )
        )

    def write(self, progress: Callable[[int], None] | None = None, *, wait: bool = True) -> int:
        """Insert everything gathered; the number of events written (by this batch, so
        far). `wait=False` lets a batch that writes in a process of its own go on."""
        self.gather()
        # The keys before the events sealed under them; a client whose key another
        # writer made meanwhile is being registered by that writer: left out.
        self.discard({UUID(subject) for subject in self.keys.write()})
        while self._start < len(self.stored):
            chunk = self.insert(self.stored[self._start : self._start + self.chunk])
            self.ledger.counters.count(iter(self.types[self._start : self._start + self.chunk]))
            self._start += len(chunk)
            self.written += len(chunk)
            if progress is not None:
                progress(self.written)
        self._all_written()
        return self.written

    def insert(self, chunk: list[StoredEvent]) -> list[StoredEvent]:
        """`chunk` inserted; stamped again, no earlier than the log's last recorded time,
        while another writer inserted events stamped later first (`recorded_order`), at most
        `RESTAMPS` times, as a single save."""
        for attempt in range(RESTAMPS):
            try:
                self.ledger.recorder.insert_events(chunk)
                return chunk
            except RecordedOutOfOrder as late:
                if attempt == RESTAMPS - 1:
                    raise
                at = max(self.ledger.clock(), late.last)
                to_domain, to_stored = self.mapper.to_domain_event, self.mapper.to_stored_event
                chunk = [to_stored(restamped(to_domain(s), at)) for s in chunk]
        raise AssertionError("unreachable")

    def _all_written(self) -> None:
        self.stored, self.types, self._start = [], [], 0
        # What was written needs neither its keys nor its key ring's cache any more: a
        # fresh pair per write keeps a long load's memory flat.
        self.mapper, self.keys = batch_mapper(self.ledger.mapper)
        if _paused:
            gc.collect(1)  # the garbage of this write's objects, never walking older ones


def in_recorded_order(events: list[Any]) -> list[Any]:
    """`events` (gathered aggregate by aggregate) in the order they were recorded, each
    aggregate's in version order, as single commands would have inserted them. Gathered
    by aggregate, a demo's prospect dropped after the next client registered went back
    in time: every chunk was refused by the store's recorded-order check and stamped
    again (each event decoded and encoded again, a fifth of a demo's CPU). Kept as
    gathered when already in order, or when sorting would put an aggregate's versions
    out of order (a clock that went back: the insert stamps those again)."""
    try:
        stamps = [event.timestamp for event in events]
        if all(map(operator.le, stamps, itertools.islice(stamps, 1, None))):
            return events
    except (AttributeError, TypeError):  # events without recorded times: as gathered
        return events
    ordered = [events[i] for i in sorted(range(len(events)), key=stamps.__getitem__)]
    versions: dict[Any, int] = {}
    for event in ordered:
        if versions.get(event.originator_id, 0) >= event.originator_version:
            return events
        versions[event.originator_id] = event.originator_version
    return ordered


_paused = 0  # batches running with the cyclic collector paused
_paused_lock = threading.Lock()
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a batch runs: its objects are kept, not
    garbage, and each full collection walked them all again (8% of an import's CPU).
    Each `Batch.write` collects the young generations only (the cycles made since the
    last one). Batches in several threads resume it when the last one ends."""
    global _paused, _was_enabled
    with _paused_lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            resume = _paused == 0 and _was_enabled
        if resume:
            gc.enable()


# Set only while `LedgerBase.batched` runs, in that thread or task.
current_batch: ContextVar[Batch | None] = ContextVar("ledger_batch", default=None)
