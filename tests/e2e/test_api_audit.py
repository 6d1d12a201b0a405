"""The audit log (API.md 1.1, Audit) over HTTP on SQLite and PostgreSQL: every aggregate's
events in log order, each filter, paging by cursor, exports, and who may read it."""

from __future__ import annotations

import csv
import io

import pytest

from support.api_world import ADMIN, World, WorldCase, assert_problem, at

EVENTS = "/v1/audit/events"


class AuditContract(WorldCase):
    def events(self, world: World, headers: dict | None = None, **params) -> dict:
        params.setdefault("after", world.api.get("/v1/health").json()["position"])
        answer = world.api.get(EVENTS, params=params, headers=headers or ADMIN)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def test_every_aggregates_events_in_log_order(self, world: World) -> None:
        client_id = world.client(unit="O1", tier="gold")
        items = self.events(world, limit=1000)["items"]
        positions = [e["position"] for e in items]
        assert positions == sorted(positions)
        assert {"Unit", "Staff", "Client"} <= {e["aggregate_type"] for e in items}
        (registered,) = [e for e in items if e["aggregate_id"] == client_id]
        assert (registered["type"], registered["version"]) == ("Registered", 1)
        assert registered["data"]["tier"] == "gold"
        assert registered["recorded_by"] == "admin"
        assert registered["occurred_at"][:10] == at(0)[:10]

    def test_each_filter_narrows_the_log(self, world: World) -> None:
        in_o1 = world.client(unit="O1")
        in_o3 = world.client(unit="O3")
        contact = world.post(
            f"/v1/clients/{in_o1}/contacts",
            {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(2)},
        )
        _, manager = world.key("manager", "M3")
        late = world.post(
            f"/v1/clients/{in_o3}/contacts",
            {"channel": "visit", "staff_id": world["M3"], "occurred_at": at(364)},
            headers=manager,
        )

        def ids(**params) -> list[str]:
            return [e["event_id"] for e in self.events(world, limit=1000, **params)["items"]]

        client_events = self.events(world, client_id=in_o1)["items"]
        assert [e["type"] for e in client_events] == ["Registered", "ContactLogged"]
        assert ids(type="ContactLogged") == [contact["event_id"], late["event_id"]]
        assert ids(recorded_by=late["recorded_by"]) == [late["event_id"]]
        subtree = self.events(world, unit_id=world["S2"], limit=1000)["items"]
        assert {e["aggregate_id"] for e in subtree} >= {in_o3, world["O3"], world["M3"]}
        assert in_o1 not in {e["aggregate_id"] for e in subtree}
        # Dated a year back but recorded now: late by about 364 days; the other, not at all.
        assert contact["event_id"] in ids(late_by_days=300)
        assert late["event_id"] not in ids(late_by_days=300)
        assert ids(type="ContactLogged", effective_from=at(300)) == [late["event_id"]]
        assert ids(type="ContactLogged", effective_to=at(300)) == [contact["event_id"]]
        recorded = self.events(world, client_id=in_o3)["items"][-1]["recorded_at"]
        assert ids(type="ContactLogged", recorded_from=recorded) == [late["event_id"]]
        assert ids(type="ContactLogged", recorded_to=recorded) == [contact["event_id"]]

    def test_pages_follow_the_cursor_and_exports_hold_every_row(self, world: World) -> None:
        every = self.events(world, limit=1000)["items"]
        first = self.events(world, limit=5)
        second = self.events(world, limit=5, cursor=first["next_cursor"])
        assert [e["position"] for e in first["items"] + second["items"]] == [
            e["position"] for e in every[:10]
        ]
        last = self.events(world, limit=len(every))
        assert last["next_cursor"] is None
        answer = world.api.get(EVENTS, params={"format": "csv", "limit": 1}, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert len(rows) >= len(every)
        assert list(rows[0])[:3] == ["position", "event_id", "aggregate_id"]
        xlsx = world.api.get(EVENTS, params={"format": "xlsx"}, headers=ADMIN)
        assert xlsx.content[:2] == b"PK"

    def test_tier_growth_as_known_at_two_times_and_what_changed_it(self, world: World) -> None:
        client_id = world.client(unit="O2", tier="gold")
        registered = self.events(world, client_id=client_id)["items"][0]["recorded_at"]
        change = world.post(
            f"/v1/clients/{client_id}/tier-changes",
            {"tier": "diamond", "reason": "assets", "effective_at": at(10)},
        )
        period = {"unit_id": world["O2"], "from": at(5), "to": at(20)}
        then = world.api.get(
            "/v1/reports/tier-growth",
            params={**period, "known_at": registered, "after": change["position"]},
            headers=ADMIN,
        ).json()
        assert (then["tiers"]["gold"]["end"], then["tiers"]["diamond"]["end"]) == (1, 0)
        params = {
            **period,
            "report": "tier-growth",
            "known_at": registered,
            "compare_known_at": change["recorded_at"],
            "after": change["position"],
        }
        body = world.api.get("/v1/audit/restatements", params=params, headers=ADMIN).json()
        assert body["changed"] is True
        assert body["at_known_at"]["tiers"]["diamond"]["end"] == 0
        assert body["at_compare_known_at"]["tiers"]["diamond"]["end"] == 1
        assert [e["event_id"] for e in body["events"]] == [change["event_id"]]

    def test_a_keys_secret_is_never_shown(self, world: World) -> None:
        world.key("auditor")
        (issued,) = self.events(world, type="Issued")["items"]
        assert issued["data"]["role"] == "auditor"
        assert not {"salt", "secret_hash"} & set(issued["data"])

    def test_auditor_and_compliance_read_it_a_manager_may_not(self, world: World) -> None:
        for role in ("auditor", "compliance"):
            _, key = world.key(role)
            assert self.events(world, headers=key, limit=1)["items"]
        _, manager = world.key("manager", "M1")
        assert_problem(world.api.get(EVENTS, headers=manager), 403)
        assert_problem(world.api.get(EVENTS, params={"unit_id": "nowhere"}, headers=ADMIN), 404)
        assert_problem(world.api.get(EVENTS, params={"cursor": "x"}, headers=ADMIN), 422)


class TestAuditOnSQLite(AuditContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestAuditOnPostgres(AuditContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
