"""Issue 12, item 4, on SQLite and on PostgreSQL: a read waiting with `after=` holds no worker
thread, so writes go on while many wait; beyond the end of the log it answers 503 at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import Container
from ledger.projections import following
from ledger.projections.runner import ProjectionRunner
from support.api_world import ADMIN, ContractOnEachStore, World, assert_problem, new_id, running_app

# More than the thread pool's 40 workers: waits holding a thread each would starve a write.
WAITING = 60


class WaitingReadsContract(ContractOnEachStore):
    @pytest.fixture
    def unfollowed(self, database_url: str) -> Iterator[tuple[TestClient, Container]]:
        """Views nobody updates (another process would): every `after=` read waits."""
        with running_app(database_url, follow=False, read_wait_seconds=6) as running:
            yield running

    def test_beyond_the_end_of_the_log_answers_503_at_once(self, database_url: str) -> None:
        # A wait of 60 s: answering "at once" is told from waiting it out by a margin no
        # load on the machine can blur (this asserts behaviour, not speed).
        with running_app(database_url, read_wait_seconds=60) as (api, _):
            end = api.get("/v1/health").json()["position"]
            started = time.monotonic()
            answer = api.get(
                "/v1/rosters", params={"unit_id": "U1", "after": end + 1}, headers=ADMIN
            )
            assert_problem(answer, 503)
            assert answer.headers["retry-after"] == "1"
            assert time.monotonic() - started < 30, "it waited for a position that cannot come"

    def test_a_write_answers_while_many_reads_wait(
        self, unfollowed: tuple[TestClient, Container]
    ) -> None:
        api, _ = unfollowed
        world = World(api).build()
        position = api.get("/v1/health").json()["position"]

        async def scenario() -> tuple[list[int], int, bool, int]:
            transport = httpx.ASGITransport(app=api.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                params = {"unit_id": world["O1"], "after": position}
                reads = [
                    asyncio.create_task(client.get("/v1/rosters", params=params, headers=ADMIN))
                    for _ in range(WAITING)
                ]
                # Worker threads held while the reads wait (the pool has 40), at the quietest
                # of many looks over the wait: a waiting read borrows a thread only for each
                # brief look at the views' positions, so under load one look may find all
                # 40 busy, while reads holding a thread each would hold all 40 at every look.
                limiter = anyio.to_thread.current_default_thread_limiter()
                await asyncio.sleep(0.5)
                held = limiter.borrowed_tokens
                for _ in range(30):
                    await asyncio.sleep(0.05)
                    held = min(held, limiter.borrowed_tokens)
                body = {"client_id": new_id("C"), "name": "Li", "unit_id": world["O1"]}
                write = await client.post("/v1/clients", json=body, headers=ADMIN)
                still_waiting = not any(read.done() for read in reads)
                answers = await asyncio.gather(*reads)
                return [a.status_code for a in answers], write.status_code, still_waiting, held

        statuses, written, still_waiting, held = asyncio.run(scenario())
        assert written == 201
        assert still_waiting, "the write waited for the reads"
        assert statuses == [503] * WAITING
        # Holding a worker each, 60 waiting reads would hold all 40 of the pool's threads.
        assert held < 40, f"{held} worker threads held by waiting reads"

    def test_while_serve_catches_up_reads_wait_and_health_answers(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with running_app(database_url) as (api, container):
            world = World(api).build()
            end = api.get("/v1/health").json()["position"]
            container.runner.stop()
            for name in container.views.by_name:
                container.views[name].reset()
        # Started again far behind: it catches up (held here) before it follows.
        monkeypatch.setattr(following, "CATCH_UP_AT_LEAST", 1)
        gate, entered = threading.Event(), threading.Event()
        advance = ProjectionRunner.advance

        def held(self: ProjectionRunner, names: list[str], **kwargs: Any) -> int:
            entered.set()
            assert gate.wait(30)
            return advance(self, names, **kwargs)

        monkeypatch.setattr(ProjectionRunner, "advance", held)
        with running_app(database_url, read_wait_seconds=1) as (api, serving):
            assert entered.wait(10)
            health = api.get("/v1/health")
            assert health.status_code == 200, health.text
            assert set(health.json()["projections"].values()) == {0}
            params = {"unit_id": world["O1"], "after": end}
            assert_problem(api.get("/v1/rosters", params=params, headers=ADMIN), 503)
            gate.set()
            roster = api.get("/v1/rosters", params=params, headers=ADMIN)
            assert roster.status_code == 200, roster.text
            assert serving.runner.wait(end, timeout=10)
            assert min(api.get("/v1/health").json()["projections"].values()) >= end


class TestWaitingReadsOnSQLite(WaitingReadsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestWaitingReadsOnPostgres(WaitingReadsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
