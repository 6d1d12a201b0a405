"""The write machinery, once: what every use case stands on.

A use case loads, runs one command of an aggregate and saves; `LedgerBase` does the rest:
writers to one aggregate in this process take turns, a write that loses to another
process is retried on the new state (with jitter), an `If-Match` version that is no longer
the aggregate's is a 409, a new aggregate whose id is taken is a 409, and a write under an
Idempotency-Key is claimed in the same transaction (a retry replays the first answer).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
)
from eventsourcing.utils import strtobool

from ledger.application.caches import (
    ORGANISATION,
    TURN_WAIT,
    SerialCacheRepository,
    organisation_cache,
    project,
)
from ledger.domain import AlreadyExists, Client, NotFound, RuleViolation, Staff, StaleVersion, Unit
from ledger.domain.api_key import ApiKey
from ledger.domain.base import recording_clock
from ledger.domain.campaign import Campaign
from ledger.domain.idempotency import IdempotencyKey
from ledger.domain.prospect import Prospect
from ledger.domain.values import check_identifier, check_not_future, check_text, event_id
from ledger.privacy import KeyRing, PersonalDataMapper
from ledger.privacy.keys import key_table_for, master_key_for

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

# A conflicting concurrent write is retried this many times before it becomes a 409.
# Under steady contention each attempt may lose again, so allow many cheap attempts.
CONFLICT_RETRIES = 20
TURNS = 64
MAX_IDEMPOTENCY_KEY = 200

# The name an aggregate goes by in errors, and the field its id arrives in (`<kind>_id`).
KINDS: dict[type[Aggregate], str] = {
    Unit: "unit",
    Staff: "staff",
    Client: "client",
    ApiKey: "api_key",
    Campaign: "campaign",
    Prospect: "prospect",
}
# The attribute holding an aggregate's business id.
_ID_ATTRIBUTES: dict[type[Aggregate], str] = {
    Unit: "unit_id",
    Staff: "staff_id",
    Client: "client_id",
    ApiKey: "key_id",
    Campaign: "campaign_id",
    Prospect: "prospect_id",
}


@dataclass(frozen=True)
class WriteResult:
    """What every write answers: the aggregate, the event, and its place in the log."""

    id: str
    originator_id: UUID
    type: str
    version: int
    position: int
    recorded_at: datetime
    recorded_by: str

    @property
    def event_id(self) -> str:
        # Derived when asked: a bulk load answers hundreds of thousands of writes that
        # nobody reads the id of.
        return event_id(self.originator_id, self.version)


def event_type(event: object) -> str:
    """`Client.TierChanged` -> `TierChanged`: the past-tense name of the fact."""
    return type(event).__qualname__.rsplit(".", 1)[-1]


def written(business_id: str, event: Any, position: int) -> WriteResult:
    return WriteResult(
        id=business_id,
        originator_id=event.originator_id,
        type=event_type(event),
        version=event.originator_version,
        position=position,
        recorded_at=event.timestamp,
        recorded_by=event.recorded_by,
    )


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class WriteCounts:
    """Since the process started: events written by type, saves that lost to a concurrent
    write, and commands re-run after one (read by /metrics)."""

    events: dict[str, int]
    conflicts: int
    retries: int


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[str, int] = {}
        self.conflicts = 0
        self.retries = 0

    def written(self, recordings: list[Any]) -> None:
        self.count(event_type(recording.domain_event) for recording in recordings)

    def count(self, names: Iterator[str]) -> None:
        with self._lock:
            for name in names:
                self.events[name] = self.events.get(name, 0) + 1

    def conflict(self, retried: bool) -> None:
        with self._lock:
            self.conflicts += 1
            self.retries += retried

    def snapshot(self) -> WriteCounts:
        with self._lock:
            return WriteCounts(dict(self.events), self.conflicts, self.retries)


@dataclass(frozen=True)
class _Unplaced:
    """A batched event's place in the log, unknown until the batch is written."""

    id: int = 0


@dataclass(frozen=True)
class _Batched:
    domain_event: Any
    notification: _Unplaced = _Unplaced()


class Batch:
    """Client writes gathered in memory, then written many aggregates per transaction
    (`ledger import`, `ledger demo`): the use cases run unchanged, with every rule, but a
    save of a client only gathers it, and a load of a gathered client answers it.

    `gather()` maps the gathered clients' events to stored events and lets the aggregates
    go (a client loaded after that is read from the store, so gather between clients);
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
        # Units and staff as first read in this batch: a bulk load reads the same few
        # hundred thousands of times, and a fast-forward query for each was half its time.
        self.organisation: dict[UUID, Aggregate] = {}
        self.written = 0
        self._start = 0  # stored[:_start] are written

    def add(self, aggregates: Sequence[Aggregate]) -> list[_Batched]:
        recordings = []
        for aggregate in aggregates:
            self.pending[aggregate.id] = aggregate
            events = aggregate.pending_events
            recordings += [_Batched(e) for e in events[self._answered.get(aggregate.id, 0) :]]
            self._answered[aggregate.id] = len(events)
        return recordings

    def drop(self, aggregate_id: UUID) -> None:
        """Forget a gathered client (its row was refused)."""
        self.pending.pop(aggregate_id, None)
        self._answered.pop(aggregate_id, None)

    def gather(self) -> None:
        to_stored = self.ledger.mapper.to_stored_event
        self.gathered.update(self.pending)
        for aggregate in self.pending.values():
            for event in aggregate.collect_events():
                self.stored.append(to_stored(event))
                self.types.append(event_type(event))
        self.pending.clear()
        self._answered.clear()

    def unwritten(self) -> list[StoredEvent]:
        return self.stored[self._start :]

    def discard(self, aggregate_ids: set[UUID]) -> None:
        """Leave the unwritten events of these aggregates out of the batch."""
        kept = [
            (stored, name)
            for stored, name in zip(self.unwritten(), self.types[self._start :], strict=True)
            if stored.originator_id not in aggregate_ids
        ]
        self.stored = [*self.stored[: self._start], *(stored for stored, _ in kept)]
        self.types = [*self.types[: self._start], *(name for _, name in kept)]

    def write(self, progress: Callable[[int], None] | None = None) -> int:
        """Insert everything gathered; the number of events written."""
        self.gather()
        recorder = self.ledger.recorder
        while self._start < len(self.stored):
            chunk = self.stored[self._start : self._start + self.chunk]
            recorder.insert_events(chunk)
            self.ledger.counters.count(iter(self.types[self._start : self._start + self.chunk]))
            self._start += len(chunk)
            self.written += len(chunk)
            if progress is not None:
                progress(self.written)
        self.stored, self.types, self._start = [], [], 0
        return self.written


_batch: ContextVar[Batch | None] = ContextVar("ledger_batch", default=None)


@dataclass(frozen=True)
class _Claim:
    scope: str
    key: str
    fingerprint: str


class _ClaimedMeanwhile(Exception):
    """A concurrent request with the same idempotency key committed first."""


# Set only while `LedgerBase.idempotent` runs a write, in that thread or task.
_pending_claim: ContextVar[_Claim | None] = ContextVar("ledger_idempotency_claim", default=None)


def _attempts() -> Iterator[int]:
    for attempt in range(1, CONFLICT_RETRIES + 1):
        if attempt > 1:
            # Jitter keeps writers that just collided from colliding again in lockstep.
            time.sleep(random.uniform(0, 0.002 * attempt))
        yield attempt


def _business_id(aggregate: Aggregate) -> str:
    attribute = _ID_ATTRIBUTES.get(type(aggregate))
    return getattr(aggregate, attribute) if attribute else str(aggregate.id)


class LedgerBase(Application):
    """Loading, saving and the write machinery; the groups of use cases build on it."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(env)
        # The mapper was made before the recorder: its keys live beside the events.
        self.keyring.table = key_table_for(self.recorder)
        self.keyring.table.create_tables()
        self.clock = clock or (lambda: datetime.now(UTC))
        self._turns = [threading.Lock() for _ in range(TURNS)]
        self._organisation = organisation_cache(self.events, self.snapshots)
        self.counters = _Counters()

    def construct_repository(self) -> Repository[UUID]:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return SerialCacheRepository(
            event_store=self.events,  # type: ignore[arg-type]
            snapshot_store=self.snapshots,  # type: ignore[arg-type]
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def construct_mapper(self) -> Mapper[UUID]:
        """Personal fields sealed at the store boundary (ledger.privacy)."""
        master, self.master_key_source = master_key_for(self.env)
        self.keyring = KeyRing(master, None)
        return PersonalDataMapper(self.construct_transcoder(), self.keyring)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

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
        batch = _batch.get()
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
        batch = _batch.get()
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
        batch = _batch.get()
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
                raise AlreadyExists(KINDS[type(aggregate)], _business_id(aggregate)) from None
            raise
        return self._result(_business_id(aggregate), recordings)

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
        # Writers to one aggregate in this process take turns, so they do not load the
        # same version and lose to each other; other processes are still met by the retry.
        turn = self.turn_of(cls, business_id)
        # A bounded wait: behind a slow writer (the store may be down) go ahead, and let
        # the optimistic retry keep writers apart as it always did.
        taken = turn.acquire(timeout=TURN_WAIT)
        try:
            attempt = partial(
                self._update_once, cls, business_id, expected_version, command, arguments
            )
            return self.retrying(KINDS[cls], business_id, attempt)
        finally:
            if taken:
                turn.release()

    def turn_of(self, cls: type[Aggregate], business_id: str) -> threading.Lock:
        """The lock writers to this aggregate take turns on, in this process."""
        return self._turns[hash((cls.__name__, business_id)) % TURNS]

    def _update_once(
        self,
        cls: type[A],
        business_id: str,
        expected_version: int | None,
        command: Callable[..., None],
        arguments: dict[str, Any],
    ) -> WriteResult:
        aggregate = self.load(cls, business_id)
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
        return self._result(business_id, recordings)

    def retrying(
        self, kind: str, business_id: str, attempt: Callable[[], WriteResult]
    ) -> WriteResult:
        """`attempt()` again while it loses to a concurrent write on `kind business_id`."""
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
        raise AssertionError("unreachable")

    @staticmethod
    def _result(business_id: str, recordings: list[Any]) -> WriteResult:
        first = recordings[0]
        return written(business_id, first.domain_event, first.notification.id)

    # ---- idempotency ----------------------------------------------------------------

    def idempotent(
        self, *, scope: str, key: str, fingerprint: str, write: Callable[[], WriteResult]
    ) -> tuple[WriteResult, bool]:
        """Run `write` at most once per `(scope, key)`; answer `(result, replayed)`.

        The key is claimed by an `IdempotencyKey` aggregate saved in the same `save()` as
        the write, so the claim and the write commit together or not at all. A retry with
        the same fingerprint answers the first result from the log; another fingerprint
        is a 409.
        """
        check_text("Idempotency-Key", key, limit=MAX_IDEMPOTENCY_KEY)
        replay = self._replay(scope, key, fingerprint)
        if replay is not None:
            return replay, True
        token = _pending_claim.set(_Claim(scope, key, fingerprint))
        try:
            return write(), False
        except _ClaimedMeanwhile:
            replay = self._replay(scope, key, fingerprint)
            if replay is None:  # pragma: no cover - the claim was just seen in the store
                raise
            return replay, True
        finally:
            _pending_claim.reset(token)

    @contextmanager
    def batched(self, *, chunk: int = 5000) -> Iterator[Batch]:
        """Client saves in this context (this thread or task) are gathered into the batch;
        the caller writes it (`batch.write()`)."""
        batch = Batch(self, chunk)
        token = _batch.set(batch)
        try:
            yield batch
        finally:
            _batch.reset(token)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        batch = _batch.get()
        if batch is not None:
            aggregates = [obj for obj in objs if obj is not None]
            if aggregates and all(type(obj) is Client for obj in aggregates):
                return batch.add(aggregates)
        claim = _pending_claim.get()
        record = self._claim_record(claim, objs) if claim is not None else None
        if record is None:
            recordings = super().save(*objs, **kwargs)
            self.counters.written(recordings)
            return recordings
        try:
            recordings = super().save(*objs, record, **kwargs)
            self.counters.written(recordings)
            return recordings
        except IntegrityError:
            if record.id in self.repository:
                raise _ClaimedMeanwhile from None
            raise

    def _claim_record(self, claim: _Claim, objs: tuple[Any, ...]) -> IdempotencyKey | None:
        aggregate = next((obj for obj in objs if isinstance(obj, Aggregate)), None)
        pending = aggregate.pending_events if aggregate is not None else []
        if not pending:
            return None
        first = pending[0]
        with recording_clock(self.clock):
            return IdempotencyKey.claim(
                scope=claim.scope,
                key=claim.key,
                fingerprint=claim.fingerprint,
                result_id=_business_id(aggregate),  # type: ignore[arg-type]
                event_originator_id=first.originator_id,
                event_version=first.originator_version,
                recorded_by=first.recorded_by,  # type: ignore[attr-defined]
                effective_at=self.clock(),
            )

    def _replay(self, scope: str, key: str, fingerprint: str) -> WriteResult | None:
        try:
            record = self.repository.get(IdempotencyKey.id_for(scope, key))
        except AggregateNotFoundError:
            return None
        assert isinstance(record, IdempotencyKey)
        if record.fingerprint != fingerprint:
            raise RuleViolation(
                "idempotency_key_reused",
                "this Idempotency-Key was first used with another request; use a new key",
            )
        version = record.event_version
        (event,) = self.events.get(record.event_originator_id, gt=version - 1, lte=version)
        positions = self.recorder.event_positions(record.event_originator_id)  # type: ignore[attr-defined]
        return written(record.result_id, event, positions[version])
