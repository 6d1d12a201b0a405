"""API.md 1.1, "Organisation", on SQLite and on PostgreSQL (issue 12, item 7 of the issue's
list): a unit head who transfers out or departs stops being its head at that effective time;
the outlet director of its clients' teams is vacant until a new appointment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support.api_world import ADMIN, ContractOnEachStore, World


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


class HeadVacatedContract(ContractOnEachStore):
    @pytest.fixture
    def world(self, app: tuple) -> World:
        world = World(app[0]).build()
        world.hire("H", "O1", "outlet_director", ago(300))
        world.post(
            f"/v1/units/{world['O1']}/head", {"staff_id": world["H"], "effective_at": ago(200)}
        )
        return world

    def reads(self, world: World, client_id: str, at: str, after: int) -> tuple:
        api = world.api
        unit = api.get(f"/v1/units/{world['O1']}", headers=ADMIN).json()
        client = api.get(f"/v1/clients/{client_id}", params={"as_of": at}, headers=ADMIN).json()
        responsible = api.get(
            "/v1/accountability/responsible",
            params={"client_id": client_id, "at": at, "after": after},
            headers=ADMIN,
        ).json()
        return unit["head_staff_id"], client["team"].get("outlet_director"), responsible

    @pytest.mark.parametrize("leaving", ["transfers", "departure"])
    def test_a_head_who_leaves_stops_heading_the_unit(self, world: World, leaving: str) -> None:
        client_id = world.client(unit="O1", tier="gold")
        left_at = ago(10)
        body = (
            {"unit_id": world["O3"], "effective_at": left_at}
            if leaving == "transfers"
            else {"effective_at": left_at, "reason": "left the bank"}
        )
        world.post(f"/v1/staff/{world['H']}/{leaving}", body)
        churn = world.post(
            f"/v1/clients/{client_id}/churn",
            {"kind": "abnormal", "reason": "lost", "effective_at": ago(5)},
        )
        after = churn["position"]
        head, director, responsible = self.reads(world, client_id, ago(5), after)
        assert head is None and director is None
        assert responsible["unit_head"] is None
        assert "outlet_director" not in responsible["team"]
        # Before the move the head was the head, and stays so in history.
        _, director_then, responsible_then = self.reads(world, client_id, ago(20), after)
        assert director_then == world["H"] and responsible_then["unit_head"] == world["H"]
        cases = world.api.get(
            "/v1/accountability/churn-cases",
            params={"unit_id": world["O1"], "after": after},
            headers=ADMIN,
        ).json()["items"]
        (case,) = [c for c in cases if c["client_id"] == client_id]
        assert case["unit_head"] is None
        # A new appointment fills it again.
        world.post(
            f"/v1/units/{world['O1']}/head", {"staff_id": world["M1"], "effective_at": ago(1)}
        )
        head, director, responsible = self.reads(world, client_id, ago(0.5), after + 1)
        assert head == world["M1"] and director == world["M1"]
        assert responsible["unit_head"] == world["M1"]

    @pytest.mark.parametrize("leaving", ["transfers", "departure"])
    def test_a_head_of_a_unit_other_than_their_own_stops_heading_it_too(
        self, world: World, leaving: str
    ) -> None:
        """A sub-branch's staff member appointed head of an outlet below it: leaving the
        sub-branch (or the bank) leaves the outlet without a head too."""
        world.hire("V", "S1", "vice_president", ago(300))
        world.post(
            f"/v1/units/{world['O2']}/head", {"staff_id": world["V"], "effective_at": ago(100)}
        )
        body = (
            {"unit_id": world["S2"], "effective_at": ago(10)}
            if leaving == "transfers"
            else {"effective_at": ago(10), "reason": "left the bank"}
        )
        world.post(f"/v1/staff/{world['V']}/{leaving}", body)
        outlet = world.api.get(f"/v1/units/{world['O2']}", headers=ADMIN).json()
        assert outlet["head_staff_id"] is None
        # The other outlet's head is not touched.
        other = world.api.get(f"/v1/units/{world['O1']}", headers=ADMIN).json()
        assert other["head_staff_id"] == world["H"]

    def test_a_head_who_transfers_into_the_unit_they_head_stays_its_head(
        self, world: World
    ) -> None:
        world.hire("V", "S1", "vice_president", ago(300))
        world.post(
            f"/v1/units/{world['O2']}/head", {"staff_id": world["V"], "effective_at": ago(100)}
        )
        world.post(
            f"/v1/staff/{world['V']}/transfers", {"unit_id": world["O2"], "effective_at": ago(10)}
        )
        outlet = world.api.get(f"/v1/units/{world['O2']}", headers=ADMIN).json()
        assert outlet["head_staff_id"] == world["V"]

    def test_a_transfer_of_a_staff_member_who_heads_nothing_changes_no_unit(
        self, world: World
    ) -> None:
        before = world.api.get(f"/v1/units/{world['O1']}", headers=ADMIN).json()
        world.post(
            f"/v1/staff/{world['M1']}/transfers", {"unit_id": world["O3"], "effective_at": ago(1)}
        )
        after = world.api.get(f"/v1/units/{world['O1']}", headers=ADMIN).json()
        assert after == before


class TestHeadVacatedOnSQLite(HeadVacatedContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestHeadVacatedOnPostgres(HeadVacatedContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
