"""Layered duties, team gaps, leader visits, name-list acknowledgement, the at-risk board,
referrals, segments and roster filters over HTTP (DOMAIN.md and API.md 1.1), on SQLite and
PostgreSQL; backdated events move the answers."""

from __future__ import annotations

import pytest

from support.api_world import ADMIN, World, WorldCase, assert_problem, at, new_id


class MaintenanceContract(WorldCase):
    """Every test runs once per store."""

    def staff(self, world: World, name: str, role: str, unit: str = "O1") -> str:
        world.ids[name] = new_id(name)
        world.post(
            "/v1/staff",
            {
                "staff_id": world[name],
                "name": f"staff {name}",
                "unit_id": world[unit],
                "role": role,
                "effective_at": at(-1),
            },
        )
        return world[name]

    def assign(self, world: World, client_id: str, staff: str, role: str, days: float) -> dict:
        return world.post(
            f"/v1/clients/{client_id}/assignments",
            {"staff_id": staff, "role": role, "reason": "team", "effective_at": at(days)},
        )

    def contact(self, world: World, client_id: str, staff: str, days: float) -> dict:
        return world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "visit", "staff_id": staff, "occurred_at": at(days)},
        )

    # ---- layered duties and team gaps -----------------------------------------------------

    def test_a_platinum_client_with_only_a_manager_shows_its_gaps_until_the_team_is_named(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="platinum")
        self.assign(world, client_id, world["M1"], "client_manager", 1)
        gaps = self.get(world, "/v1/reports/team-gaps", unit_id=world["S1"], as_of=at(10))
        assert gaps["items"] == [
            {
                "client_id": client_id,
                "tier": "platinum",
                "missing": ["vice_president", "outlet_director"],
            }
        ]
        vp = self.staff(world, "VP", "vice_president", unit="S1")
        head = self.staff(world, "H", "outlet_director")
        self.assign(world, client_id, vp, "vice_president", 5)
        # The outlet director defaults to the head of the client's outlet.
        world.post(f"/v1/units/{world['O1']}/head", {"staff_id": head, "effective_at": at(8)})
        assert (
            self.get(world, "/v1/reports/team-gaps", unit_id=world["S1"], as_of=at(10))["items"]
            == []
        )
        earlier = self.get(world, "/v1/reports/team-gaps", unit_id=world["S1"], as_of=at(6))
        assert earlier["items"][0]["missing"] == ["outlet_director"]

    def test_each_role_has_its_own_cadence_and_a_backdated_visit_clears_a_duty(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="platinum")
        vp = self.staff(world, "VP", "vice_president", unit="S1")
        self.assign(world, client_id, world["M1"], "client_manager", 1)
        self.assign(world, client_id, vp, "vice_president", 1)
        self.contact(world, client_id, world["M1"], 150)
        # At day 200: the manager visited 50 days ago (cadence 60), the vice president never
        # (cadence 180 from registration).
        duties = self.get(world, "/v1/reports/duties-overdue", unit_id=world["S1"], as_of=at(200))
        assert [(i["role"], i["staff_id"], i["days_overdue"]) for i in duties["items"]] == [
            ("vice_president", vp, 20)
        ]
        # A contact by the manager does not satisfy the vice president's duty...
        self.contact(world, client_id, world["M1"], 160)
        only_vp = self.get(
            world,
            "/v1/reports/duties-overdue",
            unit_id=world["S1"],
            as_of=at(200),
            role="vice_president",
        )
        assert len(only_vp["items"]) == 1
        # ...his own visit, logged late and backdated, does.
        self.contact(world, client_id, vp, 100)
        assert (
            self.get(world, "/v1/reports/duties-overdue", unit_id=world["S1"], as_of=at(200))[
                "items"
            ]
            == []
        )

    def test_leader_visits_list_large_clients_and_whether_a_leader_came(self, world: World) -> None:
        rich = world.client(unit="O1", tier="diamond")
        modest = world.client(unit="O1", tier="gold")
        world.post(f"/v1/clients/{rich}/assets", {"amount": "6000000.00", "as_of": at(2)[:10]})
        world.post(f"/v1/clients/{modest}/assets", {"amount": "100000.00", "as_of": at(2)[:10]})
        president = self.staff(world, "P", "president", unit="S1")
        period = {"from": at(10), "to": at(40)}
        answer = self.get(world, "/v1/reports/leader-visits", unit_id=world["S1"], **period)
        assert answer["items"] == [
            {
                "client_id": rich,
                "assets": "6000000.00",
                "visited_by_leader": False,
                "last_leader_visit_at": None,
            }
        ]
        self.contact(world, rich, world["M1"], 20)  # a manager is not a leader
        self.contact(world, rich, president, 30)
        answer = self.get(world, "/v1/reports/leader-visits", unit_id=world["S1"], **period)
        assert answer["items"][0]["visited_by_leader"] is True
        lower = self.get(
            world, "/v1/reports/leader-visits", unit_id=world["S1"], min_assets="50000", **period
        )
        assert {i["client_id"] for i in lower["items"]} == {rich, modest}

    # ---- name-list management ---------------------------------------------------------------

    def test_an_assignment_stays_unacknowledged_until_its_assignee_signs(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="gold")
        assigned = self.assign(world, client_id, world["M1"], "client_manager", 1)
        listed = self.get(world, "/v1/reports/unacknowledged-assignments", unit_id=world["S1"])
        assert [(i["client_id"], i["staff_id"], i["event_id"]) for i in listed["items"]] == [
            (client_id, world["M1"], assigned["event_id"])
        ]
        recent = self.get(
            world, "/v1/reports/unacknowledged-assignments", unit_id=world["S1"], as_of=at(5)
        )
        assert recent["items"] == []  # not yet 7 days old
        path = f"/v1/clients/{client_id}/assignments/{assigned['event_id']}/acknowledgement"
        _, other = world.key("manager", "M3")
        assert_problem(world.api.post(path, json={}, headers=other), 403)
        _, own = world.key("manager", "M1")
        answer = world.api.post(path, json={}, headers=own)
        assert answer.status_code == 201, answer.text
        assert answer.json()["type"] == "AssignmentAcknowledged"
        assert_problem(world.api.post(path, json={}, headers=ADMIN), 409)
        listed = self.get(world, "/v1/reports/unacknowledged-assignments", unit_id=world["S1"])
        assert listed["items"] == []

    # ---- the at-risk board --------------------------------------------------------------------

    def test_the_board_names_reasons_and_who_would_be_accountable(self, world: World) -> None:
        client_id = world.client(unit="O1", tier="diamond")
        head = self.staff(world, "H", "outlet_director")
        world.post(f"/v1/units/{world['O1']}/head", {"staff_id": head, "effective_at": at(0)})
        m2 = self.staff(world, "M2", "client_manager")
        self.assign(world, client_id, world["M1"], "client_manager", 1)
        world.post(f"/v1/clients/{client_id}/assets", {"amount": "1000000.00", "as_of": at(2)[:10]})
        world.post(f"/v1/clients/{client_id}/assets", {"amount": "700000.00", "as_of": at(60)[:10]})
        self.contact(world, client_id, world["M1"], 50)
        board = self.get(world, "/v1/reports/at-risk", unit_id=world["S1"], as_of=at(70))
        (item,) = board["items"]
        assert item["reasons"] == ["team_gap", "assets_down"]
        assert item["accountable"] == {
            "designated_manager": world["M1"],
            "unit_head": head,
            "prior_holders": [],
        }
        # The manager leaves; a new one takes over, backdated: the board shows both.
        world.post(
            f"/v1/staff/{world['M1']}/departure", {"effective_at": at(65), "reason": "resigned"}
        )
        self.assign(world, client_id, m2, "client_manager", 64)
        world.post(
            f"/v1/clients/{client_id}/tier-changes",
            {"tier": "platinum", "reason": "assets", "effective_at": at(66)},
        )
        board = self.get(world, "/v1/reports/at-risk", unit_id=world["S1"], as_of=at(70))
        (item,) = board["items"]
        assert item["reasons"] == ["team_gap", "manager_departed", "assets_down", "downgraded"]
        assert item["accountable"]["designated_manager"] == m2
        assert item["accountable"]["prior_holders"] == [world["M1"]]
        # Before the changes the board was as it was.
        before = self.get(world, "/v1/reports/at-risk", unit_id=world["S1"], as_of=at(55))
        assert before["items"][0]["reasons"] == ["team_gap"]
        csv = world.api.get(
            "/v1/reports/at-risk",
            params={"unit_id": world["S1"], "as_of": at(70), "format": "csv"},
            headers=ADMIN,
        )
        assert csv.status_code == 200 and client_id in csv.text

    def test_the_board_pages_through_the_subtree(self, world: World) -> None:
        clients = sorted(world.client(unit="O1", tier="gold") for _ in range(5))
        first = self.get(world, "/v1/reports/at-risk", unit_id=world["S1"], limit=2)
        assert [i["client_id"] for i in first["items"]] == clients[:2]
        second = self.get(
            world,
            "/v1/reports/at-risk",
            unit_id=world["S1"],
            limit=2,
            cursor=first["next_cursor"],
        )
        assert [i["client_id"] for i in second["items"]] == clients[2:4]
        assert set(second["items"][0]["reasons"]) >= {"team_gap", "orphaned"}
        last = self.get(
            world,
            "/v1/reports/at-risk",
            unit_id=world["S1"],
            limit=2,
            cursor=second["next_cursor"],
        )
        assert [i["client_id"] for i in last["items"]] == clients[4:]
        assert last["next_cursor"] is None

    # ---- referrals and segments ------------------------------------------------------------

    def test_the_referral_tree_goes_any_depth_and_the_report_credits_the_referrers_manager(
        self, world: World
    ) -> None:
        root = world.client(unit="O1", tier="gold")
        self.assign(world, root, world["M1"], "client_manager", 1)
        child = self.referred(world, root, 10)
        grandchild = self.referred(world, child, 20)
        world.post(f"/v1/clients/{child}/assets", {"amount": "300.00", "as_of": at(25)[:10]})
        tree = self.get(world, f"/v1/clients/{root}/referrals")
        assert tree == {
            "client_id": root,
            "referred": [
                {"client_id": child, "referred": [{"client_id": grandchild, "referred": []}]}
            ],
        }
        report = self.get(
            world, "/v1/reports/referrals", unit_id=world["S1"], **{"from": at(0), "to": at(30)}
        )
        assert report["total"] == {"clients": 2, "assets": "300.00"}
        assert report["by_manager"][0] == {
            "staff_id": world["M1"],
            "clients": 1,
            "assets": "300.00",
        }
        assert_problem(world.api.get("/v1/clients/NOSUCH/referrals", headers=ADMIN), 404)

    def referred(self, world: World, referrer: str, days: float) -> str:
        client_id = new_id("C")
        world.post(
            "/v1/clients",
            {
                "client_id": client_id,
                "name": "Zhao Min",
                "unit_id": world["O1"],
                "source": "referral",
                "referred_by": referrer,
                "occurred_at": at(days),
            },
        )
        return client_id

    def test_segments_count_clients_and_assets_per_preference(self, world: World) -> None:
        calm = world.client(unit="O1", tier="gold")
        bold = world.client(unit="O1", tier="gold")
        world.client(unit="O2")
        world.post(f"/v1/clients/{calm}/profile", {"risk_appetite": "conservative"})
        world.post(f"/v1/clients/{bold}/profile", {"risk_appetite": "aggressive"})
        world.post(f"/v1/clients/{bold}/assets", {"amount": "2500.00", "as_of": at(3)[:10]})
        answer = self.get(world, "/v1/reports/segments", unit_id=world["S1"], by="risk_appetite")
        assert answer["segments"] == {
            "aggressive": {"clients": 1, "assets": "2500.00"},
            "conservative": {"clients": 1, "assets": "0"},
            "unknown": {"clients": 1, "assets": "0"},
        }
        tiers = self.get(world, "/v1/reports/segments", unit_id=world["S1"], by="tier")
        assert tiers["segments"]["gold"]["clients"] == 2
        assert (
            world.api.get(
                "/v1/reports/segments", params={"unit_id": world["S1"], "by": "name"}, headers=ADMIN
            ).status_code
            == 422
        )

    def test_the_roster_filters_on_preferences_source_and_assets(self, world: World) -> None:
        calm = world.client(unit="O1", tier="gold")
        bold = world.client(unit="O1", tier="gold")
        referred = self.referred(world, calm, 5)
        world.post(
            f"/v1/clients/{calm}/profile",
            {"risk_appetite": "conservative", "business_interests": "Bonds, pensions"},
        )
        world.post(f"/v1/clients/{bold}/profile", {"risk_appetite": "aggressive"})
        world.post(f"/v1/clients/{bold}/assets", {"amount": "2500.00", "as_of": at(3)[:10]})
        world.post(f"/v1/clients/{calm}/assets", {"amount": "900.00", "as_of": at(3)[:10]})

        def ids(**filters: str) -> list[str]:
            page = self.get(world, "/v1/rosters", unit_id=world["S1"], **filters)
            return [item["client_id"] for item in page["items"]]

        assert ids(risk_appetite="aggressive") == [bold]
        assert ids(business_interest="pension") == [calm]
        assert ids(source="referral") == [referred]
        assert ids(min_assets="1000") == [bold]
        assert ids(max_assets="1000") == [calm]
        assert sorted(ids(min_assets="0", tier="gold")) == sorted([calm, bold])
        assert ids(min_assets="0", tier="gold", risk_appetite="balanced") == []
        refused = world.api.get(
            "/v1/rosters", params={"unit_id": world["S1"], "min_assets": "-1"}, headers=ADMIN
        )
        assert "min_assets" in assert_problem(refused, 422)["detail"]
        page = self.get(world, "/v1/rosters", unit_id=world["S1"], min_assets="0", limit=1)
        assert page["next_cursor"] is not None


class TestMaintenanceOnSQLite(MaintenanceContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestMaintenanceOnPostgres(MaintenanceContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
