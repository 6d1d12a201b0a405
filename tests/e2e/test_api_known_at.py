"""Both time axes on the managers' reports (API.md 1.1, Audit): completeness, overdue
contacts, orphaned clients, the manager portfolio, complaints and the funnel take `known_at`
(recorded time), answering what the ledger knew then; and their restatement answers both
versions and the events recorded between the two times that changed the report. Over HTTP on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support.api_world import ADMIN, World, WorldCase, at, new_id

RESTATEMENTS = "/v1/audit/restatements"


class KnownAtContract(WorldCase):
    def test_completeness_as_known_before_the_profile_was_filled_in(self, world: World) -> None:
        client_id = world.client(unit="O2", tier="diamond")
        registered = world.client(unit="O2", tier="standard")  # not VIP: not counted
        before = world.post(f"/v1/clients/{registered}/profile", {"hobbies": "go"})
        filled = world.post(
            f"/v1/clients/{client_id}/profile",
            {"address": "1 Bund Road", "phone": "13900000000", "employer": "SAIC"},
        )
        path, unit = "/v1/reports/completeness", {"unit_id": world["O2"]}
        now = self.get(world, path, **unit)
        then = self.get(world, path, known_at=before["recorded_at"], **unit)
        assert (now["vip_active"], now["complete"]) == (1, 1)
        assert (then["vip_active"], then["complete"]) == (1, 0)
        assert then["meets_target"] is False
        body = self.restated(
            world, "completeness", before["recorded_at"], filled["recorded_at"], **unit
        )
        assert body["changed"] is True
        assert body["at_known_at"]["complete"] == 0
        assert body["at_compare_known_at"]["complete"] == 1
        assert [e["event_id"] for e in body["events"]] == [filled["event_id"]]
        # Before the client was recorded at all, the unit had no VIP client.
        assert self.get(world, path, known_at=at(-2), **unit)["vip_active"] == 0

    def test_orphaned_clients_as_known_before_the_departure_was_recorded(
        self, world: World
    ) -> None:
        manager = world.hire("MX", "O2", "client_manager", at(-1))
        client_id = world.client(unit="O2", tier="gold")
        assigned = world.post(
            f"/v1/clients/{client_id}/assignments",
            {"staff_id": manager, "reason": "new client", "effective_at": at(1)},
        )
        departed = world.post(
            f"/v1/staff/{manager}/departure", {"effective_at": at(30), "reason": "left"}
        )
        path, unit = "/v1/reports/orphaned-clients", {"unit_id": world["O2"]}
        now = self.get(world, path, **unit)["items"]
        assert [(i["client_id"], i["former_manager"]) for i in now] == [(client_id, manager)]
        assert self.get(world, path, known_at=assigned["recorded_at"], **unit)["items"] == []
        body = self.restated(
            world, "orphaned-clients", assigned["recorded_at"], departed["recorded_at"], **unit
        )
        assert body["changed"] is True
        assert body["at_known_at"]["items"] == []
        assert [i["client_id"] for i in body["at_compare_known_at"]["items"]] == [client_id]
        assert [e["type"] for e in body["events"]] == ["Departed"]

    def test_a_manager_portfolio_as_known_before_a_late_assets_report(self, world: World) -> None:
        client_id = world.client(unit="O1", tier="gold")
        world.post(
            f"/v1/clients/{client_id}/assignments",
            {"staff_id": world["M1"], "reason": "new client", "effective_at": at(1)},
        )
        base = world.post(
            f"/v1/clients/{client_id}/assets", {"amount": "1000000.00", "as_of": at(10)[:10]}
        )
        grown = world.post(
            f"/v1/clients/{client_id}/assets", {"amount": "1500000.00", "as_of": at(20)[:10]}
        )
        period = {"staff_id": world["M1"], "from": at(5), "to": at(40)}
        path = "/v1/reports/manager-portfolio"
        now = self.get(world, path, **period)
        then = self.get(world, path, known_at=base["recorded_at"], **period)
        assert now["assets_change"] == "500000.00"
        assert then["assets_change"] == "0"
        assert now["clients"]["gold"] == then["clients"]["gold"] == 1
        body = self.restated(
            world, "manager-portfolio", base["recorded_at"], grown["recorded_at"], **period
        )
        assert body["changed"] is True
        assert [e["event_id"] for e in body["events"]] == [grown["event_id"]]
        same = self.restated(
            world, "manager-portfolio", grown["recorded_at"], grown["recorded_at"], **period
        )
        assert (same["changed"], same["events"]) == (False, [])

    def test_overdue_contacts_as_known_before_a_contact_and_after_its_retraction(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O2", tier="diamond")  # a 30-day cadence
        registered = datetime.now(UTC).isoformat()  # after the registration was recorded
        contact = world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(360)},
        )
        retracted = world.post(
            f"/v1/clients/{client_id}/retractions",
            {"event_id": contact["event_id"], "reason": "logged twice"},
        )
        path, unit = "/v1/reports/overdue-contacts", {"unit_id": world["O2"]}

        def overdue(**known: str) -> list[tuple[str, str | None]]:
            items = self.get(world, path, **unit, **known)["items"]
            return [(i["client_id"], i["last_contact_at"]) for i in items]

        assert overdue(known_at=registered) == [(client_id, None)]
        assert overdue(known_at=contact["recorded_at"]) == []
        assert overdue(known_at=retracted["recorded_at"]) == overdue() == [(client_id, None)]
        body = self.restated(world, "overdue-contacts", registered, contact["recorded_at"], **unit)
        assert body["changed"] is True
        assert [i["client_id"] for i in body["at_known_at"]["items"]] == [client_id]
        assert body["at_compare_known_at"]["items"] == []
        assert [e["event_id"] for e in body["events"]] == [contact["event_id"]]

    def test_complaints_as_known_before_the_complaint_and_its_managers_assignment(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O3", tier="gold")
        complaint = world.post(
            f"/v1/clients/{client_id}/contacts",
            {
                "channel": "phone",
                "staff_id": world["M3"],
                "occurred_at": at(10),
                "complaint": True,
                "summary": "fees",
            },
        )
        # Recorded after the complaint, effective before it: the manager of its time.
        assigned = world.post(
            f"/v1/clients/{client_id}/assignments",
            {"staff_id": world["M3"], "reason": "late entry", "effective_at": at(5)},
        )
        path = "/v1/reports/complaints"
        params = {"unit_id": world["S2"], "from": at(0), "to": at(100)}
        before = self.get(world, path, known_at=at(-0.5), **params)
        assert (before["items"], before["by_manager"]) == ([], {})
        then = self.get(world, path, known_at=complaint["recorded_at"], **params)
        assert [(i["client_id"], i["summary"]) for i in then["items"]] == [(client_id, "fees")]
        assert then["items"][0]["designated_manager"] is None
        assert then["by_manager"] == {}
        now = self.get(world, path, **params)
        assert now["by_manager"] == {world["M3"]: 1}
        body = self.restated(
            world, "complaints", complaint["recorded_at"], assigned["recorded_at"], **params
        )
        assert body["changed"] is True
        assert [e["event_id"] for e in body["events"]] == [assigned["event_id"]]
        # What the client said is personal: the read log records the restatement's read.
        reads = world.api.get("/v1/audit/reads", params={"client_id": client_id}, headers=ADMIN)
        assert RESTATEMENTS in {r["path"] for r in reads.json()["items"]}

    def test_the_funnel_as_known_before_a_prospect_was_converted(self, world: World) -> None:
        prospect_id = new_id("P")
        found = world.post(
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
        world.post(
            f"/v1/prospects/{prospect_id}/conversion",
            {"client_id": new_id("C"), "tier": "gold", "occurred_at": at(20)},
        )
        path = "/v1/reports/funnel"
        params = {"unit_id": world["S1"], "from": at(0), "to": at(100)}

        def referral(**known: str) -> tuple[int, int]:
            stage = self.get(world, path, **params, **known)["by_source"]["referral"]
            return stage["prospects"], stage["converted"]

        assert referral(known_at=at(-0.5)) == (0, 0)
        assert referral(known_at=found["recorded_at"]) == (1, 0)
        # Known now: the conversion (its two events, the client and the prospect, at one instant).
        known = datetime.now(UTC).isoformat()
        assert referral() == referral(known_at=known) == (1, 1)
        body = self.restated(world, "funnel", found["recorded_at"], known, **params)
        assert body["changed"] is True
        assert [e["type"] for e in body["events"]] == ["Converted"]

    def test_a_restatement_names_the_parameter_its_report_needs(self, world: World) -> None:
        answer = world.api.get(
            RESTATEMENTS,
            params={"report": "manager-portfolio", "known_at": at(1), "compare_known_at": at(2)},
            headers=ADMIN,
        )
        assert answer.status_code == 422, answer.text
        assert "staff_id" in answer.text


class TestKnownAtOnSQLite(KnownAtContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestKnownAtOnPostgres(KnownAtContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
