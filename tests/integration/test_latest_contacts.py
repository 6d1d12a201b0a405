"""The maintenance view's latest contact per client, staff member and channel
(`maintenance_latest.py`), which a client's standing reads instead of every contact it ever
had: it holds what grouping the contacts gives, through backdated contacts and retractions
(of a group's latest, and of a group's only contact), after a rebuild, and when a view built
before it fills it at its next start; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.domain import Client
from ledger.domain.values import event_id as event_id_of
from ledger.projections.kit.text import LAST_TEXT, utc_text
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import ProjectionCase
from support.scenario import NOW, STAFF_SINCE, build_bank, by, register

LATEST = "maintenance_contacts_latest"
GROUPED = (
    "SELECT aid, staff_id, channel, MAX(occurred_at) AS occurred_at FROM maintenance_contacts "
    f"WHERE occurred_at < '{LAST_TEXT}' GROUP BY aid, staff_id, channel"
)
# Effective times of the random sequences: six days, and the first and last a view can hold
# (times outside years 1 to 9999 are clamped to them).
TIMES = [datetime(2024, 1, 1 + day, tzinfo=UTC) for day in range(6)] + [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


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

    @pytest.mark.parametrize("seed", range(3))
    def test_random_contacts_and_retractions_keep_what_grouping_gives(
        self, container: Container, seed: int
    ) -> None:
        sequence, compared = RandomContacts(container, seed), 0
        while sequence.position < 240:
            with sequence.view.batch():
                for _ in range(sequence.random.randint(1, 12)):
                    sequence.step()
            kept_rows, grouped = sequence.kept_and_grouped()
            assert kept_rows == grouped, sequence.position
            compared += sum(len(rows) for rows in grouped.values())
        assert compared > 100  # groups were there to compare
        at_last = rows(
            container, f"SELECT * FROM maintenance_contacts WHERE occurred_at = '{LAST_TEXT}'"
        )
        retracted = container.views.by_name["maintenance"].query(
            "SELECT COUNT(*) AS n FROM maintenance_contacts_retracted"
        )
        assert at_last and retracted[0]["n"] > 0  # the cases the sequence is for happened


class RandomContacts:
    """Contacts and retractions of three clients by two members on two channels, fed to
    the maintenance view's handlers in batches of one to twelve: new contacts, replays of
    earlier ones, and retractions (of any contact, again, or in the batch that logged it)."""

    def __init__(self, container: Container, seed: int) -> None:
        self.view = container.views.by_name["maintenance"]
        self.handlers = self.view.handlers()
        self.random = random.Random(seed)
        self.clients = [uuid.UUID(int=self.random.getrandbits(128)) for _ in range(3)]
        self.versions = dict.fromkeys(self.clients, 1)
        self.logged: dict[uuid.UUID, list[tuple[Any, ...]]] = {c: [] for c in self.clients}
        self.position = 0

    def _tracking(self) -> Tracking:
        self.position += 1
        return Tracking("Ledger", self.position)

    def _contact(self, client: uuid.UUID, version: int, at: datetime, staff: str, how: str) -> None:
        event = SimpleNamespace(
            originator_id=client,
            originator_version=version,
            effective_at=at,
            staff_id=staff,
            channel=how,
            timestamp=TIMES[0],
        )
        self.handlers[Client.ContactLogged](event, self._tracking())

    def step(self) -> None:
        client, pick = self.random.choice(self.clients), self.random.random()
        if pick < 0.55 or not self.logged[client]:
            self.versions[client] += 1
            contact = (
                self.versions[client],
                self.random.choice(TIMES),
                self.random.choice("AB"),
                self.random.choice(("phone", "visit")),
            )
            self.logged[client].append(contact)
            self._contact(client, *contact)
        elif pick < 0.8:
            self.versions[client] += 1
            retracted = event_id_of(client, self.random.choice(self.logged[client])[0])
            event = SimpleNamespace(
                originator_id=client,
                originator_version=self.versions[client],
                effective_at=TIMES[0],
                timestamp=TIMES[0],
                retracted_event_id=retracted,
            )
            self.handlers[Client.EventRetracted](event, self._tracking())
        else:
            self._contact(client, *self.random.choice(self.logged[client]))

    def kept_and_grouped(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each client's kept latest contacts, and what grouping its contacts gives."""
        keys = [str(client) for client in self.clients]

        def by_client(found: dict[str, Any]) -> dict[str, Any]:
            return {
                k: sorted((c.staff_id, c.channel, c.occurred_at) for c in found[k]) for k in found
            }

        with self.view.transaction() as c:
            kept = by_client(self.view.files.latest.of(keys, c))
            grouped = by_client(self.view.files.contacts(keys, LAST_TEXT, cursor=c))
        return kept, grouped


class TestLatestContactsOnSQLite(LatestContactsCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestLatestContactsOnPostgres(LatestContactsCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
