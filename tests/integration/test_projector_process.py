"""The projections in a child process of the server (`ledger serve`'s default on a store
other processes can open): reads with `after=` still see the write before them, health
names the child, a child that dies is reported and started again, and it stops with the
server. Once per store (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ledger.api.app import create_app
from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.projections import projector as projector_module
from support.api_world import ADMIN_TOKEN, World, at, health_at


def eventually(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome or time.monotonic() > deadline:
            return outcome
        time.sleep(0.05)


class ProjectorProcessContract:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def served(self, database_url: str) -> Iterator[tuple[World, Container]]:
        container = build(
            Settings(
                database_url=database_url,
                admin_token=SecretStr(ADMIN_TOKEN),
                read_wait_seconds=10,
            )
        )
        try:
            with TestClient(create_app(container, apart=True)) as api:
                yield World(api).build(), container
        finally:
            container.close()

    def roster_after(self, world: World, position: int) -> list[str]:
        answer = world.api.get(
            f"/v1/rosters?unit_id={world['O1']}&after={position}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert answer.status_code == 200, answer.text
        return [item["client_id"] for item in answer.json()["items"]]

    def health(self, world: World) -> dict[str, Any]:
        body: dict[str, Any] = world.api.get("/v1/health").json()
        return body

    def test_a_read_after_a_write_sees_it_and_health_names_the_child(
        self, served: tuple[World, Container]
    ) -> None:
        world, container = served
        client_id = world.client()
        contact = world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(2)},
        )
        assert client_id in self.roster_after(world, contact["position"])
        health = health_at(world.api, contact["position"])
        assert health["status"] == "ok", health
        assert health["projector"]["pid"] not in (None, os.getpid())
        assert health["projector"]["restarts"] == 0
        # The server follows nothing itself: the child keeps the views.
        assert container.runner._threads == []

    def test_a_killed_child_is_reported_then_started_again(
        self, served: tuple[World, Container], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        world, container = served
        assert container.projector is not None
        monkeypatch.setattr(projector_module, "RESTART_FIRST", 2.0)
        first = self.health(world)["projector"]["pid"]
        # Only the supervisor waits for the child: health asking `is_alive()` (a wait of its
        # own) could reap it first, and the supervisor then read no exit status (a CI run
        # said "did not exit").
        process = container.projector._process
        assert process is not None
        monkeypatch.setattr(process, "is_alive", lambda: pytest.fail("health waited"))
        os.kill(first, signal.SIGKILL)
        down = eventually(lambda: world.api.get("/v1/health").status_code == 503, timeout=10)
        assert down, "health never said the projector was down"
        health = self.health(world)
        assert health["status"] == "degraded"
        assert "killed by signal 9" in health["errors"]["projector"]
        assert health["projector"]["pid"] is None

        back = eventually(lambda: self.health(world)["projector"]["pid"] not in (None, first))
        assert back, self.health(world)
        health = eventually(lambda: (h := self.health(world))["status"] == "ok" and h)
        assert health["projector"]["restarts"] == 1
        assert health["projector"]["last_exit"] == "killed by signal 9"
        client_id = world.client()
        written = world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(3)},
        )
        assert client_id in self.roster_after(world, written["position"])

    def test_the_child_stops_with_the_server(self, database_url: str) -> None:
        container = build(Settings(database_url=database_url, admin_token=SecretStr(ADMIN_TOKEN)))
        try:
            with TestClient(create_app(container, apart=True)) as api:
                pid = api.get("/v1/health").json()["projector"]["pid"]
                assert pid is not None
            assert not _alive(pid)
        finally:
            container.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it waits only for its parent to read its status.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


class TestProjectorProcessOnSQLite(ProjectorProcessContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestProjectorProcessOnPostgres(ProjectorProcessContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
