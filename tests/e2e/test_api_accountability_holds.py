"""Accountability that holds (API.md 1.1), over HTTP on SQLite and PostgreSQL: a
determination keeps the facts it was made on and turns stale when a later event moves
them, the case pending again; parties are determined separately; late changes are listed;
staff tallies follow the outcome standing against each party; churn cases page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from support.api_world import ADMIN, World, WorldCase, at, new_id

CASES = "/v1/accountability/churn-cases"


def now_text() -> str:
    return datetime.now(UTC).isoformat()


class AccountabilityHoldsContract(WorldCase):
    def cases(self, world: World, **params) -> dict:
        params.setdefault("after", world.api.get("/v1/health").json()["position"])
        answer = world.api.get(CASES, params=params, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def case(self, world: World, case_id: str) -> dict:
        (case,) = [c for c in self.cases(world, limit=1000)["items"] if c["case_id"] == case_id]
        return case

    def determine(self, world: World, case_id: str, outcome: str, party: str | None = None):
        _, compliance = world.key("compliance")
        body = {"outcome": outcome, "reason": f"{outcome} on {party or 'the case'}"}
        if party is not None:
            body["party"] = party
        return world.post(f"{CASES}/{case_id}/determinations", body, headers=compliance)

    def appoint_head(self, world: World, effective_day: float) -> str:
        head = new_id("E")
        world.post(
            "/v1/staff",
            {
                "staff_id": head,
                "name": "head",
                "unit_id": world["O1"],
                "role": "client_manager",
                "effective_at": at(-1),
            },
        )
        world.post(
            f"/v1/units/{world['O1']}/head", {"staff_id": head, "effective_at": at(effective_day)}
        )
        return head

    def test_a_head_appointed_after_the_ruling_reopens_the_case(self, world: World) -> None:
        """The issue's scenario: a head appointment recorded after a determination moved
        the case's unit_head from null to E002 under the ruling, silently."""
        _, case_id = world.churned_client()
        self.determine(world, case_id, "confirmed")
        ruled = self.case(world, case_id)
        assert ruled["unit_head"] is None
        assert ruled["pending"] is False
        (standing,) = ruled["determinations"]
        assert standing["party"] is None
        assert standing["facts"] == {
            "accountability_tier": "diamond",
            "designated_manager": world["M1"],
            "unit_head": None,
            "prior_holders": [],
        }
        assert standing["stale"] is False
        # The world's assignment was dated a year back: entered late, and listed.
        assert [e["type"] for e in ruled["late_changes"]] == ["Assigned"]
        assert case_id not in [c["case_id"] for c in self.cases(world, pending="true")["items"]]

        head = self.appoint_head(world, effective_day=2)  # backdated under the ruling
        reopened = self.case(world, case_id)
        assert reopened["unit_head"] == head
        assert reopened["determination"]["stale"] is True
        assert reopened["determination"]["facts"]["unit_head"] is None
        assert reopened["pending"] is True
        assert [c["case_id"] for c in self.cases(world, pending="true")["items"]] == [case_id]
        assert [e["type"] for e in reopened["late_changes"]] == ["Assigned", "HeadAppointed"]
        late = reopened["late_changes"][-1]
        assert late["recorded_by"] == "admin"
        assert late["effective_at"][:10] == at(2)[:10]

    def test_the_case_as_known_at_the_ruling_and_its_restatement(self, world: World) -> None:
        _, case_id = world.churned_client()
        ruling = self.determine(world, case_id, "confirmed")
        head = self.appoint_head(world, effective_day=2)
        then = self.cases(world, known_at=ruling["recorded_at"])["items"]
        (case,) = [c for c in then if c["case_id"] == case_id]
        assert (case["unit_head"], case["pending"]) == (None, False)
        assert case["determination"]["stale"] is False
        assert [e["type"] for e in case["late_changes"]] == ["Assigned"]
        now = self.case(world, case_id)
        assert (now["unit_head"], now["pending"]) == (head, True)
        year = now["fiscal_year"]
        record = self.staff(world, head, year, known_at=ruling["recorded_at"])
        assert record["as_unit_head"] == 0
        assert self.staff(world, head, year)["pending"]["as_unit_head"] == 1

        answer = world.api.get(
            "/v1/audit/restatements",
            params={
                "report": "churn-cases",
                "unit_id": world["O1"],
                "known_at": ruling["recorded_at"],
                "compare_known_at": now_text(),
                "after": world.api.get("/v1/health").json()["position"],
            },
            headers=ADMIN,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["changed"] is True
        assert body["at_known_at"]["items"][0]["unit_head"] is None
        assert body["at_compare_known_at"]["items"][0]["unit_head"] == head
        assert [e["type"] for e in body["events"]] == ["HeadAppointed"]
        same = world.api.get(
            "/v1/audit/restatements",
            params={
                "report": "churn-cases",
                "unit_id": world["O1"],
                "known_at": now_text(),
                "compare_known_at": now_text(),
            },
            headers=ADMIN,
        ).json()
        assert (same["changed"], same["events"]) == (False, [])

    def test_parties_are_determined_separately(self, world: World) -> None:
        _, case_id = world.churned_client()
        head = self.appoint_head(world, effective_day=2)
        self.determine(world, case_id, "confirmed", party="unit_head")
        case = self.case(world, case_id)
        assert case["pending"] is True  # the client manager is not determined yet
        assert [d["party"] for d in case["determinations"]] == ["unit_head"]
        year = case["fiscal_year"]
        tally = self.staff(world, head, year)
        assert tally["confirmed"] == {"as_designated_manager": 0, "as_unit_head": 1}
        assert self.staff(world, world["M1"], year)["pending"] == {
            "as_designated_manager": 1,
            "as_unit_head": 0,
        }

        self.determine(world, case_id, "waived", party="designated_manager")
        case = self.case(world, case_id)
        assert case["pending"] is False
        assert [(d["party"], d["outcome"]) for d in case["determinations"]] == [
            ("unit_head", "confirmed"),
            ("designated_manager", "waived"),
        ]
        assert case["determination_history"][0]["decided_by"].startswith("key:")
        assert self.staff(world, world["M1"], year)["waived"] == {
            "as_designated_manager": 1,
            "as_unit_head": 0,
        }
        assert self.staff(world, world["M1"], year)["pending"]["as_designated_manager"] == 0

    def test_an_unknown_party_is_refused(self, world: World) -> None:
        _, case_id = world.churned_client()
        answer = world.post_raw(
            f"{CASES}/{case_id}/determinations",
            {"outcome": "confirmed", "reason": "r", "party": "president"},
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"].endswith("party")

    def test_a_reassignment_recorded_late_is_listed_and_moves_the_facts(self, world: World) -> None:
        client_id, case_id = world.churned_client()
        self.determine(world, case_id, "confirmed", party="designated_manager")
        moved = world.post(
            f"/v1/clients/{client_id}/assignments",
            {"staff_id": world["M3"], "reason": "handed over", "effective_at": at(30)},
        )
        case = self.case(world, case_id)
        assert case["designated_manager"] == world["M3"]
        assert case["prior_holders"] == [world["M1"]]
        assert case["late_changes"][-1]["event_id"] == moved["event_id"]
        assert len(case["late_changes"]) == 2
        (ruling,) = case["determinations"]
        assert ruling["stale"] is True
        assert case["pending"] is True

    def test_churn_cases_page_by_cursor_and_export_every_row(self, world: World) -> None:
        made = {world.churned_client()[1] for _ in range(3)}
        first = self.cases(world, unit_id=world["O1"], limit=2)
        assert len(first["items"]) == 2 and first["next_cursor"]
        second = self.cases(world, unit_id=world["O1"], limit=2, cursor=first["next_cursor"])
        assert second["next_cursor"] is None
        ids = [c["case_id"] for c in first["items"] + second["items"]]
        assert set(ids) == made and len(ids) == 3
        answer = world.api.get(
            CASES, params={"unit_id": world["O1"], "format": "csv", "limit": 1}, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert {r["case_id"] for r in rows} == made
        assert {"pending", "late_changes", "determinations"} <= set(rows[0])
        too_many = world.api.get(CASES, params={"limit": 1001}, headers=ADMIN)
        assert too_many.status_code == 422

    def staff(self, world: World, staff_id: str, year: int, **params) -> dict:
        answer = world.api.get(
            f"/v1/accountability/staff/{staff_id}",
            params={"fiscal_year": year, **params},
            headers=ADMIN,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


class TestAccountabilityHoldsOnSQLite(AccountabilityHoldsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestAccountabilityHoldsOnPostgres(AccountabilityHoldsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
