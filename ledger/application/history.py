"""Time travel: a client as the world was at one time (`as_of`, effective time), as the
ledger knew it at another (`known_at`, recorded time), and every event it holds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.application.caches import Memo
from ledger.application.organisation import OrganisationUseCases
from ledger.application.results import type_name
from ledger.domain import Client, ClientState, InvalidInput, NotFound, Unit
from ledger.domain.values import OUTLET_DIRECTOR, check_aware, event_ids
from ledger.store.aggregate_rows import StoredRow
from ledger.store.recorded_order import recorded_time, stamp_bound

A = TypeVar("A", bound=Aggregate)

_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
_TIME_FIELDS = {"recorded_by", "effective_at"}
_NOT_DATA = frozenset(_BASE_FIELDS | _TIME_FIELDS)
# Events a known-at read takes at a time whose heads do not show them recorded by then: the
# first is mostly the answer; a store of another form reads them all, this many at a time.
HEADS_READ = 100


def event_data(event: Any) -> dict[str, Any]:
    """An event's own fields: what it says beyond where it sits and when it was recorded.
    Read as attributes, not from `vars(event)`: a personal value is opened on first read
    (ledger.privacy.deferred)."""
    return {key: getattr(event, key) for key in vars(event) if key not in _NOT_DATA}


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


def _history_cursor(cursor: str | None, version: int) -> int:
    """The version a history page starts after: a page's `next_cursor`, at most the
    client's version."""
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or not 1 <= int(cursor) <= version:
        raise InvalidInput("cursor", "is not a next_cursor of this client's history")
    return int(cursor)


class HistoryUseCases(OrganisationUseCases):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A client's home unit never changes once recorded, so no process can make it stale.
        self._client_units: Memo[str] = Memo()

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
        client = self.load(Client, client_id)
        unit: Unit | None = self.load(Unit, client.unit_id)
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

    def client_unit(self, client_id: str) -> str:
        unit_id = self._client_units.get(client_id)
        if unit_id is None:
            unit_id = self.load(Client, client_id).unit_id
            self._client_units.remember(client_id, unit_id)
        return unit_id

    def client_history(self, client_id: str) -> list[HistoryEntry]:
        rows, _ = self.client_history_rows(client_id)
        return self._entries(rows)

    def client_history_rows(
        self, client_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Every event of the client, or with `limit` (or `cursor`) a page of them, and the
        page's `next_cursor`: each a dict of `HistoryEntry`'s fields but its hash, in the
        order the API's `HistoryEventPublic` names them (the API writes them to JSON as
        they are: a model per event was a tenth of a 10,000-event history's CPU).

        A page is read by version range: a page of a 10,000-event client costs what a page
        of a short one does, and which events were retracted, and by what, is the client's
        own record of it (from its snapshot), not a read of every event."""
        recorder: Any = self.recorder
        if limit is None and cursor is None:
            client_uuid = Client.id_for(client_id)
            stored = recorder.aggregate_rows(client_uuid)
            if not stored:
                raise NotFound("client", client_id)
            return self._rows(client_uuid, stored), None
        client = self.load(Client, client_id)
        after = _history_cursor(cursor, client.version)
        versions = (after, client.version)
        stored = recorder.aggregate_rows(client.id, versions, -1 if limit is None else limit)
        upto = stored[-1][0] if stored else after
        rows = self._rows(client.id, stored, dict(client.retracted))
        return rows, str(upto) if upto < client.version else None

    def _rows(
        self,
        originator_id: UUID,
        stored: list[StoredRow],
        retracted_by: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """`stored` as `client_history_rows` answers them; `retracted_by` (retracted event
        id: retraction's id) unless `stored` are every event of the aggregate. Made from
        the stored state, not the event: an event, its `SealedValue`s and the positions
        read apart were a third of a long history's CPU."""
        states = self.mapper.opened_states(originator_id, stored)  # type: ignore[attr-defined]
        ids = event_ids(originator_id)
        if retracted_by is None:
            retracted_by = {
                state["retracted_event_id"]: ids(row[0])
                for row, (cls, state) in zip(stored, states, strict=True)
                if issubclass(cls, Client.EventRetracted)
            }
        rows = []
        for (version, _, _, position), (cls, state) in zip(stored, states, strict=True):
            eid = ids(version)
            # The state less `_NOT_DATA` is the event's data (a stored state holds no
            # originator id or version): taken out, not a dict made without them.
            occurred_at, recorded_at = state.pop("effective_at"), state.pop("timestamp")
            recorded_by = state.pop("recorded_by")
            state.pop("originator_topic", None)
            rows.append(
                {
                    "event_id": eid,
                    "type": type_name(cls),
                    "version": version,
                    "position": position,
                    "occurred_at": occurred_at,
                    "recorded_at": recorded_at,
                    "recorded_by": recorded_by,
                    "data": state,
                    "retracted_by": retracted_by.get(eid),
                }
            )
        return rows

    def _entries(self, rows: list[dict[str, Any]]) -> list[HistoryEntry]:
        """`rows` as entries, each with its link in the hash chain."""
        recorder: Any = self.recorder
        hashes = recorder.hashes_at(r["position"] for r in rows if r["position"] is not None)
        entries = []
        for row in rows:
            chain_hash = hashes.get(row["position"])
            entries.append(
                HistoryEntry(**row, hash=chain_hash.hex() if chain_hash is not None else None)
            )
        return entries

    # ---- known-at -------------------------------------------------------------------

    def _as_known_at(self, aggregate: A, known_at: datetime) -> A | None:
        """The aggregate as the ledger held it at `known_at` (None if not yet recorded)."""
        version = self._version_known_at(aggregate, known_at)
        if version is None:
            return None
        if version < aggregate.version:
            return self.repository.get(aggregate.id, version=version)  # type: ignore[return-value]
        return aggregate

    def _version_known_at(self, aggregate: Aggregate, known_at: datetime) -> int | None:
        """The version before the first event recorded after `known_at` (None: the first
        is). Every event is looked at, in version order: recorded times may go back within
        an aggregate written before the recorded-order rule, so none is skipped. The store
        leaves out the events whose state's head shows them recorded by then (most, in C);
        the rest are read here, and decoded only if their head cannot say. A client with
        10,000 events, every head read and parsed here: 20 ms of CPU on SQLite (30 ms on
        PostgreSQL, wall-clock); scanned by the store: 4 (3)."""
        recorder: Any = self.recorder
        bound, after = stamp_bound(known_at), 0
        while True:
            heads = recorder.heads_not_shown_by(
                aggregate.id, bound, (after, aggregate.version), HEADS_READ
            )
            for at_version, head in heads:
                recorded = recorded_time(head)
                if recorded is None:
                    (event,) = self.events.get(aggregate.id, gt=at_version - 1, lte=at_version)
                    recorded = event.timestamp
                if recorded > known_at:
                    return at_version - 1 or None
            if len(heads) < HEADS_READ:
                return aggregate.version
            after = heads[-1][0]
