"""Both time axes on the maintenance reports (API.md 1.1, Audit: every report takes
`known_at`): team gaps, layered duties, the at-risk board, unacknowledged assignments,
leader visits, referrals and segments answer what the ledger knew at a recorded time, and
their restatement answers both versions and the events recorded between them that changed
the report. Over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support.api_world import World, WorldCase, at, new_id


def now() -> str:
    """A recorded time after every write so far, before any next one."""
    return datetime.now(UTC).isoformat()


class KnownAtMaintenanceContract(WorldCase):
    def contact(self, world: World, client_id: str, staff: str, days: float) -> dict:
        return world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "visit", "staff_id": staff, "occurred_at": at(days)},
        )

    def test_team_and_duty_reports_as_known_before_the_manager_was_named_and_signed(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="diamond")
        registered = now()
        assigned = world.post(
            f"/v1/clients/{client_id}/assignments",
            {
                "staff_id": world["M1"],
                "role": "client_manager",
                "reason": "team",
                "effective_at": at(1),
            },
        )
        unit = {"unit_id": world["S1"]}

        def missing(**known: str) -> list[str]:
            items = self.get(world, "/v1/reports/team-gaps", **unit, **known)["items"]
            return [role for item in items for role in item["missing"]]

        def duties(**known: str) -> set[str]:
            items = self.get(world, "/v1/reports/duties-overdue", **unit, **known)["items"]
            return {item["role"] for item in items}

        def risks(**known: str) -> set[str]:
            items = self.get(world, "/v1/reports/at-risk", **unit, **known)["items"]
            return {reason for item in items for reason in item["reasons"]}

        assert "client_manager" in missing(known_at=registered)
        assert "client_manager" not in missing()
        assert "client_manager" not in duties(known_at=registered)
        assert "client_manager" in duties()  # named a year ago, never visited
        assert "team_gap" in risks(known_at=registered) and "team_gap" in risks()
        body = self.restated(world, "team-gaps", registered, assigned["recorded_at"], **unit)
        assert body["changed"] is True
        assert [e["event_id"] for e in body["events"]] == [assigned["event_id"]]

        path = "/v1/reports/unacknowledged-assignments"
        signed = world.post(
            f"/v1/clients/{client_id}/assignments/{assigned['event_id']}/acknowledgement", {}
        )

        def unsigned(**known: str) -> list[str]:
            return [i["event_id"] for i in self.get(world, path, **unit, **known)["items"]]

        assert unsigned(known_at=registered) == []
        assert unsigned(known_at=assigned["recorded_at"]) == [assigned["event_id"]]
        assert unsigned() == []
        body = self.restated(
            world,
            "unacknowledged-assignments",
            assigned["recorded_at"],
            signed["recorded_at"],
            **unit,
        )
        assert body["changed"] is True
        assert [e["type"] for e in body["events"]] == ["AssignmentAcknowledged"]

    def test_leader_visits_as_known_between_a_visit_and_its_retraction(self, world: World) -> None:
        client_id = world.client(unit="O1", tier="diamond")
        world.post(f"/v1/clients/{client_id}/assets", {"amount": "6000000.00", "as_of": at(2)[:10]})
        stated = now()
        world.ids["P"] = new_id("P")
        world.post(
            "/v1/staff",
            {
                "staff_id": world["P"],
                "name": "president",
                "unit_id": world["S1"],
                "role": "president",
                "effective_at": at(-1),
            },
        )
        visit = self.contact(world, client_id, world["P"], 30)
        retracted = world.post(
            f"/v1/clients/{client_id}/retractions",
            {"event_id": visit["event_id"], "reason": "never happened"},
        )
        params = {"unit_id": world["S1"], "from": at(10), "to": at(40)}

        def visited(**known: str) -> list[bool]:
            items = self.get(world, "/v1/reports/leader-visits", **params, **known)["items"]
            return [item["visited_by_leader"] for item in items]

        assert visited(known_at=at(-0.5)) == []  # nothing was recorded then
        assert visited(known_at=stated) == [False]
        assert visited(known_at=visit["recorded_at"]) == [True]
        assert visited() == visited(known_at=retracted["recorded_at"]) == [False]
        body = self.restated(
            world, "leader-visits", visit["recorded_at"], retracted["recorded_at"], **params
        )
        assert body["changed"] is True
        assert [e["type"] for e in body["events"]] == ["EventRetracted"]
        assert body["at_known_at"]["items"][0]["visited_by_leader"] is True

    def test_referrals_and_segments_as_known_before_the_referral_and_the_profile(
        self, world: World
    ) -> None:
        root = world.client(unit="O1", tier="gold")
        world.post(
            f"/v1/clients/{root}/assignments",
            {"staff_id": world["M1"], "reason": "team", "effective_at": at(1)},
        )
        before = now()
        child = new_id("C")
        referred = world.post(
            "/v1/clients",
            {
                "client_id": child,
                "name": "Zhao Min",
                "unit_id": world["O1"],
                "source": "referral",
                "referred_by": root,
                "occurred_at": at(10),
            },
        )
        profiled = world.post(f"/v1/clients/{root}/profile", {"risk_appetite": "balanced"})
        period = {"unit_id": world["S1"], "from": at(0), "to": at(30)}
        then = self.get(world, "/v1/reports/referrals", known_at=before, **period)
        assert then["total"]["clients"] == 0
        known = self.get(world, "/v1/reports/referrals", known_at=referred["recorded_at"], **period)
        assert known["by_manager"][0]["staff_id"] == world["M1"]
        assert known["total"]["clients"] == 1
        body = self.restated(world, "referrals", before, referred["recorded_at"], **period)
        assert [e["event_id"] for e in body["events"]] == [referred["event_id"]]

        segments = {"unit_id": world["S1"], "by": "risk_appetite"}
        path = "/v1/reports/segments"
        assert self.get(world, path, known_at=before, **segments)["segments"] == {
            "unknown": {"clients": 1, "assets": "0"}
        }
        assert self.get(world, path, **segments)["segments"]["balanced"]["clients"] == 1
        body = self.restated(
            world, "segments", referred["recorded_at"], profiled["recorded_at"], **segments
        )
        assert body["changed"] is True
        assert [e["type"] for e in body["events"]] == ["ProfileUpdated"]
        unchanged = self.restated(world, "segments", before, before, **segments)
        assert (unchanged["changed"], unchanged["events"]) == (False, [])


class TestKnownAtMaintenanceOnSQLite(KnownAtMaintenanceContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestKnownAtMaintenanceOnPostgres(KnownAtMaintenanceContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
