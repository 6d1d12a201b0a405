"""API.md 1.1, "Keys", over HTTP on SQLite and on PostgreSQL (issue 12, item 3): a departed
staff member's keys are refused everywhere, reads included; a key may expire; admin lists
every key for an access review, never a token or hash."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ledger.bootstrap import build
from ledger.config import Settings
from support.api_world import ADMIN, SettableClock, World, assert_problem, running_app


class ApiKeysContract:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> SettableClock:
        return SettableClock(datetime.now(UTC))

    @pytest.fixture
    def world(self, database_url: str, clock: SettableClock) -> Iterator[World]:
        with running_app(database_url, clock, read_wait_seconds=2) as (api, _):
            yield World(api).build()

    def test_a_departed_managers_key_is_refused_on_every_endpoint(
        self, world: World, clock: SettableClock
    ) -> None:
        client_id = world.client(unit="O1")
        _, manager = world.key("manager", "M1")
        reads = [
            f"/v1/clients/{client_id}",
            f"/v1/clients/{client_id}/history",
            f"/v1/rosters?unit_id={world['O1']}",
            f"/v1/rosters?unit_id={world['B']}",
        ]
        for path in reads[:3]:
            assert world.api.get(path, headers=manager).status_code == 200, path
        departure = {
            "effective_at": (clock.now + timedelta(minutes=3)).isoformat(),
            "reason": "left",
        }
        world.post(f"/v1/staff/{world['M1']}/departure", departure)
        # Until the departure takes effect the key still works.
        assert world.api.get(reads[0], headers=manager).status_code == 200
        clock.now += timedelta(minutes=3)
        for path in reads:
            assert_problem(world.api.get(path, headers=manager), 401)
        contact = {
            "channel": "phone",
            "staff_id": world["M3"],
            "occurred_at": clock.now.isoformat(),
        }
        assert_problem(
            world.api.post(f"/v1/clients/{client_id}/contacts", json=contact, headers=manager), 401
        )

    def test_a_key_revoked_by_another_process_is_refused_from_the_next_request_on(
        self, world: World, database_url: str, clock: SettableClock
    ) -> None:
        key_id, manager = world.key("manager", "M1")
        path = f"/v1/staff/{world['M1']}"
        for _ in range(3):  # the key and its staff member now cached
            assert world.api.get(path, headers=manager).status_code == 200
        elsewhere = build(Settings(database_url=database_url), clock=clock)
        try:
            elsewhere.ledger.revoke_api_key(key_id=key_id, recorded_by="admin")
        finally:
            elsewhere.close()
        assert_problem(world.api.get(path, headers=manager), 401)

    def test_a_key_past_its_expiry_is_refused(self, world: World, clock: SettableClock) -> None:
        expires = clock.now + timedelta(days=1)
        issued = world.post(
            "/v1/api-keys",
            {"role": "auditor", "label": "for the audit", "expires_at": expires.isoformat()},
        )
        assert datetime.fromisoformat(issued["expires_at"]) == expires
        auditor = {"Authorization": f"Bearer {issued['token']}"}
        assert world.api.get(f"/v1/units/{world['B']}", headers=auditor).status_code == 200
        clock.now = expires
        assert_problem(world.api.get(f"/v1/units/{world['B']}", headers=auditor), 401)
        past = world.post_raw(
            "/v1/api-keys", {"role": "auditor", "label": "x", "expires_at": clock.now.isoformat()}
        )
        assert assert_problem(past, 422)["errors"][0]["field"] == "expires_at"

    def test_admin_lists_every_key_without_its_secret(
        self, world: World, clock: SettableClock
    ) -> None:
        used_id, used = world.key("manager", "M1")
        issued = world.post("/v1/api-keys", {"role": "auditor", "label": "idle"})
        world.api.delete(f"/v1/api-keys/{issued['key_id']}", headers=ADMIN)
        assert world.api.get(f"/v1/units/{world['O1']}", headers=used).status_code == 200
        assert_problem(world.api.get("/v1/api-keys", headers=used), 403)
        answer = world.api.get("/v1/api-keys", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        assert issued["token"].split(".")[1] not in answer.text
        assert "hash" not in answer.text and "salt" not in answer.text
        items = {item["key_id"]: item for item in answer.json()["items"]}
        fields = {
            "key_id",
            "role",
            "staff_id",
            "label",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        }
        assert all(set(item) == fields for item in items.values())
        assert items[used_id]["staff_id"] == world["M1"]
        assert items[used_id]["last_used_at"] is not None
        assert items[used_id]["revoked_at"] is None
        assert items[issued["key_id"]]["revoked_at"] is not None
        assert items[issued["key_id"]]["last_used_at"] is None

    def test_last_use_is_kept_across_a_restart(
        self, world: World, clock: SettableClock, database_url: str
    ) -> None:
        """An access review after a restart (or on another worker) still sees when a key
        was last used: the use is stored beside the events, not only in memory."""
        used_id, used = world.key("auditor")
        idle_id, _ = world.key("auditor")
        assert world.api.get(f"/v1/units/{world['B']}", headers=used).status_code == 200
        first_use = clock.now
        clock.now += timedelta(minutes=5)
        assert world.api.get(f"/v1/units/{world['B']}", headers=used).status_code == 200
        with running_app(database_url, clock) as (restarted, _):
            answer = restarted.get("/v1/api-keys", headers=ADMIN)
            assert answer.status_code == 200, answer.text
            items = {item["key_id"]: item for item in answer.json()["items"]}
            assert datetime.fromisoformat(items[used_id]["last_used_at"]) == clock.now
            assert clock.now > first_use
            assert items[idle_id]["last_used_at"] is None


class TestApiKeysOnSQLite(ApiKeysContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestApiKeysOnPostgres(ApiKeysContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
