"""The application service: one method per use case, load -> command -> save.

It is the only place that loads and saves aggregates, and the home of the rules that
span aggregates (the unit, staff member and referring client must exist; a departed
staff member can be neither assigned nor log a contact; a client id is unique for ever).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding
from eventsourcing.utils import strtobool

from ledger.domain import (
    AlreadyExists,
    Client,
    ClientState,
    InvalidInput,
    NotFound,
    RuleViolation,
    Staff,
    StaleVersion,
    Unit,
)
from ledger.domain.api_key import ApiKey, hash_secret
from ledger.domain.base import recording_clock
from ledger.domain.idempotency import IdempotencyKey
from ledger.domain.values import (
    OUTLET_DIRECTOR,
    check_aware,
    check_date,
    check_identifier,
    check_not_future,
    check_text,
    event_id,
)

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

# A conflicting concurrent write is retried this many times before it becomes a 409.
# Under steady contention each attempt may lose again, so allow many cheap attempts.
CONFLICT_RETRIES = 20


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class WriteResult:
    """What every write answers: the aggregate, the event, and its place in the log."""

    id: str
    event_id: str
    type: str
    version: int
    position: int
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class HistoryEntry:
    event_id: str
    type: str
    version: int
    position: int | None
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    data: dict[str, Any]
    retracted_by: str | None
    # The event's link in the hash chain (hex), from the store; see ledger.integrity.chain.
    hash: str | None = None


@dataclass(frozen=True)
class UnitView:
    unit_id: str
    name: str
    kind: str
    parent_id: str | None
    head_staff_id: str | None
    children: list[str]
    version: int


@dataclass(frozen=True)
class StaffView:
    staff_id: str
    name: str
    unit_id: str
    role: str
    status: str
    version: int


# How long a request waits for its turn on one aggregate before going ahead without it.
TURN_WAIT = 0.5


class SerialCacheRepository(Repository[UUID]):
    """The library's repository, with the cached loads of any one aggregate serialised.

    eventsourcing 9.5.6 deep-copies a cached aggregate after releasing the lock under
    which it fast-forwards it, so a copy taken while another thread fast-forwards the same
    aggregate fails ("dictionary changed size during iteration") or comes out torn.
    """

    STRIPES = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stripes = [threading.Lock() for _ in range(self.STRIPES)]

    def get(self, aggregate_id: UUID, *, version: int | None = None, **kwargs: Any) -> Any:
        if self.cache is None or version is not None:
            return super().get(aggregate_id, version=version, **kwargs)
        stripe = self._stripes[hash(aggregate_id) % self.STRIPES]
        if not stripe.acquire(timeout=TURN_WAIT):
            # The holder is slow (the store may be down): load past the cache rather than
            # queue every request for this aggregate behind it.
            projector = kwargs.get("projector_func", project_aggregate)
            return self._reconstruct_aggregate(aggregate_id, None, projector)
        try:
            return super().get(aggregate_id, version=version, **kwargs)
        finally:
            stripe.release()

    def read(self, aggregate_id: UUID, read: Callable[[Any], T], **kwargs: Any) -> T:
        """`read` applied to the cached aggregate itself rather than to a deep copy, while
        no other thread can fast-forward it: for a look that changes nothing."""
        if self.cache is None:
            return read(super().get(aggregate_id, **kwargs))
        stripe = self._stripes[hash(aggregate_id) % self.STRIPES]
        if not stripe.acquire(timeout=TURN_WAIT):
            projector = kwargs.get("projector_func", project_aggregate)
            return read(self._reconstruct_aggregate(aggregate_id, None, projector))
        try:
            return read(super().get(aggregate_id, deepcopy_from_cache=False, **kwargs))
        finally:
            stripe.release()


_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
_TIME_FIELDS = {"recorded_by", "effective_at"}


def event_type(event: object) -> str:
    """`Client.TierChanged` -> `TierChanged`: the past-tense name of the fact."""
    return type(event).__qualname__.rsplit(".", 1)[-1]


class Ledger(Application):
    name = "Ledger"
    # A client with 10,000 contacts loads from its latest snapshot, not by replay.
    snapshotting_intervals = {Client: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._verified_tokens: dict[str, str] = {}
        self._writing = [threading.Lock() for _ in range(64)]
        # Units, staff and API keys are read on every request (scope, rules, auth) and
        # stay small, so they are cached and fast-forwarded from the store on each load:
        # one query for the events since, and another process's writes are always seen.
        # A command runs on a deep copy, so one that fails leaves the cache untouched.
        # Clients are not cached: a deep copy of a long-lived client costs more than
        # loading it from its snapshot.
        self._organisation = SerialCacheRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=ORGANISATION_CACHE_SIZE,
            fastforward=True,
            deepcopy_from_cache=True,
        )
        # Facts that never change once recorded, so no process can make them stale:
        # a unit's parent and a client's home unit.
        self._unit_parents: dict[str, str | None] = {}
        self._client_units: dict[str, str] = {}

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

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # ---- organisation -------------------------------------------------------------

    def create_unit(
        self, *, unit_id: str, name: str, kind: str, parent_id: str | None, recorded_by: str
    ) -> WriteResult:
        check_identifier("unit_id", unit_id)
        for attempt in self._attempts():
            parent = self._load_unit(parent_id, field="parent_id") if parent_id else None
            with recording_clock(self.clock):
                unit = Unit.create(
                    unit_id=unit_id,
                    name=name,
                    kind=kind,
                    parent=parent,
                    recorded_by=recorded_by,
                    effective_at=self.clock(),
                )
                if parent is not None:
                    parent.attach_child(
                        child_id=unit_id, recorded_by=recorded_by, effective_at=self.clock()
                    )
            try:
                return self._save_new(unit, unit_id, "unit", also=parent)
            except IntegrityError:
                # Another child was attached to the parent first: attach to the new state.
                if attempt == CONFLICT_RETRIES:
                    raise RuleViolation(
                        "concurrent_write",
                        f"unit {parent_id} kept changing under this write; try again",
                    ) from None
        raise AssertionError("unreachable")

    def appoint_head(
        self,
        *,
        unit_id: str,
        staff_id: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)
        self._check_staff_active(staff_id, effective_at, doing="be appointed unit head")

        def command(unit: Unit) -> None:
            unit.appoint_head(staff_id=staff_id, recorded_by=recorded_by, effective_at=effective_at)

        return self._update(Unit, unit_id, "unit", command, expected_version)

    def join_staff(
        self,
        *,
        staff_id: str,
        name: str,
        unit_id: str,
        role: str,
        effective_at: datetime | None,
        recorded_by: str,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)
        self._unit_kind(unit_id, field="unit_id")  # the unit must exist
        with recording_clock(self.clock):
            staff = Staff.join(
                staff_id=staff_id,
                name=name,
                unit_id=unit_id,
                role=role,
                recorded_by=recorded_by,
                effective_at=effective_at,
            )
        return self._save_new(staff, staff_id, "staff")

    def transfer_staff(
        self,
        *,
        staff_id: str,
        unit_id: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)
        self._unit_kind(unit_id, field="unit_id")  # the unit must exist

        def command(staff: Staff) -> None:
            staff.transfer(unit_id=unit_id, recorded_by=recorded_by, effective_at=effective_at)

        return self._update(Staff, staff_id, "staff", command, expected_version)

    def depart_staff(
        self,
        *,
        staff_id: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)

        def command(staff: Staff) -> None:
            staff.depart(reason=reason, recorded_by=recorded_by, effective_at=effective_at)

        return self._update(Staff, staff_id, "staff", command, expected_version)

    # ---- clients ------------------------------------------------------------------

    def register_client(
        self,
        *,
        client_id: str,
        name: str,
        unit_id: str,
        tier: str = "standard",
        occurred_at: datetime | None = None,
        source: str | None = None,
        referred_by: str | None = None,
        recorded_by: str,
    ) -> WriteResult:
        occurred_at = self._effective("occurred_at", occurred_at)
        check_identifier("client_id", client_id)
        unit_kind = self._unit_kind(unit_id, field="unit_id")
        if unit_kind != "outlet":
            raise RuleViolation(
                "home_unit_not_outlet",
                f"a client's home unit must be an outlet; {unit_id} is a {unit_kind}",
            )
        if referred_by is not None:
            check_identifier("referred_by", referred_by)
            if referred_by != client_id:
                self._load(Client, referred_by, "client", field="referred_by")
        with recording_clock(self.clock):
            client = Client.register(
                client_id=client_id,
                name=name,
                unit_id=unit_id,
                tier=tier,
                source=source,
                referred_by=referred_by,
                recorded_by=recorded_by,
                effective_at=occurred_at,
            )
        return self._save_new(client, client_id, "client")

    def update_profile(
        self,
        *,
        client_id: str,
        changes: dict[str, Any],
        recorded_by: str,
        effective_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)

        def command(client: Client) -> None:
            client.update_profile(
                changes=changes, recorded_by=recorded_by, effective_at=effective_at
            )

        return self._update(Client, client_id, "client", command, expected_version)

    def report_assets(
        self,
        *,
        client_id: str,
        amount: Any,
        as_of: date,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        check_date("as_of", as_of)
        if as_of > self.clock().date():
            raise InvalidInput("as_of", "must not be in the future")

        def command(client: Client) -> None:
            client.report_assets(amount=amount, as_of=as_of, recorded_by=recorded_by)

        return self._update(Client, client_id, "client", command, expected_version)

    def change_tier(
        self,
        *,
        client_id: str,
        tier: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)

        def command(client: Client) -> None:
            client.change_tier(
                tier=tier, reason=reason, recorded_by=recorded_by, effective_at=effective_at
            )

        return self._update(Client, client_id, "client", command, expected_version)

    def assign(
        self,
        *,
        client_id: str,
        staff_id: str,
        role: str = "client_manager",
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)
        self._check_staff_active(staff_id, effective_at, doing="be assigned to a client")

        def command(client: Client) -> None:
            client.assign(
                staff_id=staff_id,
                role=role,
                reason=reason,
                recorded_by=recorded_by,
                effective_at=effective_at,
            )

        return self._update(Client, client_id, "client", command, expected_version)

    def log_contact(
        self,
        *,
        client_id: str,
        channel: str,
        staff_id: str,
        occurred_at: datetime,
        purpose: str | None = None,
        summary: str | None = None,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        occurred_at = self._effective("occurred_at", occurred_at)
        self._check_staff_active(staff_id, occurred_at, doing="log a contact")

        def command(client: Client) -> None:
            client.log_contact(
                channel=channel,
                staff_id=staff_id,
                purpose=purpose,
                summary=summary,
                recorded_by=recorded_by,
                effective_at=occurred_at,
            )

        return self._update(Client, client_id, "client", command, expected_version)

    def churn(
        self,
        *,
        client_id: str,
        kind: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)

        def command(client: Client) -> None:
            client.churn(
                kind=kind, reason=reason, recorded_by=recorded_by, effective_at=effective_at
            )

        return self._update(Client, client_id, "client", command, expected_version)

    def reactivate(
        self,
        *,
        client_id: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self._effective("effective_at", effective_at)

        def command(client: Client) -> None:
            client.reactivate(reason=reason, recorded_by=recorded_by, effective_at=effective_at)

        return self._update(Client, client_id, "client", command, expected_version)

    def retract(
        self,
        *,
        client_id: str,
        event_id: str,
        reason: str,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        now = self.clock()

        def command(client: Client) -> None:
            client.retract(
                retracted_event_id=event_id,
                reason=reason,
                recorded_by=recorded_by,
                effective_at=now,
            )

        return self._update(Client, client_id, "client", command, expected_version)

    def determine(
        self,
        *,
        client_id: str,
        case_id: str,
        outcome: str,
        reason: str,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        now = self.clock()

        def command(client: Client) -> None:
            client.determine(
                case_id=case_id,
                outcome=outcome,
                reason=reason,
                recorded_by=recorded_by,
                effective_at=now,
            )

        return self._update(Client, client_id, "client", command, expected_version)

    # ---- reads --------------------------------------------------------------------

    def get_unit(self, unit_id: str) -> UnitView:
        unit = self._load_unit(unit_id, field="unit_id")
        return UnitView(
            unit_id=unit.unit_id,
            name=unit.name,
            kind=unit.kind,
            parent_id=unit.parent_id,
            head_staff_id=unit.head_at(self.clock()),
            children=list(unit.children),
            version=unit.version,
        )

    def unit_ancestry(self, unit_id: str) -> list[str]:
        """The unit and its ancestors up to the root, nearest first."""
        chain = []
        current: str | None = unit_id
        while current is not None:
            chain.append(current)
            if current in self._unit_parents:
                current = self._unit_parents[current]
                continue
            unit = self._load_unit(current, field="unit_id")
            _remember(self._unit_parents, current, unit.parent_id)
            current = unit.parent_id
        return chain

    def get_staff(self, staff_id: str) -> StaffView:
        return self._read(Staff, staff_id, "staff", _staff_view, field="staff_id")

    def get_client(
        self,
        client_id: str,
        *,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
    ) -> ClientState:
        """The client as the world was at `as_of` (effective time), as the ledger knew it
        at `known_at` (recorded time); both default to now."""
        if as_of is not None:
            check_aware("as_of", as_of)
        client = self._load(Client, client_id, "client", field="client_id")
        unit: Unit | None = self._load_unit(client.unit_id, field="unit_id")
        # "Now" is read after loading, so a write committed during the load is in the state
        # as well as in its version.
        as_of = as_of if as_of is not None else self.clock()
        if known_at is not None:
            check_aware("known_at", known_at)
            known_client = self._as_known_at(client, known_at)
            if known_client is None:
                raise NotFound("client", client_id)
            client = known_client
            unit = self._as_known_at(unit, known_at) if unit is not None else None
        state = client.state_at(as_of)
        # DOMAIN.md: the outlet director defaults to the head of the client's outlet.
        head = unit.head_at(as_of) if unit is not None else None
        if OUTLET_DIRECTOR not in state.team and head is not None:
            state = replace(state, team={**state.team, OUTLET_DIRECTOR: head})
        return state

    def client_version(self, client_id: str) -> int:
        return self._load(Client, client_id, "client", field="client_id").version

    def client_unit(self, client_id: str) -> str:
        unit_id = self._client_units.get(client_id)
        if unit_id is None:
            unit_id = self._load(Client, client_id, "client", field="client_id").unit_id
            _remember(self._client_units, client_id, unit_id)
        return unit_id

    def client_history(self, client_id: str) -> list[HistoryEntry]:
        client_uuid = Client.id_for(client_id)
        events = list(self.events.get(client_uuid))  # type: ignore[arg-type]
        if not events:
            raise NotFound("client", client_id)
        return self._history(client_uuid, events)  # type: ignore[arg-type]

    def _history(self, originator_id: UUID, events: list[Any]) -> list[HistoryEntry]:
        positions = self.recorder.event_positions(originator_id)  # type: ignore[attr-defined]
        hashes = self.recorder.hashes_at(positions.values())  # type: ignore[attr-defined]
        retracted_by: dict[str, str] = {}
        for event in events:
            if isinstance(event, Client.EventRetracted):
                retracted_by[event.retracted_event_id] = event.event_id
        entries = []
        for event in events:
            data = {
                key: value
                for key, value in vars(event).items()
                if key not in _BASE_FIELDS and key not in _TIME_FIELDS
            }
            eid = event_id(event.originator_id, event.originator_version)
            position = positions.get(event.originator_version)
            chain_hash = hashes.get(position) if position is not None else None
            entries.append(
                HistoryEntry(
                    event_id=eid,
                    type=event_type(event),
                    version=event.originator_version,
                    position=position,
                    occurred_at=event.effective_at,
                    recorded_at=event.timestamp,
                    recorded_by=event.recorded_by,
                    data=data,
                    retracted_by=retracted_by.get(eid),
                    hash=chain_hash.hex() if chain_hash is not None else None,
                )
            )
        return entries

    # ---- machinery ----------------------------------------------------------------

    def _effective(self, field: str, value: datetime | None) -> datetime:
        now = self.clock()
        if value is None:
            return now
        return check_not_future(field, value, now)

    def _as_known_at(self, aggregate: A, known_at: datetime) -> A | None:
        """The aggregate as the ledger held it at `known_at` (None if not yet recorded)."""
        version = self._version_known_at(aggregate, known_at)
        if version is None:
            return None
        if version < aggregate.version:
            return self.repository.get(aggregate.id, version=version)  # type: ignore[return-value]
        return aggregate

    def _version_known_at(self, aggregate: Aggregate, known_at: datetime) -> int | None:
        version = None
        for event in self.events.get(aggregate.id):
            if event.timestamp > known_at:
                break
            version = event.originator_version
        return version

    def _load(self, cls: type[A], business_id: str, kind: str, *, field: str) -> A:
        check_identifier(field, business_id)
        try:
            repository = self._organisation if cls in _CACHED else self.repository
            aggregate = repository.get(
                cls.id_for(business_id),  # type: ignore[attr-defined]
                projector_func=_project,
            )
        except AggregateNotFoundError:
            raise NotFound(kind, business_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(kind, business_id)
        return aggregate

    def _read(
        self, cls: type[A], business_id: str, kind: str, read: Callable[[A], T], *, field: str
    ) -> T:
        """`read` of a cached unit, staff member or API key, without the deep copy a
        command needs (three such looks per write over HTTP)."""
        check_identifier(field, business_id)

        def checked(aggregate: Any) -> T:
            if not isinstance(aggregate, cls):
                raise NotFound(kind, business_id)
            return read(aggregate)

        try:
            return self._organisation.read(
                cls.id_for(business_id),  # type: ignore[attr-defined]
                checked,
                projector_func=_project,
            )
        except AggregateNotFoundError:
            raise NotFound(kind, business_id) from None

    def _check_staff_active(self, staff_id: str, at: datetime, *, doing: str) -> None:
        def check(staff: Staff) -> None:
            staff.check_active_at(at, doing=doing)

        self._read(Staff, staff_id, "staff", check, field="staff_id")

    def _unit_kind(self, unit_id: str, *, field: str) -> str:
        return self._read(Unit, unit_id, "unit", _kind_of, field=field)

    def _load_unit(self, unit_id: str, *, field: str) -> Unit:
        return self._load(Unit, unit_id, "unit", field=field)

    def _save_new(
        self, aggregate: Aggregate, business_id: str, kind: str, also: Aggregate | None = None
    ) -> WriteResult:
        try:
            recordings = self.save(aggregate, also)
        except IntegrityError:
            # The store's key on (id, version 1) makes the first registration the only one.
            if aggregate.id in self.repository:
                raise AlreadyExists(kind, business_id) from None
            raise
        return self._result(business_id, recordings)

    def _update(
        self,
        cls: type[A],
        business_id: str,
        kind: str,
        command: Callable[[A], None],
        expected_version: int | None = None,
    ) -> WriteResult:
        # Writers to one aggregate in this process take turns, so they do not load the
        # same version and lose to each other; other processes are still met by the retry.
        turn = self._writing[hash((cls.__name__, business_id)) % len(self._writing)]
        # A bounded wait: behind a slow writer (the store may be down) go ahead, and let
        # the optimistic retry below keep writers apart as it always did.
        taken = turn.acquire(timeout=TURN_WAIT)
        try:
            return self._update_unlocked(cls, business_id, kind, command, expected_version)
        finally:
            if taken:
                turn.release()

    def _update_unlocked(
        self,
        cls: type[A],
        business_id: str,
        kind: str,
        command: Callable[[A], None],
        expected_version: int | None = None,
    ) -> WriteResult:
        for attempt in self._attempts():
            aggregate = self._load(cls, business_id, kind, field=f"{kind}_id")
            if expected_version is not None and aggregate.version != expected_version:
                raise StaleVersion(expected_version, aggregate.version)
            with recording_clock(self.clock):
                command(aggregate)
            try:
                recordings = self.save(aggregate)
            except IntegrityError:
                # Someone else wrote first. With If-Match the caller must look again;
                # otherwise re-run the command on the new state (its rules re-checked).
                if expected_version is not None:
                    raise StaleVersion(expected_version, aggregate.version) from None
                if attempt == CONFLICT_RETRIES:
                    raise RuleViolation(
                        "concurrent_write",
                        f"{kind} {business_id} kept changing under this write; try again",
                    ) from None
                continue
            return self._result(business_id, recordings)
        raise AssertionError("unreachable")

    @staticmethod
    def _attempts() -> Iterator[int]:
        for attempt in range(1, CONFLICT_RETRIES + 1):
            if attempt > 1:
                # Jitter keeps writers that just collided from colliding again in lockstep.
                time.sleep(random.uniform(0, 0.002 * attempt))
            yield attempt

    @staticmethod
    def _result(business_id: str, recordings: list[Any]) -> WriteResult:
        first = recordings[0]
        event = first.domain_event
        return WriteResult(
            id=business_id,
            event_id=event_id(event.originator_id, event.originator_version),
            type=event_type(event),
            version=event.originator_version,
            position=first.notification.id,
            recorded_at=event.timestamp,
            recorded_by=event.recorded_by,
        )

    @property
    def position(self) -> int:
        """The latest position in the global log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    # ---- idempotency and API keys (the HTTP layer's needs, kept in the ledger) -----

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

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        claim = _pending_claim.get()
        record = self._claim_record(claim, objs) if claim is not None else None
        if record is None:
            return super().save(*objs, **kwargs)
        try:
            return super().save(*objs, record, **kwargs)
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
                result_id=_business_id(aggregate),
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
        return WriteResult(
            id=record.result_id,
            event_id=event_id(event.originator_id, version),
            type=event_type(event),
            version=version,
            position=positions[version],
            recorded_at=event.timestamp,
            recorded_by=event.recorded_by,  # type: ignore[attr-defined]
        )

    def issue_api_key(
        self, *, role: str, staff_id: str | None, label: str, recorded_by: str
    ) -> tuple[WriteResult, str]:
        """A new key and its token `<key_id>.<secret>`; only a salted hash is stored."""
        if staff_id is not None:
            self._check_staff_active(staff_id, self.clock(), doing="hold an API key")
        key_id = f"k{secrets.token_hex(8)}"
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        with recording_clock(self.clock):
            key = ApiKey.issue(
                key_id=key_id,
                role=role,
                staff_id=staff_id,
                label=label,
                salt=salt,
                secret_hash=hash_secret(secret, salt),
                recorded_by=recorded_by,
                effective_at=self.clock(),
            )
        return self._save_new(key, key_id, "api_key"), f"{key_id}.{secret}"

    def revoke_api_key(self, *, key_id: str, recorded_by: str) -> WriteResult:
        now = self.clock()

        def command(key: ApiKey) -> None:
            key.revoke(recorded_by=recorded_by, effective_at=now)

        return self._update(ApiKey, key_id, "api_key", command)

    def authenticate(self, token: str) -> ApiKeyView | None:
        """The active key a token belongs to, or None."""
        key_id, sep, secret = token.partition(".")
        if not sep or not secret:
            return None
        try:
            key = self._read(ApiKey, key_id, "api_key", _key_secrets, field="key_id")
        except (NotFound, InvalidInput):
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        # The KDF is slow on purpose; a token verified once is remembered by its digest.
        if self._verified_tokens.get(digest) != key_id:
            if not hmac.compare_digest(hash_secret(secret, key.salt), key.secret_hash):
                return None
            _remember(self._verified_tokens, digest, key_id)
        if not key.active:
            return None
        return ApiKeyView(key_id=key.key_id, role=key.role, staff_id=key.staff_id, label=key.label)


MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class ApiKeyView:
    key_id: str
    role: str
    staff_id: str | None
    label: str


@dataclass(frozen=True)
class _Claim:
    scope: str
    key: str
    fingerprint: str


class _ClaimedMeanwhile(Exception):
    """A concurrent request with the same idempotency key committed first."""


# Set only while `Ledger.idempotent` runs a write, in that thread or task.
_pending_claim: ContextVar[_Claim | None] = ContextVar("ledger_idempotency_claim", default=None)


def _project(aggregate: Any, events: Any) -> Any:
    """The library's `project_aggregate` without its per-event `isinstance` check against
    a runtime protocol, which costs more than applying a small event."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


_REMEMBERED = 100_000
ORGANISATION_CACHE_SIZE = 10_000
_CACHED = (Unit, Staff, ApiKey)


@dataclass(frozen=True)
class _KeySecrets:
    key_id: str
    role: str
    staff_id: str | None
    label: str
    salt: str
    secret_hash: str
    active: bool


def _key_secrets(key: ApiKey) -> _KeySecrets:
    return _KeySecrets(
        key.key_id, key.role, key.staff_id, key.label, key.salt, key.secret_hash, key.active
    )


def _staff_view(staff: Staff) -> StaffView:
    return StaffView(
        staff_id=staff.staff_id,
        name=staff.name,
        unit_id=staff.unit_id,
        role=staff.role,
        status=staff.status,
        version=staff.version,
    )


def _kind_of(unit: Unit) -> str:
    return unit.kind


def _remember(memo: dict[str, Any], key: str, value: Any) -> None:
    if len(memo) >= _REMEMBERED:
        memo.clear()
    memo[key] = value


def _business_id(aggregate: Aggregate) -> str:
    for name in ("client_id", "staff_id", "unit_id", "key_id"):
        value = getattr(aggregate, name, None)
        if isinstance(value, str):
            return value
    return str(aggregate.id)
