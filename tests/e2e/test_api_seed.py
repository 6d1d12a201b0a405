"""The rest of the seed over HTTP (DOMAIN.md and API.md 1.1), on SQLite and PostgreSQL:
satisfaction and complaints on contacts, campaigns, and the manager portfolio's baseline."""

from __future__ import annotations

import pytest

from ledger.api.schemas import ComplaintsPublic
from support.api_world import ADMIN, World, WorldCase, assert_problem, at, new_id, ok


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
        # Written to JSON without the model (its speed): the very bytes the model writes.
        raw = world.api.get(
            "/v1/reports/complaints", params={"unit_id": world["S1"], **period}, headers=ADMIN
        )
        assert raw.headers["content-type"] == "application/json"
        model = ComplaintsPublic.model_validate_json(raw.content)
        assert raw.content == model.model_dump_json().encode()
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

    # ---- campaigns ------------------------------------------------------------------------

    def test_a_campaign_is_a_contact_of_every_client_it_names(self, world: World) -> None:
        clients = [world.client(unit="O1", tier="gold") for _ in range(3)]
        held = world.post(
            "/v1/campaigns",
            {
                "campaign_id": new_id("K"),
                "name": "Spring Festival client day",
                "channel": "event",
                "staff_id": world["M1"],
                "occurred_at": at(30),
                "client_ids": clients,
            },
        )
        assert held["type"] == "Held"
        for client_id in clients:
            client = ok(world.api.get(f"/v1/clients/{client_id}", headers=ADMIN))
            assert client["last_contact_at"][:10] == at(30)[:10]
        overdue = self.get(
            world, "/v1/reports/overdue-contacts", unit_id=world["O1"], as_of=at(100)
        )
        assert overdue["items"] == []

    def test_one_bad_client_id_in_a_campaign_writes_nothing(self, world: World) -> None:
        good = world.client(unit="O1", tier="gold")
        churned = world.client(unit="O1", tier="gold")
        world.post(
            f"/v1/clients/{churned}/churn",
            {"kind": "normal", "reason": "moved", "effective_at": at(10)},
        )
        position = world.api.get("/v1/health").json()["position"]
        campaign = {
            "campaign_id": new_id("K"),
            "name": "Mid-autumn tea",
            "channel": "event",
            "staff_id": world["M1"],
            "occurred_at": at(30),
        }
        unknown = world.post_raw("/v1/campaigns", {**campaign, "client_ids": [good, "NOSUCH"]})
        assert "NOSUCH" in assert_problem(unknown, 404)["detail"]
        late = world.post_raw("/v1/campaigns", {**campaign, "client_ids": [good, churned]})
        assert "client_ids[1]" in assert_problem(late, 409)["detail"]
        twice = world.post_raw("/v1/campaigns", {**campaign, "client_ids": [good, good]})
        assert "client_ids[1]" in assert_problem(twice, 422)["detail"]
        too_many = [f"C{i}" for i in range(1001)]
        assert_problem(world.post_raw("/v1/campaigns", {**campaign, "client_ids": too_many}), 422)
        assert world.api.get("/v1/health").json()["position"] == position
        client = ok(world.api.get(f"/v1/clients/{good}", headers=ADMIN))
        assert client["last_contact_at"] is None

    def test_a_manager_may_not_name_staff_outside_its_reach_for_a_campaign(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="gold")
        _, manager = world.key("manager", "M1")
        campaign = {
            "name": "Tea",
            "channel": "event",
            "occurred_at": at(360),
            "client_ids": [client_id],
        }
        elsewhere = world.post_raw(
            "/v1/campaigns",
            {**campaign, "campaign_id": new_id("K"), "staff_id": world["M3"]},
            headers=manager,
        )
        assert_problem(elsewhere, 403)
        own = world.post_raw(
            "/v1/campaigns",
            {**campaign, "campaign_id": new_id("K"), "staff_id": world["M1"]},
            headers=manager,
        )
        assert own.status_code == 201, own.text

    # ---- prospects and the funnel -----------------------------------------------------

    def prospect(self, world: World, source: str, days: float = 5, unit: str = "O1") -> str:
        prospect_id = new_id("P")
        world.post(
            "/v1/prospects",
            {
                "prospect_id": prospect_id,
                "name": "Li Lei",
                "unit_id": world[unit],
                "source": source,
                "owner_staff_id": world["M1"],
                "occurred_at": at(days),
            },
        )
        return prospect_id

    def test_a_converted_prospect_is_a_registered_client_and_the_funnel_counts_it(
        self, world: World
    ) -> None:
        won = self.prospect(world, "referral")
        lost = self.prospect(world, "referral")
        self.prospect(world, "media")
        self.prospect(world, "media", unit="O3")
        client_id = new_id("C")
        world.post(
            f"/v1/prospects/{won}/conversion",
            {"client_id": client_id, "tier": "gold", "occurred_at": at(20)},
        )
        world.post(
            f"/v1/prospects/{lost}/drop", {"reason": "not interested", "effective_at": at(25)}
        )
        client = ok(world.api.get(f"/v1/clients/{client_id}", headers=ADMIN))
        assert (client["name"], client["unit_id"], client["tier"], client["source"]) == (
            "Li Lei",
            world["O1"],
            "gold",
            "referral",
        )
        again = world.post_raw(
            f"/v1/prospects/{won}/conversion", {"client_id": new_id("C"), "occurred_at": at(30)}
        )
        assert assert_problem(again, 409)["rule"] == "prospect_converted"
        funnel = self.get(
            world, "/v1/reports/funnel", unit_id=world["S1"], **{"from": at(0), "to": at(100)}
        )
        assert funnel["by_source"]["referral"] == {
            "prospects": 2,
            "converted": 1,
            "dropped": 1,
            "conversion_rate": 0.5,
        }
        assert funnel["by_source"]["media"]["prospects"] == 1
        # As of before the conversion, the funnel had converted none.
        early = self.get(
            world, "/v1/reports/funnel", unit_id=world["S1"], **{"from": at(0), "to": at(15)}
        )
        assert early["by_source"]["referral"]["converted"] == 0

    def test_a_conversion_to_a_taken_client_id_writes_nothing(self, world: World) -> None:
        taken = world.client(unit="O1")
        prospect_id = self.prospect(world, "media")
        position = world.api.get("/v1/health").json()["position"]
        answer = world.post_raw(
            f"/v1/prospects/{prospect_id}/conversion", {"client_id": taken, "occurred_at": at(9)}
        )
        assert_problem(answer, 409)
        assert world.api.get("/v1/health").json()["position"] == position
        world.post(f"/v1/prospects/{prospect_id}/drop", {"reason": "duplicate"})


class TestSeedOnSQLite(SeedContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestSeedOnPostgres(SeedContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
