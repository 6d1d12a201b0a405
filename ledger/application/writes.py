"""The write machinery, once: what every use case stands on.

A use case loads, runs one command of an aggregate and saves; `LedgerBase` does the rest:
writers to one aggregate in this process take turns, a write that loses to another
process is retried on the new state (with jitter), an `If-Match` version that is no longer
the aggregate's is a 409, and a new aggregate whose id is taken is a 409. Beside it:
`idempotency.py` (a write under an Idempotency-Key is claimed in the same transaction, and
a retry replays the first answer), `batch.py` (the bulk path), `persistence.py` (the
repository, the mapper and its key ring) and `results.py` (`WriteResult`, the counters).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from ledger.application.batch import GATHERED, Batch, collector_paused, current_batch
from ledger.application.batch_process import pipelined_batch
from ledger.application.caches import ORGANISATION, TURN_WAIT, KnownSnapshots, project
from ledger.application.client_cache import ClientCache
from ledger.application.idempotency import IdempotentWrites
from ledger.application.organisation_cache import organisation_cache
from ledger.application.persistence import LedgerPersistence
from ledger.application.results import (
    KINDS,
    WriteCounts,
    WriteResult,
    business_id_of,
    written,
)
from ledger.domain import AlreadyExists, Client, NotFound, RuleViolation, Staff, StaleVersion
from ledger.domain.base import recording_clock
from ledger.domain.values import check_identifier, check_not_future

__all__ = ["CONFLICT_RETRIES", "Batch", "LedgerBase", "WriteCounts", "WriteResult"]

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

# A conflicting concurrent write is retried this many times before it becomes a 409.
# Under steady contention each attempt may lose again, so allow many cheap attempts.
CONFLICT_RETRIES = 20
TURNS = 64


def _attempts() -> Iterator[int]:
    for attempt in range(1, CONFLICT_RETRIES + 1):
        if attempt > 1:
            # Jitter keeps writers that just collided from colliding again in lockstep.
            time.sleep(random.uniform(0, 0.002 * attempt))
        yield attempt


class LedgerBase(IdempotentWrites, LedgerPersistence):
    """Loading, saving and the write machinery; the groups of use cases build on it."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._turns = [threading.Lock() for _ in range(TURNS)]
        self._organisation = organisation_cache(
            self.events, self.snapshots and KnownSnapshots(self.snapshots), self.recorder
        )
        self._clients = ClientCache(self.events, self._organisation.watch)

    def write_counts(self) -> WriteCounts:
        return self.counters.snapshot()

    def recorded_at(self, position: int) -> datetime | None:
        """When the event at `position` in the log was recorded (None if there is none)."""
        notifications = self.recorder.select_notifications(start=position, limit=1)
        if not notifications or notifications[0].id != position:
            return None
        event = self.mapper.to_domain_event(notifications[0])
        return getattr(event, "timestamp", None)

    @property
    def position(self) -> int:
        """The latest position in the global log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def effective(self, field: str, value: datetime | None) -> datetime:
        """When a command takes effect: now if not given, never more than a little ahead."""
        now = self.clock()
        if value is None:
            return now
        return check_not_future(field, value, now)

    # ---- loading --------------------------------------------------------------------

    def load(self, cls: type[A], business_id: str, *, field: str | None = None) -> A:
        """The aggregate, to run a command on (a copy where it is cached)."""
        kind = KINDS[cls]
        check_identifier(field or f"{kind}_id", business_id)
        batch = current_batch.get()
        if batch is not None:
            gathered = batch.pending.get(cls.id_for(business_id))  # type: ignore[attr-defined]
            if gathered is not None:
                return gathered  # type: ignore[return-value]
        try:
            repository = self._organisation if cls in ORGANISATION else self.repository
            aggregate = repository.get(
                cls.id_for(business_id),  # type: ignore[attr-defined]
                projector_func=project,
            )
        except AggregateNotFoundError:
            raise NotFound(kind, business_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(kind, business_id)
        return aggregate

    def read(
        self, cls: type[A], business_id: str, read: Callable[[A], T], *, field: str | None = None
    ) -> T:
        """`read` of a cached unit, staff member or API key, without the deep copy a
        command needs (three such looks per write over HTTP)."""
        kind = KINDS[cls]
        check_identifier(field or f"{kind}_id", business_id)

        def checked(aggregate: Any) -> T:
            if not isinstance(aggregate, cls):
                raise NotFound(kind, business_id)
            return read(aggregate)

        aggregate_id = cls.id_for(business_id)  # type: ignore[attr-defined]
        batch = current_batch.get()
        try:
            if batch is None:
                return self._organisation.read(aggregate_id, checked, projector_func=project)
            aggregate = batch.organisation.get(aggregate_id)
            if aggregate is None:
                aggregate = self._organisation.get(aggregate_id, projector_func=project)
                batch.organisation[aggregate_id] = aggregate
        except AggregateNotFoundError:
            raise NotFound(kind, business_id) from None
        return checked(aggregate)

    def registered(self, aggregate_ids: list[UUID]) -> set[UUID]:
        """Those of the aggregates the store holds."""
        return self.recorder.registered(aggregate_ids)  # type: ignore[attr-defined,no-any-return]

    def check_exists(self, cls: type[Aggregate], business_id: str, *, field: str) -> None:
        """NotFound unless the aggregate is in the store (or gathered in this batch)."""
        batch = current_batch.get()
        if batch is not None:
            aggregate_id = cls.id_for(business_id)  # type: ignore[attr-defined]
            if aggregate_id in batch.pending or aggregate_id in batch.gathered:
                return
        self.load(cls, business_id, field=field)

    def check_staff_active(self, staff_id: str, at: datetime, *, doing: str) -> None:
        self.read(Staff, staff_id, partial(Staff.check_active_at, at=at, doing=doing))

    # ---- writing --------------------------------------------------------------------

    def create(self, factory: Callable[..., A], /, **arguments: Any) -> WriteResult:
        """A new aggregate from `factory(**arguments)`; a taken id is AlreadyExists."""
        with recording_clock(self.clock):
            aggregate = factory(**arguments)
        return self.save_new(aggregate)

    def save_new(self, aggregate: Aggregate, *also: Aggregate | None) -> WriteResult:
        """`aggregate`, new, saved with the changes of `also` in one transaction."""
        try:
            recordings = self.save(aggregate, *also)
        except IntegrityError:
            # The store's key on (id, version 1) makes the first registration the only one.
            if aggregate.id in self.repository:
                raise AlreadyExists(KINDS[type(aggregate)], business_id_of(aggregate)) from None
            raise
        return self._result(business_id_of(aggregate), recordings)

    def update(
        self,
        cls: type[A],
        business_id: str,
        expected_version: int | None,
        command: Callable[..., None],
        /,
        **arguments: Any,
    ) -> WriteResult:
        """`command(aggregate, **arguments)` on the aggregate, saved; re-run on the new
        state if another writer saved first (unless the caller expected a version)."""
        if cls is Client and current_batch.get() is not None:
            # Gathered, not saved: no writer can meet it before the batch is written (a
            # client another writer registered meanwhile is left out then), so no turn
            # to take and nothing to retry.
            return self._update_once(cls, business_id, expected_version, command, arguments)
        once = self._update_kept if cls is Client else self._update_once
        attempt = partial(once, cls, business_id, expected_version, command, arguments)
        return self.retrying(KINDS[cls], business_id, attempt)

    def _update_kept(
        self,
        cls: type[A],
        business_id: str,
        expected_version: int | None,
        command: Callable[..., None],
        arguments: dict[str, Any],
    ) -> WriteResult:
        """`_update_once` on the client kept from its last command here, if it still is
        current (ledger.application.client_cache), and kept again once saved."""
        check_identifier("client_id", business_id)
        aggregate_id = cls.id_for(business_id)  # type: ignore[attr-defined]
        kept = self._clients.take(aggregate_id)
        saved: list[Any] = []
        try:
            result = self._update_once(
                cls, business_id, expected_version, command, arguments, kept, saved
            )
        except BaseException:
            self._clients.done(aggregate_id)
            raise
        self._clients.done(aggregate_id, *saved)
        return result

    def turn_of(self, kind: str, business_id: str) -> threading.Lock:
        """The lock writers to the aggregate `kind business_id` take turns on, here."""
        return self._turns[hash((kind, business_id)) % TURNS]

    def _update_once(
        self,
        cls: type[A],
        business_id: str,
        expected_version: int | None,
        command: Callable[..., None],
        arguments: dict[str, Any],
        kept: A | None = None,
        saved: list[Any] | None = None,
    ) -> WriteResult:
        aggregate = kept if kept is not None else self.load(cls, business_id)
        if expected_version is not None and aggregate.version != expected_version:
            raise StaleVersion(expected_version, aggregate.version)
        with recording_clock(self.clock):
            # A command may change other aggregates too, saved in the same transaction.
            also = command(aggregate, **arguments) or ()
        try:
            recordings = self.save(aggregate, *also)
        except IntegrityError:
            # Someone else wrote first. With If-Match the caller must look again;
            # otherwise the command is re-run on the new state (its rules re-checked).
            if expected_version is not None:
                self.counters.conflict(retried=False)
                raise StaleVersion(expected_version, aggregate.version) from None
            raise
        if saved is not None:
            saved.extend((aggregate, recordings[-1].notification.id))
        return self._result(business_id, recordings)

    def retrying(
        self, kind: str, business_id: str, attempt: Callable[[], WriteResult]
    ) -> WriteResult:
        """`attempt()` again while it loses to a concurrent write on `kind business_id`.

        Writers to one aggregate in this process take turns, so they do not load the same
        version and lose to each other; other processes are still met by the retry. The
        wait is bounded: behind a slow writer (the store may be down) go ahead, and let the
        optimistic retry keep writers apart as it always did."""
        turn = self.turn_of(kind, business_id)
        taken = turn.acquire(timeout=TURN_WAIT)
        try:
            for number in _attempts():
                try:
                    return attempt()
                except IntegrityError:
                    self.counters.conflict(retried=number < CONFLICT_RETRIES)
                    if number == CONFLICT_RETRIES:
                        raise RuleViolation(
                            "concurrent_write",
                            f"{kind} {business_id} kept changing under this write; try again",
                        ) from None
        finally:
            if taken:
                turn.release()
        raise AssertionError("unreachable")

    @staticmethod
    def _result(business_id: str, recordings: list[Any]) -> WriteResult:
        first = recordings[0]
        return written(business_id, first.domain_event, first.notification.id)

    @contextmanager
    def batched(self, *, chunk: int = 5000, writer: str | None = None) -> Iterator[Batch]:
        """Client saves in this context (this thread or task) are gathered into the batch;
        the caller writes it (`batch.write()`). `writer`: written by a process of its own
        where the store allows it (`batch_process.WRITER_SEALS` or `WRITER_INSERTS`)."""
        batch = pipelined_batch(self, chunk, writer)
        token = current_batch.set(batch)
        try:
            with collector_paused():
                yield batch
            batch.close()
        finally:
            batch.stop()
            current_batch.reset(token)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        batch = current_batch.get()
        if batch is not None:
            aggregates = [obj for obj in objs if obj is not None]
            if aggregates and all(type(obj) in GATHERED for obj in aggregates):
                return batch.add(aggregates)
        recordings = super().save(*objs, **kwargs)
        watch = self._organisation.watch
        for recording in recordings:
            watch.saw(recording.domain_event.originator_id, recording.notification.id)
        return recordings
