"""Under a stream of writes the projections pull the log at most once per gap
(`projection_pull_gap_seconds`), so each pull is a batch; a read that waits for its write
(`after=`) hurries them instead of waiting the gap out, whether they run in the serving
process or in its projector child. With a 30 s gap and reads that wait at most 10 s, a
read not hurried would answer 503. Once per store (SQLite, PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ledger.api.app import create_app
from ledger.bootstrap import Container, build
from ledger.config import Settings
from support.api_world import ADMIN, ADMIN_TOKEN, World, at

GAP = 30.0


class HurriedReadsContract:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def container(self, database_url: str) -> Iterator[Container]:
        container = build(
            Settings(
                database_url=database_url,
                admin_token=SecretStr(ADMIN_TOKEN),
                read_wait_seconds=10,
                projection_pull_gap_seconds=GAP,
            )
        )
        yield container
        container.close()

    def following(self, world: World) -> None:
        """Once a first write is read back, the follower (here or in the child) has
        started and pulled: its gap runs from then."""
        client_id, position = self.write(world)
        assert client_id in self.roster_after(world, position)

    def write(self, world: World) -> tuple[str, int]:
        client_id = world.client()
        written = world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(2)},
        )
        return client_id, written["position"]

    def roster_after(self, world: World, position: int) -> list[str]:
        answer = world.api.get(f"/v1/rosters?unit_id={world['O1']}&after={position}", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return [item["client_id"] for item in answer.json()["items"]]

    def test_the_gap_holds_until_a_read_waits(self, container: Container) -> None:
        with TestClient(create_app(container)) as api:
            world = World(api).build()
            self.following(world)
            client_id, position = self.write(world)
            # Nothing waits: the follower is inside its gap and has not pulled the write.
            time.sleep(0.5)
            assert container.runner.progress.positions["roster"] < position
            started = time.monotonic()
            assert client_id in self.roster_after(world, position)
            assert time.monotonic() - started < 10

    def test_a_read_hurries_the_projector_child(self, container: Container) -> None:
        with TestClient(create_app(container, apart=True)) as api:
            world = World(api).build()
            assert container.projector is not None and container.projector.is_running
            self.following(world)
            client_id, position = self.write(world)
            time.sleep(0.5)
            assert container.runner.progress.positions.get("roster", 0) < position
            assert client_id in self.roster_after(world, position)


class TestHurriedReadsOnSQLite(HurriedReadsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestHurriedReadsOnPostgres(HurriedReadsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
