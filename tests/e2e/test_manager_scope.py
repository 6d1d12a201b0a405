"""API.md 1.1, "Scope of a manager key", over HTTP on SQLite and on PostgreSQL (issue 12,
item 2): a manager names only staff within its reach, dates accountability-relevant events at
most a few days back, and reads only its own subtree; the console obeys the same rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import Container
from support.api_world import (
    ADMIN,
    ContractOnEachStore,
    World,
    assert_problem,
    at,
    new_id,
    running_app,
)
from support.console_support import post_form, sign_in


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


class ManagerScopeContract(ContractOnEachStore):
    @pytest.fixture
    def world(self, app: tuple[TestClient, Container]) -> World:
        world = World(app[0]).build()
        world.hire("VP", "S1", "vice_president", at(-1))  # in sub-branch S1, above outlet O1
        return world

    def test_a_manager_cannot_hand_its_lost_client_to_another_sub_branch(
        self, world: World
    ) -> None:
        """The issue's story: register a platinum client, assign itself, assign staff of
        another sub-branch backdated, churn: every step past the first two is refused."""
        _, manager = world.key("manager", "M1")
        api = world.api
        client_id = new_id("C")
        registered = api.post(
            "/v1/clients",
            json={
                "client_id": client_id,
                "name": "Li",
                "unit_id": world["O1"],
                "tier": "platinum",
                "occurred_at": at(0),
            },
            headers=manager,
        )
        assert registered.status_code == 201, registered.text
        path = f"/v1/clients/{client_id}/assignments"
        own = {"staff_id": world["M1"], "reason": "mine", "effective_at": ago(1)}
        assert api.post(path, json=own, headers=manager).status_code == 201
        handover = {"staff_id": world["M3"], "reason": "yours", "effective_at": ago(0.9)}
        assert_problem(api.post(path, json=handover, headers=manager), 403)
        as_president = {**handover, "role": "president"}
        assert_problem(api.post(path, json=as_president, headers=manager), 403)
        contact = {"channel": "phone", "staff_id": world["M3"], "occurred_at": ago(0.5)}
        assert_problem(
            api.post(f"/v1/clients/{client_id}/contacts", json=contact, headers=manager), 403
        )
        # The vice president of the sub-branch above the outlet belongs to its teams.
        vp = {
            "staff_id": world["VP"],
            "role": "vice_president",
            "reason": "r",
            "effective_at": ago(0.5),
        }
        assert api.post(path, json=vp, headers=manager).status_code == 201
        history = api.get(f"/v1/clients/{client_id}/history", headers=ADMIN).json()["events"]
        assigned = [e["data"].get("staff_id") for e in history if e["type"] == "Assigned"]
        assert assigned == [world["M1"], world["VP"]]
        # Admin may name anyone.
        assert world.post_raw(path, handover).status_code == 201

    @pytest.mark.parametrize(
        ("suffix", "body", "field"),
        [
            ("assignments", {"staff_id": "M1", "reason": "r"}, "effective_at"),
            ("tier-changes", {"tier": "gold", "reason": "r"}, "effective_at"),
            ("churn", {"kind": "abnormal", "reason": "r"}, "effective_at"),
            ("contacts", {"channel": "phone", "staff_id": "M1"}, "occurred_at"),
        ],
    )
    def test_a_manager_dates_back_at_most_a_week(
        self, world: World, suffix: str, body: dict, field: str
    ) -> None:
        _, manager = world.key("manager", "M1")
        client_id = world.client()
        if "staff_id" in body:
            body = {**body, "staff_id": world["M1"]}
        path = f"/v1/clients/{client_id}/{suffix}"
        refused = world.api.post(path, json={**body, field: ago(8)}, headers=manager)
        assert assert_problem(refused, 422)["errors"][0]["field"] == field
        history = world.api.get(f"/v1/clients/{client_id}/history", headers=ADMIN).json()
        assert len(history["events"]) == 1  # nothing written
        assert world.post_raw(path, {**body, field: ago(6)}, manager).status_code == 201

    def test_admin_backdates_and_a_manager_dates_registrations_and_assets_freely(
        self, world: World
    ) -> None:
        _, manager = world.key("manager", "M1")
        client_id = new_id("C")
        body = {
            "client_id": client_id,
            "name": "Li",
            "unit_id": world["O1"],
            "occurred_at": ago(300),
        }
        assert world.post_raw("/v1/clients", body, manager).status_code == 201
        assets = {"amount": "1000", "as_of": ago(299)[:10]}
        assert world.post_raw(f"/v1/clients/{client_id}/assets", assets, manager).status_code == 201
        tier = {"tier": "gold", "reason": "r", "effective_at": ago(200)}
        assert world.post_raw(f"/v1/clients/{client_id}/tier-changes", tier).status_code == 201

    def test_the_backdating_limit_comes_from_the_settings(self, database_url: str) -> None:
        with running_app(database_url, manager_backdate_days=30) as (api, _):
            world = World(api).build()
            _, manager = world.key("manager", "M1")
            client_id = world.client()
            churn = {"kind": "abnormal", "reason": "r", "effective_at": ago(20)}
            answer = world.post_raw(f"/v1/clients/{client_id}/churn", churn, manager)
            assert answer.status_code == 201, answer.text

    def test_every_read_answers_a_manager_only_within_its_subtree(self, world: World) -> None:
        inside, outside = world.client(unit="O1"), world.client(unit="O3")
        _, manager = world.key("manager", "M1")
        readers = {role: world.key(role)[1] for role in ("auditor", "compliance")}
        readers["admin"] = ADMIN
        position = world.api.get("/v1/health").json()["position"]

        def reads(unit: str, client: str, staff: str) -> list[tuple[str, dict]]:
            period = {"from": at(0), "to": at(9)}
            return [
                (f"/v1/clients/{client}", {}),
                (f"/v1/clients/{client}/history", {}),
                (f"/v1/clients/{client}/history", {"format": "csv"}),
                ("/v1/rosters", {"unit_id": unit}),
                ("/v1/rosters", {"unit_id": unit, "format": "csv"}),
                ("/v1/rosters/summary", {"unit_id": unit}),
                (f"/v1/accountability/clients/{client}", {}),
                ("/v1/accountability/responsible", {"client_id": client, "at": at(1)}),
                ("/v1/accountability/churn-cases", {"unit_id": unit}),
                (f"/v1/accountability/staff/{staff}", {"fiscal_year": 2026}),
                ("/v1/reports/tier-growth", {"unit_id": unit, **period}),
                ("/v1/reports/completeness", {"unit_id": unit}),
                ("/v1/reports/overdue-contacts", {"unit_id": unit}),
                ("/v1/reports/orphaned-clients", {"unit_id": unit}),
                ("/v1/reports/manager-portfolio", {"staff_id": staff, **period}),
            ]

        def get(path: str, params: dict, headers: dict) -> int:
            if not path.startswith("/v1/clients"):  # the read models wait for the writes
                params = {**params, "after": position}
            answer = world.api.get(path, params=params, headers=headers)
            return answer.status_code

        own = reads(world["O1"], inside, world["M1"])
        other = reads(world["O3"], outside, world["M3"])
        above = reads(world["S1"], inside, world["M1"])[3:6]
        for path, params in own:
            assert get(path, params, manager) == 200, (path, params)
        for path, params in [*other, *above]:
            assert get(path, params, manager) == 403, (path, params)
        for role, headers in readers.items():
            for path, params in [*own, *other, *above]:
                assert get(path, params, headers) == 200, (role, path, params)
        # Churn cases without a unit: a manager's own subtree, never the whole bank.
        assert get("/v1/accountability/churn-cases", {}, manager) == 200

    def test_the_console_keeps_a_manager_to_the_same_rules(self, world: World) -> None:
        client_id = world.client(unit="O1")
        _, manager = world.key("manager", "M1")
        browser = sign_in(world.api, manager["Authorization"].removeprefix("Bearer "))
        page, action = f"/clients/{client_id}", f"/clients/{client_id}/contacts"
        elsewhere = {"channel": "visit", "staff_id": world["M3"]}
        assert post_form(browser, page, action, elsewhere, "log-contact").status_code == 403
        backdated = {"channel": "visit", "staff_id": world["M1"], "occurred_at": ago(30)[:16]}
        assert post_form(browser, page, action, backdated, "log-contact").status_code == 422
        history = world.api.get(f"/v1/clients/{client_id}/history", headers=ADMIN).json()
        assert len(history["events"]) == 1
        for path in (f"/clients/{world.client(unit='O3')}", f"/roster?unit_id={world['O3']}"):
            assert browser.get(path).status_code == 403, path


class TestManagerScopeOnSQLite(ManagerScopeContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestManagerScopeOnPostgres(ManagerScopeContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
