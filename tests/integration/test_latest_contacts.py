"""The maintenance view's latest contact per client, staff member and channel
(`maintenance_latest.py`), which a client's standing reads instead of every contact it ever
had: it holds what grouping the contacts gives, through backdated contacts and retractions
(of a group's latest, and of a group's only contact), after a rebuild, and when a view built
before it fills it at its next start; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.projections.kit.text import utc_text
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import ProjectionCase
from support.scenario import NOW, STAFF_SINCE, build_bank, by, register

LATEST = "maintenance_contacts_latest"
GROUPED = (
    "SELECT aid, staff_id, channel, MAX(occurred_at) AS occurred_at FROM maintenance_contacts "
    "GROUP BY aid, staff_id, channel"
)


def rows(container: Container, statement: str) -> set[tuple[Any, ...]]:
    view = container.views.by_name["maintenance"]
    return {
        (row["aid"], row["staff_id"], row["channel"], row["occurred_at"])
        for row in view.query(statement)
    }


def kept(container: Container) -> set[tuple[Any, ...]]:
    return rows(container, f"SELECT aid, staff_id, channel, occurred_at FROM {LATEST}")


def by_client(container: Container) -> dict[tuple[str, str], str]:
    """The kept rows by (staff member, channel), for the one client of the scenario."""
    return {(staff, channel): at for _, staff, channel, at in kept(container)}


class LatestContactsCase(ProjectionCase):
    """Abstract: subclasses give `database_url`."""

    def test_the_latest_per_member_and_channel_through_retractions(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        ledger, runner = container.ledger, projections
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        client = register(ledger, bank, at=NOW - timedelta(days=50), tier="gold")

        def contact(staff: str, channel: str, days_ago: int) -> str:
            written = ledger.log_contact(
                client_id=client,
                channel=channel,
                staff_id=staff,
                occurred_at=NOW - timedelta(days=days_ago),
                **by(),
            )
            return written.event_id

        def day(days_ago: int) -> str:
            return utc_text(NOW - timedelta(days=days_ago))

        manager, other = bank.manager, bank.other_manager
        contact(manager, "phone", 40)
        latest_phone = contact(manager, "phone", 10)
        contact(manager, "phone", 20)  # backdated: not the latest
        only_visit = contact(manager, "visit", 15)
        contact(other, "phone", 5)
        runner.catch_up()
        assert by_client(container) == {
            (manager, "phone"): day(10),
            (manager, "visit"): day(15),
            (other, "phone"): day(5),
        }

        # In one batch: a retraction of a group's latest, then of a group's only contact,
        # then a contact after them.
        for event_id in (latest_phone, only_visit):
            ledger.retract(client_id=client, event_id=event_id, reason="wrong client", **by())
        contact(other, "phone", 2)
        runner.catch_up()
        expected = {(manager, "phone"): day(20), (other, "phone"): day(2)}
        assert by_client(container) == expected
        assert kept(container) == rows(container, GROUPED)

        runner.rebuild(["maintenance"])
        assert by_client(container) == expected

    def test_a_view_built_before_it_fills_it_at_its_next_start(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        ledger = container.ledger
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        for days_ago in (30, 20):
            client = register(ledger, bank, at=NOW - timedelta(days=50), tier="gold")
            for staff, channel in ((bank.manager, "phone"), (bank.director, "visit")):
                ledger.log_contact(
                    client_id=client,
                    channel=channel,
                    staff_id=staff,
                    occurred_at=NOW - timedelta(days=days_ago),
                    **by(),
                )
        projections.catch_up()
        before = kept(container)
        assert len(before) == 4 and before == rows(container, GROUPED)
        view = container.views.by_name["maintenance"]
        with view.transaction() as c:
            c.execute(f"DELETE FROM {LATEST}")
            c.execute(f"DROP TABLE {LATEST}_kept")
        assert kept(container) == set()

        again = build(Settings(database_url=database_url))
        try:
            assert kept(again) == before
        finally:
            again.close()


class TestLatestContactsOnSQLite(LatestContactsCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestLatestContactsOnPostgres(LatestContactsCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
