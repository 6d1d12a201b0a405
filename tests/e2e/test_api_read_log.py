"""The read log (API.md 1.1, Audit) over HTTP on SQLite and PostgreSQL: every read of a
client's personal data is recorded with who, when, where and which client; the log is
paged, filtered and exported, and only auditor, compliance and admin read it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from support.api_world import ADMIN, World, WorldCase, assert_problem, at

READS = "/v1/audit/reads"


class ReadLogContract(WorldCase):
    def reads(self, world: World, **params) -> dict:
        answer = world.api.get(READS, params=params, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def test_each_read_of_a_client_is_recorded(self, world: World) -> None:
        client_id = world.client()
        other = world.client()
        key_id, manager = world.key("manager", "M1")
        before = datetime.now(UTC) - timedelta(seconds=1)
        assert world.api.get(f"/v1/clients/{client_id}", headers=manager).status_code == 200
        history = f"/v1/clients/{client_id}/history"
        assert world.api.get(history, headers=ADMIN).status_code == 200
        assert world.api.get(history, params={"format": "csv"}, headers=ADMIN).status_code == 200
        assert world.api.get("/v1/clients/nobody", headers=ADMIN).status_code == 404
        items = self.reads(world, client_id=client_id)["items"]
        assert [(r["principal"], r["role"], r["path"]) for r in items] == [
            (f"key:{key_id}", "manager", f"/v1/clients/{client_id}"),
            ("admin", "admin", history),
            ("admin", "admin", history),
        ]
        assert all(datetime.fromisoformat(r["at"]) >= before for r in items)
        assert self.reads(world, client_id=other)["items"] == []
        mine = self.reads(world, principal=f"key:{key_id}")["items"]
        assert [r["client_id"] for r in mine] == [client_id]
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert self.reads(world, **{"from": later})["items"] == []
        assert len(self.reads(world, client_id=client_id, to=later)["items"]) == 3

    def test_the_log_pages_and_exports(self, world: World) -> None:
        client_id = world.client()
        for _ in range(5):
            world.api.get(f"/v1/clients/{client_id}", headers=ADMIN)
        first = self.reads(world, client_id=client_id, limit=2)
        second = self.reads(world, client_id=client_id, limit=10, cursor=first["next_cursor"])
        assert len(first["items"]) == 2 and len(second["items"]) == 3
        assert second["next_cursor"] is None
        answer = world.api.get(
            READS, params={"client_id": client_id, "format": "csv"}, headers=ADMIN
        )
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert len(rows) == 5 and list(rows[0]) == ["at", "principal", "role", "path", "client_id"]

    def test_exports_holding_clients_personal_data_record_each_client(self, world: World) -> None:
        first, second = world.client("O1"), world.client("O1")
        elsewhere = world.client("O3")
        world.post(
            f"/v1/clients/{first}/contacts",
            {
                "channel": "phone",
                "staff_id": world["M1"],
                "occurred_at": at(5),
                "summary": "fees too high",
                "complaint": True,
            },
        )
        after = world.api.get("/v1/health").json()["position"]
        exports = {
            "/v1/rosters": {"unit_id": world["O1"]},
            "/v1/reports/complaints": {"unit_id": world["O1"], "from": at(0), "to": at(10)},
            "/v1/audit/events": {"unit_id": world["O1"]},
        }
        for path, params in exports.items():
            answer = world.api.get(
                path, params={**params, "format": "csv", "after": after}, headers=ADMIN
            )
            assert answer.status_code == 200, answer.text
        # A paged answer of the same list is not an export.
        world.api.get("/v1/rosters", params={"unit_id": world["O1"]}, headers=ADMIN)

        def paths(client_id: str) -> list[str]:
            return [r["path"] for r in self.reads(world, client_id=client_id)["items"]]

        assert paths(first) == list(exports)
        assert paths(second) == ["/v1/rosters", "/v1/audit/events"]
        assert paths(elsewhere) == []

    def test_a_manager_may_not_read_the_log(self, world: World) -> None:
        _, manager = world.key("manager", "M1")
        assert_problem(world.api.get(READS, headers=manager), 403)
        _, auditor = world.key("auditor")
        assert world.api.get(READS, headers=auditor).status_code == 200


class TestReadLogOnSQLite(ReadLogContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestReadLogOnPostgres(ReadLogContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
