"""The log's order is its recorded order (docs/ARCHITECTURE.md, Known at): a writer stamps
its events before the store's lock, so one stamped earlier can reach the store after one
stamped later (here: the clock set back, as a slow writer's would be). Its insert is refused,
nothing written, and its events are stamped again no earlier than the log's last recorded
time. On memory, SQLite and PostgreSQL; the bulk path too."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ledger.application import Ledger, imports
from ledger.domain import Client
from ledger.domain.base import recording_clock
from ledger.store.recorded_order import RecordedOutOfOrder
from support.scenario import ADMIN, Bank, Clock, domain_contacts, new_id, register
from support.stores import TwoLedgersOnOneStore


def new_client(bank: Bank, *, effective_at: datetime) -> Client:
    """A client registered in hand, not saved (stamped by the recording clock in force)."""
    return Client.register(
        client_id=new_id("C"),
        name="B",
        unit_id=bank.outlet,
        tier="standard",
        recorded_by=ADMIN,
        effective_at=effective_at,
    )


def recorded_times(ledger: Ledger) -> list[datetime]:
    """Every event's recorded time, in log order."""
    notifications = ledger.recorder.select_notifications(start=1, limit=100_000)
    return [ledger.mapper.to_domain_event(n).timestamp for n in notifications]


class RecordedOrderContract(TwoLedgersOnOneStore):
    """On each store: `database_url`, `clock`, `ledger` and `bank` from `TwoLedgersOnOneStore`."""

    def test_an_event_stamped_before_the_logs_last_is_recorded_no_earlier(
        self, ledger: Ledger, bank: Bank, clock: Clock
    ) -> None:
        first_at = clock.advance(hours=1)
        first = ledger.register_client(
            client_id=new_id("C"), name="A", unit_id=bank.outlet, recorded_by=ADMIN
        )
        clock.advance(minutes=-30)  # a writer that stamped before the first one inserted
        events = len(recorded_times(ledger))
        assert ledger.write_counts().restamps == 0
        late_id = register(ledger, bank, at=clock.now - timedelta(days=1))
        assert ledger.write_counts().restamps == 1  # /metrics: ledger_write_restamps
        history = ledger.client_history(late_id)
        assert first.recorded_at == first_at
        assert [e.recorded_at for e in history] == [first_at]
        times = recorded_times(ledger)
        assert len(times) == events + 1  # the refused insert wrote nothing
        assert times == sorted(times)

    def test_an_insert_stamped_before_the_logs_last_is_refused_and_writes_nothing(
        self, ledger: Ledger, bank: Bank, clock: Clock
    ) -> None:
        last = recorded_times(ledger)[-1]
        with recording_clock(lambda: last - timedelta(seconds=1)):
            client = new_client(bank, effective_at=last - timedelta(days=1))
        stored = [ledger.mapper.to_stored_event(e) for e in client.collect_events()]
        position = ledger.position
        with pytest.raises(RecordedOutOfOrder) as refused:
            ledger.recorder.insert_events(stored)
        assert refused.value.last == last
        assert ledger.position == position

    def test_a_profile_update_stamped_again_is_stored_as_given(
        self, ledger: Ledger, bank: Bank, clock: Clock
    ) -> None:
        """An insert refused for its stamp is encoded again: the first encoding sealed a
        profile update's changes in place (the event's own dict), and the second sealed the
        sealed text again, so the client read back held a token for a phone number."""
        client_id = register(ledger, bank, at=clock.now - timedelta(days=1))
        clock.advance(hours=1)
        ledger.register_client(client_id=new_id("C"), name="A", unit_id=bank.outlet, **by_admin())
        clock.advance(minutes=-30)
        ledger.update_profile(
            client_id=client_id,
            changes={"phone": "13800000000", "employer": "Acme"},
            recorded_by=ADMIN,
        )
        times = recorded_times(ledger)
        assert times == sorted(times)  # it was stamped again
        # Loaded from the store (a read never takes the client kept for commands).
        assert ledger.get_client(client_id).profile == {"phone": "13800000000", "employer": "Acme"}
        assert ledger.find_clients("phone", "13800000000") == [client_id]

    def test_a_client_stamped_again_is_snapshotted_as_recorded(
        self, ledger: Ledger, bank: Bank, clock: Clock
    ) -> None:
        """A new client saved with 100 events at once, stamped before the log's last: its
        events are stamped again, and so is the client in hand (created and modified at
        the new time), which the snapshot at version 100 is taken of."""
        first_at = clock.advance(hours=1)
        ledger.register_client(client_id=new_id("C"), name="A", unit_id=bank.outlet, **by_admin())
        clock.advance(minutes=-30)
        with recording_clock(clock):
            client = new_client(bank, effective_at=clock.now - timedelta(days=1))
            times = (clock.now - timedelta(hours=20, minutes=-minute) for minute in range(99))
            domain_contacts(client, bank.manager, times)
        ledger.save(client)
        assert (client.created_on, client.modified_on) == (first_at, first_at)
        assert ledger.snapshots is not None
        [snapshot] = ledger.snapshots.get(client.id)
        assert snapshot.originator_version == 100
        assert snapshot.state["_created_on"] == snapshot.state["_modified_on"] == first_at
        loaded = ledger.repository.get(client.id)
        assert (loaded.created_on, loaded.modified_on) == (first_at, first_at)

    @pytest.mark.parametrize("pipelined", [False, True])
    def test_a_bulk_load_stamped_before_the_logs_last_is_recorded_no_earlier(
        self,
        ledger: Ledger,
        bank: Bank,
        clock: Clock,
        pipelined: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if pipelined:  # inserted by a writer process of its own, where the store allows it
            monkeypatch.setattr(imports, "PIPELINED_ROWS", 1)
        latest = clock.advance(hours=1)
        ledger.register_client(client_id=new_id("C"), name="A", unit_id=bank.outlet, **by_admin())
        clock.advance(minutes=-30)
        rows = [
            (line, {"client_id": new_id("C"), "name": "W", "outlet": bank.outlet})
            for line in range(2, 12)
        ]
        report = ledger.import_clients(rows, recorded_by=ADMIN)
        assert report.imported == 10
        times = recorded_times(ledger)
        assert times == sorted(times)
        # Stamped again by the ledger's clock (a writer process: its own), never before.
        assert min(times[-10:]) >= latest


def by_admin() -> dict[str, str]:
    return {"recorded_by": ADMIN}


class TestRecordedOrderInMemory(RecordedOrderContract):
    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestRecordedOrderOnSQLite(RecordedOrderContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestRecordedOrderOnPostgres(RecordedOrderContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
