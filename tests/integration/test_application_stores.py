"""The application on each store: what it writes it reads back, one command is one
transaction, concurrent writers are kept apart, and a long-lived client loads from a snapshot.

One abstract test class; one subclass per store (memory, SQLite, PostgreSQL).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.application import Ledger
from ledger.application.organisation_cache import fresh_reads
from ledger.domain import (
    AlreadyExists,
    Client,
    LedgerError,
    RuleViolation,
    StaleVersion,
    Unit,
)
from ledger.store.postgres import PING_IDLE_AFTER, IdlePing
from support.scenario import (
    ADMIN,
    NOW,
    STAFF_SINCE,
    Bank,
    Clock,
    by,
    domain_contacts,
    log_contacts,
    new_id,
    register,
    run_together,
)
from support.stores import TwoLedgersOnOneStore

SHANGHAI = timezone(timedelta(hours=8))
CONTACTS = 10_000


class ApplicationStoreContract(TwoLedgersOnOneStore):
    """What every store must do for the application. Subclasses supply `database_url`."""

    # ---- round trip --------------------------------------------------------------

    def test_every_aggregate_reads_back_as_written(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        registered = datetime(2025, 4, 1, 9, 30, tzinfo=SHANGHAI)
        client_id = new_id("C")
        ledger.register_client(
            client_id=client_id,
            name="陈静",
            unit_id=bank.outlet,
            tier="gold",
            occurred_at=registered,
            source="personal_network",
            **by(),
        )
        ledger.appoint_head(
            unit_id=bank.outlet, staff_id=bank.director, effective_at=STAFF_SINCE, **by()
        )
        ledger.transfer_staff(
            staff_id=bank.other_manager, unit_id=bank.sub_branch, effective_at=NOW, **by()
        )
        ledger.depart_staff(staff_id=bank.president, reason="retired", effective_at=NOW, **by())
        ledger.update_profile(
            client_id=client_id,
            changes={"address": "上海市浦东新区", "risk_appetite": "balanced", "hobbies": None},
            **by(),
        )
        ledger.report_assets(
            client_id=client_id, amount="6543210.07", as_of=date(2025, 6, 1), **by()
        )
        ledger.assign(
            client_id=client_id,
            staff_id=bank.manager,
            reason="name list",
            effective_at=registered,
            **by(),
        )
        contact = ledger.log_contact(
            client_id=client_id,
            channel="wechat",
            staff_id=bank.manager,
            occurred_at=datetime(2025, 6, 10, 20, 0, tzinfo=SHANGHAI),
            summary="中秋问候",
            **by(),
        )
        ledger.change_tier(
            client_id=client_id, tier="platinum", reason="assets", effective_at=NOW, **by()
        )
        written = ledger.get_client(client_id)
        history = ledger.client_history(client_id)

        reread = other_ledger.get_client(client_id)
        assert reread == written
        assert reread.assets_amount == Decimal("6543210.07")
        assert reread.assets_as_of == date(2025, 6, 1)
        assert reread.profile == {"address": "上海市浦东新区", "risk_appetite": "balanced"}
        assert (reread.tier, reread.designated_manager) == ("platinum", bank.manager)
        assert reread.team["outlet_director"] == bank.director
        assert reread.last_contact_at == datetime(2025, 6, 10, 20, 0, tzinfo=SHANGHAI)
        assert reread.last_contact_at is not None
        assert reread.last_contact_at.utcoffset() == timedelta(hours=8)
        reread_history = other_ledger.client_history(client_id)
        assert reread_history == history
        assert reread_history[0].occurred_at.utcoffset() == timedelta(hours=8)
        assert reread_history[0].recorded_at == NOW
        assert reread_history[-2].event_id == contact.event_id
        assert reread_history[-2].data["summary"] == "中秋问候"

        assert other_ledger.get_unit(bank.outlet) == ledger.get_unit(bank.outlet)
        assert other_ledger.get_unit(bank.outlet).head_staff_id == bank.director
        assert other_ledger.get_unit(bank.sub_branch).children == [bank.outlet]
        assert other_ledger.get_staff(bank.other_manager).unit_id == bank.sub_branch
        assert other_ledger.get_staff(bank.president).status == "departed"
        assert other_ledger.unit_ancestry(bank.outlet)[-1] == bank.branch
        assert other_ledger.position == ledger.position

    # ---- one command, one transaction --------------------------------------------

    def test_creating_a_child_unit_stores_both_events_together(
        self, ledger: Ledger, bank: Bank
    ) -> None:
        before = ledger.position
        outlet = new_id("OUT")
        result = ledger.create_unit(
            unit_id=outlet, name="Outlet 2", kind="outlet", parent_id=bank.sub_branch, **by()
        )
        assert ledger.position == before + 2
        assert result.position == before + 1
        notifications = ledger.notification_log.select(start=before + 1, limit=10)
        assert [n.originator_id for n in notifications] == [
            Unit.id_for(outlet),
            Unit.id_for(bank.sub_branch),
        ]
        assert notifications[1].topic.endswith("Unit.ChildAttached")

    def test_a_command_whose_second_event_conflicts_stores_neither(
        self, ledger: Ledger, bank: Bank
    ) -> None:
        # The store half of atomicity: a new unit saved with a stale parent must not land.
        parent = ledger.repository.get(Unit.id_for(bank.sub_branch))
        stale_parent = ledger.repository.get(Unit.id_for(bank.sub_branch))
        parent.attach_child(child_id="first", recorded_by=ADMIN, effective_at=NOW)
        ledger.save(parent)
        before = ledger.position
        child = Unit.create(
            unit_id=new_id("OUT"),
            name="Late",
            kind="outlet",
            parent=stale_parent,
            recorded_by=ADMIN,
            effective_at=NOW,
        )
        stale_parent.attach_child(child_id=child.unit_id, recorded_by=ADMIN, effective_at=NOW)
        with pytest.raises(IntegrityError):
            ledger.save(child, stale_parent)
        assert ledger.position == before
        assert child.id not in ledger.repository

    def test_a_rejected_command_leaves_no_event_behind(self, ledger: Ledger, bank: Bank) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))
        ledger.churn(client_id=client_id, kind="abnormal", reason="lost", effective_at=NOW, **by())
        before = ledger.position
        with pytest.raises(RuleViolation):
            ledger.log_contact(
                client_id=client_id,
                channel="visit",
                staff_id=bank.manager,
                occurred_at=NOW,
                **by(),
            )
        with pytest.raises(AlreadyExists):
            ledger.register_client(client_id=client_id, name="Twin", unit_id=bank.outlet, **by())
        with pytest.raises(AlreadyExists):
            ledger.create_unit(
                unit_id=bank.outlet,
                name="Twin",
                kind="outlet",
                parent_id=bank.sub_branch,
                **by(),
            )
        assert ledger.position == before
        assert ledger.get_unit(bank.sub_branch).children == [bank.outlet]
        assert [e.type for e in ledger.client_history(client_id)] == ["Registered", "Churned"]

    # ---- concurrency -------------------------------------------------------------

    def test_of_two_concurrent_registrations_of_one_client_id_exactly_one_wins(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        for _ in range(3):
            client_id = new_id("C")

            def registration(app: Ledger, name: str, client_id: str = client_id) -> Any:
                return lambda: app.register_client(
                    client_id=client_id, name=name, unit_id=bank.outlet, **by()
                )

            outcomes = run_together(
                registration(ledger, "First"), registration(other_ledger, "Second")
            )
            winners = [o for o in outcomes if not isinstance(o, Exception)]
            losers = [o for o in outcomes if isinstance(o, Exception)]
            assert len(winners) == 1, outcomes
            assert len(losers) == 1 and isinstance(losers[0], AlreadyExists), outcomes
            assert winners[0].version == 1
            assert [e.type for e in ledger.client_history(client_id)] == ["Registered"]

    def test_concurrent_contacts_on_one_client_all_land(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))
        per_thread = 5
        apps = [ledger, other_ledger, ledger, other_ledger]

        def log_contacts(app: Ledger, thread: int) -> list[int]:
            versions = []
            for i in range(per_thread):
                result = app.log_contact(
                    client_id=client_id,
                    channel="phone",
                    staff_id=bank.manager,
                    occurred_at=NOW - timedelta(hours=thread * per_thread + i),
                    **by(),
                )
                versions.append(result.version)
            return versions

        outcomes = run_together(
            *((lambda app=app, n=n: log_contacts(app, n)) for n, app in enumerate(apps))
        )
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert not errors, errors
        versions = sorted(v for vs in outcomes for v in vs)
        assert versions == list(range(2, 2 + len(apps) * per_thread))
        history = ledger.client_history(client_id)
        assert len(history) == 1 + len(apps) * per_thread
        assert ledger.get_client(client_id).last_contact_at == NOW

    def test_of_two_concurrent_writes_at_one_expected_version_exactly_one_wins(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))

        def tier_change(app: Ledger, tier: str) -> Any:
            return lambda: app.change_tier(
                client_id=client_id,
                tier=tier,
                reason="r",
                effective_at=NOW,
                expected_version=1,
                **by(),
            )

        outcomes = run_together(tier_change(ledger, "gold"), tier_change(other_ledger, "diamond"))
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, Exception)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1 and isinstance(losers[0], StaleVersion), outcomes
        assert ledger.get_client(client_id).version == 2
        assert ledger.get_client(client_id).tier in ("gold", "diamond")

    def test_concurrent_child_units_under_one_parent_all_land(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        outlets = [new_id("OUT") for _ in range(4)]
        apps = [ledger, other_ledger, ledger, other_ledger]
        outcomes = run_together(
            *(
                (
                    lambda app=app, unit_id=unit_id: app.create_unit(
                        unit_id=unit_id,
                        name="Outlet",
                        kind="outlet",
                        parent_id=bank.sub_branch,
                        **by(),
                    )
                )
                for app, unit_id in zip(apps, outlets, strict=True)
            )
        )
        errors = [o for o in outcomes if isinstance(o, Exception)]
        # A lost race may be refused cleanly, never with a bare store error.
        assert all(isinstance(e, LedgerError) for e in errors), errors
        assert not errors, errors
        assert sorted(ledger.get_unit(bank.sub_branch).children) == sorted([bank.outlet, *outlets])

    # ---- the organisation cache -----------------------------------------------------

    def test_a_staff_member_read_by_one_ledger_is_seen_departed_after_another_records_it(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))
        assert ledger.get_staff(bank.manager).status == "active"
        other_ledger.depart_staff(
            staff_id=bank.manager, reason="left", effective_at=NOW - timedelta(days=1), **by()
        )
        assert ledger.get_staff(bank.manager).status == "departed"
        with pytest.raises(RuleViolation) as refused:
            ledger.log_contact(
                client_id=client_id, channel="phone", staff_id=bank.manager, occurred_at=NOW, **by()
            )
        assert refused.value.rule == "staff_departed"

    def test_a_refused_command_leaves_the_cached_unit_as_stored(
        self, ledger: Ledger, bank: Bank
    ) -> None:
        before = ledger.get_unit(bank.outlet)
        with pytest.raises(LedgerError):
            ledger.appoint_head(unit_id=bank.outlet, staff_id="nobody", effective_at=NOW, **by())
        with pytest.raises(LedgerError):
            ledger.create_unit(
                unit_id=bank.outlet, name="Again", kind="outlet", parent_id=bank.sub_branch, **by()
            )
        assert ledger.get_unit(bank.outlet) == before
        assert ledger.get_unit(bank.sub_branch).children == [bank.outlet]

    @pytest.mark.parametrize("here", [True, False], ids=["written-here", "written-elsewhere"])
    @pytest.mark.parametrize("fresh", [False, True], ids=["looks", "fresh-looks"])
    def test_concurrent_reads_of_a_staff_member_being_transferred_never_fail(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank, here: bool, fresh: bool
    ) -> None:
        """Plain looks fast-forward from the store; fresh ones (a request's) are told of
        changes by the log watch (ledger.application.organisation_cache)."""
        units = [bank.sub_branch, bank.outlet]  # the manager starts in the outlet
        transfers = 20
        writer = ledger if here else other_ledger

        def transfer() -> str:
            for n in range(transfers):
                writer.transfer_staff(
                    staff_id=bank.other_manager,
                    unit_id=units[n % 2],
                    effective_at=NOW - timedelta(minutes=transfers - n),
                    **by(),
                )
            return units[(transfers - 1) % 2]

        def read() -> set[str]:
            seen = set()
            for _ in range(100):
                with fresh_reads() if fresh else contextlib.nullcontext():
                    seen.add(ledger.get_staff(bank.other_manager).unit_id)
            return seen

        outcomes = run_together(transfer, *(read for _ in range(6)))
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert not errors, errors
        assert all(seen <= {*units} for seen in outcomes[1:])
        with fresh_reads() if fresh else contextlib.nullcontext():
            assert ledger.get_staff(bank.other_manager).unit_id == outcomes[0]
        assert other_ledger.get_staff(bank.other_manager).unit_id == outcomes[0]

    # ---- a client with a long history --------------------------------------------

    def test_a_client_loaded_from_a_snapshot_equals_its_full_replay(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank, clock: Clock
    ) -> None:
        start = NOW - timedelta(days=50)
        client_id = register(ledger, bank, at=start)
        early = ledger.log_contact(
            client_id=client_id,
            channel="visit",
            staff_id=bank.manager,
            occurred_at=start + timedelta(days=40),
            **by(),
        )
        ledger.update_profile(
            client_id=client_id,
            changes={"phone": "1", "employer": "Acme"},
            effective_at=start,
            **by(),
        )
        ledger.report_assets(client_id=client_id, amount="10.01", as_of=date(2025, 5, 1), **by())
        ledger.assign(
            client_id=client_id, staff_id=bank.manager, reason="r", effective_at=start, **by()
        )
        ledger.change_tier(
            client_id=client_id, tier="diamond", reason="r", effective_at=start, **by()
        )
        churn = ledger.churn(
            client_id=client_id,
            kind="abnormal",
            reason="r",
            effective_at=start + timedelta(days=41),
            **by(),
        )
        ledger.determine(
            client_id=client_id, case_id=churn.event_id, outcome="confirmed", reason="r", **by()
        )
        ledger.reactivate(
            client_id=client_id, reason="back", effective_at=start + timedelta(days=42), **by()
        )
        times = (start + timedelta(days=42, minutes=i) for i in range(100))
        log_contacts(ledger, client_id, bank.manager, times)
        assert ledger.snapshots is not None
        assert list(ledger.snapshots.get(Client.id_for(client_id)))
        # After the snapshot: retract an event from before it, and fold more facts in.
        clock.advance(minutes=1)
        ledger.retract(client_id=client_id, event_id=early.event_id, reason="r", **by())
        ledger.update_profile(client_id=client_id, changes={"phone": None}, **by())

        client_uuid = Client.id_for(client_id)
        replayed = None
        for event in other_ledger.events.get(client_uuid):
            replayed = event.mutate(replayed)
        assert replayed is not None
        from_snapshot = other_ledger.repository.get(client_uuid)
        for at in (start, start + timedelta(days=41, hours=1), NOW, clock.now):
            assert from_snapshot.state_at(at) == replayed.state_at(at)
        state = from_snapshot.state_at(clock.now)
        assert state.profile == {"employer": "Acme"}
        assert state.assets_amount == Decimal("10.01")
        assert state.determinations[churn.event_id]["outcome"] == "confirmed"
        with pytest.raises(RuleViolation) as info:
            other_ledger.retract(client_id=client_id, event_id=early.event_id, reason="r", **by())
        assert info.value.rule == "already_retracted"

    def test_a_snapshot_taken_on_save_is_the_recorded_state_at_its_version(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A save at a snapshot interval snapshots the aggregate in hand, not one loaded
        again from the store; unless the interval falls before the last event of the save,
        which the library's own `take_snapshot` loads. Either way the snapshot holds what
        replaying the recorded events to its version gives."""
        reloaded: list[int | None] = []
        library_take = ledger.take_snapshot

        def counted(aggregate_id: Any, version: int | None = None, **kwargs: Any) -> None:
            reloaded.append(version)
            library_take(aggregate_id, version, **kwargs)

        monkeypatch.setattr(ledger, "take_snapshot", counted)
        start = NOW - timedelta(days=50)
        client_id = register(ledger, bank, at=start)
        client_uuid = Client.id_for(client_id)
        ledger.update_profile(
            client_id=client_id, changes={"phone": "1", "employer": "Acme"}, **by()
        )
        ledger.report_assets(client_id=client_id, amount="10.01", as_of=date(2025, 5, 1), **by())
        ledger.change_tier(
            client_id=client_id, tier="diamond", reason="r", effective_at=start, **by()
        )
        # Each command one event: the 100th is saved alone, in hand at its version.
        log_contacts(
            ledger,
            client_id,
            bank.manager,
            (start + timedelta(days=1, minutes=i) for i in range(96)),
        )
        assert ledger.repository.get(client_uuid).version == 100
        assert reloaded == []
        # 105 events in one save, the interval at the 100th of them: the library's way.
        client = ledger.repository.get(client_uuid)
        times = (start + timedelta(days=2, minutes=i) for i in range(105))
        domain_contacts(client, bank.manager, times, channel="visit")
        ledger.save(client)
        assert client.version == 205
        assert reloaded == [200]

        assert other_ledger.snapshots is not None
        snapshots = list(other_ledger.snapshots.get(client_uuid))
        assert [s.originator_version for s in snapshots] == [100, 200]
        transcoder = other_ledger.mapper.transcoder
        for snapshot in snapshots:
            replayed = None
            for event in other_ledger.events.get(client_uuid, lte=snapshot.originator_version):
                replayed = event.mutate(replayed)
            expected = type(snapshot).take(replayed).state
            # As stored: what JSON makes of it (a tuple is read back as a list).
            assert snapshot.state == transcoder.decode(transcoder.encode(expected))
            assert snapshot.state["_modified_on"] == replayed.modified_on

    def test_a_client_with_ten_thousand_contacts_loads_from_a_snapshot(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        start = NOW - timedelta(days=300)
        client_id = register(ledger, bank, at=start)
        client_uuid = Client.id_for(client_id)
        # Filling through the domain in batches keeps this test fast; the service's own
        # write path (one load and save per contact) is timed in bench/contacts.py.
        client = ledger.repository.get(client_uuid)
        batch = 500
        for first in range(0, CONTACTS - 10, batch):
            upto = min(first + batch, CONTACTS - 10)
            domain_contacts(
                client, bank.manager, (start + timedelta(minutes=i + 1) for i in range(first, upto))
            )
            ledger.save(client)
        # The last few go through the service, which loads from the snapshot each time.
        times = (start + timedelta(minutes=i + 1) for i in range(CONTACTS - 10, CONTACTS))
        log_contacts(ledger, client_id, bank.manager, times, channel="visit")
        assert ledger.snapshots is not None
        snapshot = next(iter(ledger.snapshots.get(client_uuid, desc=True, limit=1)))
        assert snapshot.originator_version >= CONTACTS - 100

        read = count_events_read(other_ledger, client_uuid)
        started = time.perf_counter()
        state = other_ledger.get_client(client_id)
        elapsed = time.perf_counter() - started
        assert state.version == CONTACTS + 1
        assert state.last_contact_at == start + timedelta(minutes=CONTACTS)
        # Loading reads the snapshot and at most one interval of events, not 10,001.
        assert 0 < read["events"] <= 100, read
        print(f"\nloaded a {CONTACTS}-contact client in {elapsed * 1000:.1f} ms, {read}")

        history = other_ledger.client_history(client_id)
        assert len(history) == CONTACTS + 1
        positions = [entry.position for entry in history]
        assert None not in positions
        assert all(a < b for a, b in itertools.pairwise(positions))

    def test_a_name_list_is_written_once_and_known_clients_are_skipped(
        self, ledger: Ledger, bank: Bank
    ) -> None:
        rows = [
            (line, {"client_id": new_id("C"), "name": "Wang Fang", "outlet": bank.outlet})
            for line in range(2, 2 + 1200)  # more than one query's worth of known ids
        ]
        before = ledger.position
        first = ledger.import_clients(rows[:700], recorded_by=ADMIN)
        assert (first.imported, first.skipped, first.events) == (700, 0, 700)
        again = ledger.import_clients(rows, recorded_by=ADMIN)
        assert (again.imported, again.skipped, again.events) == (500, 700, 500)
        assert ledger.position == before + 1200
        assert ledger.get_client(rows[-1][1]["client_id"]).unit_id == bank.outlet


def count_events_read(ledger: Ledger, originator_id: Any) -> dict[str, int]:
    """Count the stored events `ledger` reads for one aggregate from now on."""
    read = {"events": 0}
    select_events = ledger.recorder.select_events

    def counting(*args: Any, **kwargs: Any) -> Any:
        records = select_events(*args, **kwargs)
        asked_for = kwargs.get("originator_id", args[0] if args else None)
        if str(asked_for) == str(originator_id):
            read["events"] += len(records)
        return records

    ledger.recorder.select_events = counting  # type: ignore[method-assign]
    return read


class TestApplicationInMemory(ApplicationStoreContract):
    shared_between_instances = False

    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestApplicationOnSQLite(ApplicationStoreContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    def test_the_file_is_in_wal_mode_and_syncs_normally(self, ledger: Ledger) -> None:
        with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
        assert (journal, synchronous) == ("wal", 1)

    def test_readers_are_not_held_up_by_writers_queued_behind_a_writer(
        self, ledger: Ledger, bank: Bank
    ) -> None:
        pool = ledger.recorder.datastore.pool  # type: ignore[attr-defined]
        writer = pool.get_connection(is_writer=True)
        queued = threading.Thread(
            target=lambda: pool.put_connection(pool.get_connection(is_writer=True))
        )
        queued.start()
        time.sleep(0.1)
        try:
            started = time.perf_counter()
            assert ledger.get_staff(bank.manager).status == "active"
            assert time.perf_counter() - started < 1
            assert queued.is_alive()
        finally:
            pool.put_connection(writer)
            queued.join(timeout=10)
        assert not queued.is_alive()


class TestApplicationOnPostgres(ApplicationStoreContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url

    def test_the_pool_pings_only_connections_idle_a_while(self, ledger: Ledger) -> None:
        pool = ledger.recorder.datastore.pool  # type: ignore[attr-defined]
        assert isinstance(pool._check, IdlePing)
        assert pool._check.after == PING_IDLE_AFTER
