"""What "as known at T" stands on (API.md 1.1, Audit; docs/ARCHITECTURE.md, Known at): a
command that writes several events is known at one instant, so no time sees half of it. Over
HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import Container
from support.api_world import SettableClock, World, WorldCase, at, new_id, running_app


def just_before(recorded_at: str) -> str:
    return (datetime.fromisoformat(recorded_at) - timedelta(microseconds=1)).isoformat()


class KnownInstantsContract(WorldCase):
    def audit(self, world: World, **params: str) -> list[dict]:
        return list(self.get(world, "/v1/audit/events", **params)["items"])

    def test_a_conversion_is_known_at_one_instant(self, world: World) -> None:
        prospect_id, client_id = new_id("P"), new_id("C")
        world.post(
            "/v1/prospects",
            {
                "prospect_id": prospect_id,
                "name": "Li Lei",
                "unit_id": world["O1"],
                "source": "referral",
                "owner_staff_id": world["M1"],
                "occurred_at": at(5),
            },
        )
        converted = world.post(
            f"/v1/prospects/{prospect_id}/conversion",
            {"client_id": client_id, "tier": "gold", "occurred_at": at(20)},
        )
        times = {
            e["type"]: e["recorded_at"]
            for e in self.audit(world, type="Registered", client_id=client_id)
            + self.audit(world, type="Converted")
            if e["aggregate_id"] in (client_id, prospect_id)
        }
        assert times["Registered"] == times["Converted"] == converted["recorded_at"]
        funnel = {"unit_id": world["S1"], "from": at(0), "to": at(100)}
        summary = {"unit_id": world["O1"]}

        def seen(known_at: str) -> tuple[int, int, int]:
            stage = self.get(world, "/v1/reports/funnel", **funnel, known_at=known_at)
            counts = self.get(world, "/v1/rosters/summary", **summary, known_at=known_at)
            referral = stage["by_source"]["referral"]
            return referral["prospects"], referral["converted"], counts["counts"]["gold"]

        before = seen(just_before(converted["recorded_at"]))
        assert before[:2] == (1, 0)
        assert seen(converted["recorded_at"]) == (1, 1, before[2] + 1)

    def test_a_campaign_and_its_contacts_are_known_at_one_instant(self, world: World) -> None:
        clients = [world.client(unit="O1", tier="gold") for _ in range(3)]
        held = world.post(
            "/v1/campaigns",
            {
                "campaign_id": new_id("K"),
                "name": "spring tea",
                "channel": "event",
                "staff_id": world["M1"],
                "occurred_at": at(30),
                "client_ids": clients,
            },
        )
        contacts = [
            e for c in clients for e in self.audit(world, type="ContactLogged", client_id=c)
        ]
        assert len(contacts) == 3
        assert {e["recorded_at"] for e in contacts} == {held["recorded_at"]}


class OutOfOrderStampsContract(WorldCase):
    """A writer stamped before another one reached the log first (the clock set back)."""

    @pytest.fixture
    def clock(self) -> SettableClock:
        return SettableClock(datetime.now(UTC))

    @pytest.fixture
    def app(
        self, database_url: str, clock: SettableClock
    ) -> Iterator[tuple[TestClient, Container]]:
        with running_app(database_url, clock) as running:
            yield running

    def test_a_report_as_known_between_two_stamps_that_reached_the_log_out_of_order(
        self, world: World, clock: SettableClock
    ) -> None:
        later = clock.now = clock.now + timedelta(minutes=10)
        first = world.client(unit="O2", tier="diamond")
        clock.now = later - timedelta(minutes=5)
        second = world.client(unit="O2", tier="diamond")
        path, unit = "/v1/reports/completeness", {"unit_id": world["O2"]}

        def recorded(client_id: str) -> str:
            items = self.get(world, "/v1/audit/events", client_id=client_id)["items"]
            return str(items[0]["recorded_at"])

        # The second is recorded no earlier than the first: as known before, neither.
        assert recorded(first) == recorded(second)
        between = (later - timedelta(minutes=2)).isoformat()
        assert self.get(world, path, known_at=between, **unit)["vip_active"] == 0
        assert self.get(world, path, known_at=later.isoformat(), **unit)["vip_active"] == 2


class TestOutOfOrderStampsOnSQLite(OutOfOrderStampsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestOutOfOrderStampsOnPostgres(OutOfOrderStampsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


class TestKnownInstantsOnSQLite(KnownInstantsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestKnownInstantsOnPostgres(KnownInstantsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
