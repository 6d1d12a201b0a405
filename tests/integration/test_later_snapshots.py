"""A rollback: a snapshot taken by a later version of the ledger (a later state version of
its aggregate class) is passed over, and the aggregate replayed from its events, which
every version reads (`application.caches.KnownSnapshots`). On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from eventsourcing.domain import Snapshot

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import Client
from support.scenario import NOW, STAFF_SINCE, build_bank, by, register


class LaterSnapshotCase:
    """Abstract: subclasses give `database_url`."""

    def test_a_snapshot_of_a_later_state_version_is_passed_over(self, database_url: str) -> None:
        writer = build(Settings(database_url=database_url))
        ledger = writer.ledger
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        client_id = register(ledger, bank, at=NOW - timedelta(days=400))
        for day in range(150):
            as_of = (NOW - timedelta(days=300 - day)).date()
            ledger.report_assets(client_id=client_id, amount=f"{100 + day}.00", as_of=as_of, **by())
        key = Client.id_for(client_id)
        client = ledger.repository.get(key)
        # What a later version would have written: another shape, another state version.
        state = {**Snapshot.take(client).state, "class_version": Client.class_version + 1}
        state["assets"] = {"kept": "elsewhere"}
        later = Snapshot(  # type: ignore[call-arg]
            originator_id=key,
            originator_version=client.version,
            timestamp=client.modified_on,
            topic=Snapshot.take(client).topic,
            state=state,
        )
        assert ledger.snapshots is not None
        ledger.snapshots.put([later])
        writer.close()

        reader = build(Settings(database_url=database_url))
        try:
            read = reader.ledger.repository.get(key)
            assert read.version == client.version
            assert read.assets == client.assets
            assert read.assets_at(NOW)[0] == Decimal("249.00")
            # The rest goes on as before: a new statement, a retraction.
            reader.ledger.report_assets(
                client_id=client_id, amount="5.00", as_of=NOW.date(), **by()
            )
            assert reader.ledger.repository.get(key).assets_at(NOW + timedelta(days=1))[0] == (
                Decimal("5.00")
            )
        finally:
            reader.close()


class TestLaterSnapshotOnSQLite(LaterSnapshotCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestLaterSnapshotOnPostgres(LaterSnapshotCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
