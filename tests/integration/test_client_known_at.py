"""A client as known at a time is its events up to the first recorded after that time, every
event looked at: the store leaves out those whose stored head shows them recorded by then
(ledger/store/recorded_order.py, `SHOWN_BY`), and a store written before the recorded-order
rule may hold a client's recorded times going back. On memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.domain import Client
from ledger.domain.base import recording_clock
from ledger.store.recorded_order import shown_by, stamp_bound
from support.scenario import ADMIN, Bank, Clock, register
from support.stores import TwoLedgersOnOneStore

WEST_5 = timezone(timedelta(hours=-5))


def _write_as_before_the_rule(ledger: Ledger, client_id: str, stamps: list[datetime]) -> None:
    """A contact recorded at each stamp, inserted unchecked, as a store written before the
    rule holds them (plain stored events carry no recorded time for the insert to check)."""
    client = ledger.repository.get(Client.id_for(client_id))
    for stamp in stamps:
        with recording_clock(lambda stamp=stamp: stamp):
            client.log_contact(
                channel="phone",
                staff_id=ADMIN,
                purpose=None,
                summary=None,
                recorded_by=ADMIN,
                effective_at=stamp,
            )
    stored = [ledger.mapper.to_stored_event(e) for e in client.collect_events()]
    ledger.recorder.insert_events(
        [StoredEvent(s.originator_id, s.originator_version, s.topic, s.state) for s in stored]
    )


def _prefix_known(recorded: list[datetime], known_at: datetime) -> int | None:
    """Every event read in order, up to the first recorded after `known_at`."""
    version = None
    for at_version, moment in enumerate(recorded, 1):
        if moment > known_at:
            break
        version = at_version
    return version


class ClientKnownAtContract(TwoLedgersOnOneStore):
    def test_every_event_counts_when_recorded_times_go_back(
        self, ledger: Ledger, bank: Bank, clock: Clock
    ) -> None:
        registered = clock.advance(hours=1)
        client_id = register(ledger, bank, at=registered - timedelta(days=1))
        stamps = [
            # Its text sorts before the UTC text of times before it.
            (registered + timedelta(hours=2, microseconds=5)).astimezone(WEST_5),
            registered + timedelta(hours=3),
            registered + timedelta(hours=1),  # back: before the rule
            registered + timedelta(hours=4),  # a whole second (its text has no fraction)
            registered + timedelta(hours=4, microseconds=1),
        ]
        _write_as_before_the_rule(ledger, client_id, stamps)
        recorded = [registered, *stamps]
        asked = [m + timedelta(microseconds=d) for m in recorded for d in (-1, 0, 1)]
        asked += [m.astimezone(WEST_5) for m in asked]
        asked += [registered + timedelta(hours=1, minutes=30)]

        for known_at in asked:
            expected = _prefix_known(recorded, known_at)
            if expected is None:
                with pytest.raises(Exception, match="client"):
                    ledger.get_client(client_id, known_at=known_at)
            else:
                assert ledger.get_client(client_id, known_at=known_at).version == expected
        # Recorded by then: the registration and the contact stamped back; known: the first.
        assert ledger.get_client(client_id, known_at=asked[-1]).version == 1
        assert ledger.get_client(client_id, known_at=stamps[1]).version == 4
        assert ledger.get_client(client_id, known_at=stamps[-1]).version == len(recorded)

    def test_the_store_leaves_out_exactly_the_heads_that_show_their_time(
        self, ledger: Ledger, bank: Bank, clock: Clock
    ) -> None:
        registered = clock.advance(hours=1)
        client_id = register(ledger, bank, at=registered - timedelta(days=1))
        stamps = [registered + timedelta(hours=h, microseconds=h % 2) for h in range(1, 5)]
        stamps.append((registered + timedelta(hours=5)).astimezone(WEST_5))
        _write_as_before_the_rule(ledger, client_id, stamps)
        subject = Client.id_for(client_id)
        before = stamp_bound(registered - timedelta(days=1))
        heads = ledger.recorder.heads_not_shown_by(subject, before, (0, 99), 99)
        assert [v for v, _ in heads] == list(range(1, len(stamps) + 2))
        for known_at in [registered, *stamps, stamps[1] - timedelta(microseconds=1)]:
            bound = stamp_bound(known_at)
            left = ledger.recorder.heads_not_shown_by(subject, bound, (0, 99), 99)
            assert left == [(v, h) for v, h in heads if not shown_by(h, bound)]
            # Shown: recorded by then; the UTC-5 head is never shown, whatever its time.
            assert [v for v, _ in left] == [
                v for v, moment in enumerate([registered, *stamps], 1) if moment > known_at
            ] + ([6] if stamps[-1] <= known_at else [])
        assert ledger.recorder.heads_not_shown_by(subject, before, (2, 4), 1) == heads[2:3]


class TestClientKnownAtInMemory(ClientKnownAtContract):
    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestClientKnownAtOnSQLite(ClientKnownAtContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestClientKnownAtOnPostgres(ClientKnownAtContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
