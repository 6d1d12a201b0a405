"""The rest of the seed over HTTP (DOMAIN.md and API.md 1.1), on SQLite and PostgreSQL:
satisfaction and complaints on contacts, campaigns, and the manager portfolio's baseline."""

from __future__ import annotations

import pytest

from support.api_world import ADMIN, World, WorldCase, assert_problem, at, ok


class SeedContract(WorldCase):
    """Every test runs once per store."""

    def contact(self, world: World, client_id: str, days: float, **extra) -> dict:
        body = {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(days)}
        return world.post(f"/v1/clients/{client_id}/contacts", {**body, **extra})

    # ---- satisfaction and complaints ----------------------------------------------------

    def test_complaints_are_reported_per_designated_manager_and_retraction_removes_them(
        self, world: World
    ) -> None:
        gold = world.client(unit="O1", tier="gold")
        other = world.client(unit="O3", tier="gold")
        world.post(
            f"/v1/clients/{gold}/assignments",
            {"staff_id": world["M1"], "reason": "r", "effective_at": at(1)},
        )
        self.contact(world, gold, 5, satisfaction=5)
        late = self.contact(world, gold, 10, satisfaction=1, complaint=True, summary="fees")
        self.contact(world, other, 10, complaint=True, summary="queue")
        # A backdated complaint, before the manager was assigned: counted for no manager.
        self.contact(world, gold, 0.5, complaint=True, summary="early")
        period = {"from": at(0), "to": at(100)}
        report = self.get(world, "/v1/reports/complaints", unit_id=world["S1"], **period)
        assert [(i["summary"], i["designated_manager"]) for i in report["items"]] == [
            ("early", None),
            ("fees", world["M1"]),
        ]
        assert report["by_manager"] == {world["M1"]: 1}
        assert report["items"][1]["staff_id"] == world["M1"]
        narrow = self.get(
            world, "/v1/reports/complaints", unit_id=world["S1"], **{"from": at(6), "to": at(9)}
        )
        assert narrow["items"] == []

        world.post(
            f"/v1/clients/{gold}/retractions", {"event_id": late["event_id"], "reason": "wrong"}
        )
        report = self.get(world, "/v1/reports/complaints", unit_id=world["S1"], **period)
        assert [i["summary"] for i in report["items"]] == ["early"]
        assert report["by_manager"] == {}
        csv = world.api.get(
            "/v1/reports/complaints",
            params={"unit_id": world["B"], "format": "csv", **period},
            headers=ADMIN,
        )
        assert csv.status_code == 200 and "queue" in csv.text and "early" in csv.text

    def test_satisfaction_outside_one_to_five_or_a_non_boolean_complaint_is_refused(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="gold")
        body = {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(3)}
        for bad in ({"satisfaction": 0}, {"satisfaction": 6}, {"satisfaction": "3"}):
            answer = world.post_raw(f"/v1/clients/{client_id}/contacts", {**body, **bad})
            assert "satisfaction" in assert_problem(answer, 422)["detail"]
        answer = world.post_raw(f"/v1/clients/{client_id}/contacts", {**body, "complaint": "y"})
        assert "complaint" in assert_problem(answer, 422)["detail"]
        history = ok(world.api.get(f"/v1/clients/{client_id}/history", headers=ADMIN))
        assert [e["type"] for e in history["events"]] == ["Registered"]


class TestSeedOnSQLite(SeedContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestSeedOnPostgres(SeedContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
