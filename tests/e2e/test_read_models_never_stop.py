"""Issue 12, item 1, on SQLite and on PostgreSQL: a read model never stops for good. A time an
older version let into the log (its UTC before year 1) is projected; a view that fails on an
event reports it on /v1/health (503 `degraded`, naming the view, the position and the error),
the others go on, and it is retried until a fix or a rebuild brings it back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import PROJECTIONS, Container, construct_views
from ledger.domain import Client, values
from ledger.projections import recovery
from ledger.projections.runner import ProjectionRunner
from support import READ_MODELS
from support.api_world import ADMIN, ContractOnEachStore, World, new_id, running_app
from support.served import Server, run_cli

# 10:00 UTC on 31 December of year 0: converting it to UTC overflows datetime.
BEFORE_YEAR_ONE = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))


def store_below_the_api(container: Container, world: World, occurred_at: datetime) -> int:
    """Register a client as an older version could have: without today's time range."""
    saved = values.EARLIEST
    values.EARLIEST = occurred_at
    try:
        result = container.ledger.register_client(
            client_id=(client_id := new_id("C")),
            name="Old",
            unit_id=world["O1"],
            occurred_at=occurred_at,
            recorded_by="admin",
        )
    finally:
        values.EARLIEST = saved
    world.ids["old"] = client_id
    return result.position


def until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class ReadModelsNeverStopContract(ContractOnEachStore):
    @pytest.fixture
    def app(self, database_url: str) -> Iterator[tuple[TestClient, Container]]:
        # Reads wait up to 30 s: a read on a stopped view answering "at once" is told from
        # one waiting it out by a margin no load on the machine blurs.
        with running_app(database_url, read_wait_seconds=30) as running:
            yield running

    @pytest.fixture
    def world(self, app: tuple[TestClient, Container]) -> World:
        return World(app[0]).build()

    def test_a_time_before_year_one_in_utc_stops_no_read_model(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        api, container = app
        position = store_below_the_api(container, world, BEFORE_YEAR_ONE)
        # Serving: every view follows past it, and health says so.
        roster = api.get(
            "/v1/rosters", params={"unit_id": world["O1"], "after": position}, headers=ADMIN
        )
        assert roster.status_code == 200, roster.text
        assert world["old"] in [item["client_id"] for item in roster.json()["items"]]
        # The read waited for the roster only; every other view follows past it too.
        assert container.runner.wait(position, timeout=30)
        health = api.get("/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        assert set(health.json()["projections"].values()) == {position}
        for path, params in (
            (f"/v1/accountability/clients/{world['old']}", {}),
            ("/v1/reports/overdue-contacts", {"unit_id": world["O1"]}),
            ("/v1/rosters/summary", {"unit_id": world["O1"]}),
        ):
            assert api.get(path, params=params, headers=ADMIN).status_code == 200, path
        # Catching up from scratch and rebuilding (in processes, as `ledger rebuild` does).
        assert container.runner.rebuild() == position
        assert container.rebuild_in_processes() == dict.fromkeys(READ_MODELS, position)
        later = world.client(unit="O1")
        roster = api.get(
            "/v1/rosters", params={"unit_id": world["O1"], "after": position + 1}, headers=ADMIN
        )
        assert later in [item["client_id"] for item in roster.json()["items"]]

    def test_a_view_failing_on_an_event_is_reported_retried_and_recovers(
        self,
        app: tuple[TestClient, Container],
        world: World,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        api, container = app
        monkeypatch.setattr(recovery, "RETRY_FIRST", 0.1)
        handlers = container.runner.projections["roster"].handlers
        register = handlers[Client.Registered]
        broken = {"on": True}

        def faulty(event: Any, tracking: Any) -> None:
            if broken["on"] and event.client_id.startswith("Cfault"):
                raise ValueError("a bug in the roster")
            register(event, tracking)

        monkeypatch.setitem(handlers, Client.Registered, faulty)
        client_id = new_id("Cfault")
        written = world.post(
            "/v1/clients", {"client_id": client_id, "name": "Li", "unit_id": world["O1"]}
        )
        until(lambda: api.get("/v1/health").status_code == 503)
        health = api.get("/v1/health").json()
        assert health["status"] == "degraded"
        assert list(health["errors"]) == ["roster"]
        message = health["errors"]["roster"]
        assert message == f"view roster stopped at position {written['position']}: ValueError"
        # Neither the health endpoint (answered without a token) nor the log carries the
        # error's own text, which may quote what the event held: where, and what kind.
        logged = [r.getMessage() for r in caplog.records if r.name.startswith("ledger")]
        assert any(message in line and "in faulty" in line for line in logged)  # the code
        assert not any("a bug in the roster" in line for line in logged)
        # The other views go on; a read waiting on the stopped one answers 503 at once.
        after = {"after": written["position"]}
        cases = api.get("/v1/accountability/churn-cases", params=after, headers=ADMIN)
        assert cases.status_code == 200
        started = time.monotonic()
        waiting = api.get("/v1/rosters", params={"unit_id": world["O1"], **after}, headers=ADMIN)
        assert waiting.status_code == 503 and "retry-after" in waiting.headers
        assert time.monotonic() - started < 15, "it waited on a view that has stopped"
        # The fix: the retry passes the event, and the view is back.
        broken["on"] = False
        until(lambda: api.get("/v1/health").status_code == 200)
        roster = api.get("/v1/rosters", params={"unit_id": world["O1"], **after}, headers=ADMIN)
        assert client_id in [item["client_id"] for item in roster.json()["items"]]
        later = world.client(unit="O1")
        roster = api.get(
            "/v1/rosters",
            params={"unit_id": world["O1"], "after": written["position"] + 1},
            headers=ADMIN,
        )
        assert later in [item["client_id"] for item in roster.json()["items"]]

    def test_a_rebuild_brings_back_a_view_that_keeps_failing(
        self, app: tuple[TestClient, Container], world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        api, container = app
        handlers = container.runner.projections["reports"].handlers
        register = handlers[Client.Registered]

        def faulty(event: Any, tracking: Any) -> None:
            raise ValueError("reports broke")

        monkeypatch.setitem(handlers, Client.Registered, faulty)
        world.client(unit="O1")
        until(lambda: api.get("/v1/health").status_code == 503)
        monkeypatch.setitem(handlers, Client.Registered, register)
        position = container.runner.rebuild(["reports"])
        health = api.get("/v1/health")
        assert health.status_code == 200, health.text
        assert health.json()["projections"]["reports"] == position

    def test_a_view_a_later_version_claimed_is_reported_and_claimed_back_by_a_rebuild(
        self, app: tuple[TestClient, Container], world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A rolling upgrade: a later version of the ledger (its roster one generation on)
        # starts beside this process, which then stops writing the roster and says why.
        api, container = app
        monkeypatch.setattr(recovery, "RETRY_FIRST", 0.1)
        model = PROJECTIONS["roster"][1]
        later = type("LaterRoster", (model,), {"generation": model.generation + 1})
        views = construct_views(container.settings, ["roster"], {"roster": later})
        try:
            client_id = world.client(unit="O1")
            until(lambda: api.get("/v1/health").status_code == 503)
            health = api.get("/v1/health").json()
            assert health["errors"] == {
                "roster": "view roster is kept by a later version of the ledger (generation "
                "2; this process keeps 1): this process no longer writes it; stop it and run "
                "the later version"
            }
            kept = api.get("/v1/rosters", params={"unit_id": world["O1"]}, headers=ADMIN)
            assert kept.status_code == 200
            assert client_id not in [item["client_id"] for item in kept.json()["items"]]
            cases = api.get("/v1/accountability/churn-cases", headers=ADMIN)
            assert cases.status_code == 200  # the other views go on
        finally:
            views["roster"].factory.close()  # type: ignore[attr-defined]
        # A rollback: this version rebuilds the roster, and keeps it again.
        container.runner.rebuild(["roster"])
        until(lambda: api.get("/v1/health").status_code == 200)
        kept = api.get("/v1/rosters", params={"unit_id": world["O1"]}, headers=ADMIN)
        assert client_id in [item["client_id"] for item in kept.json()["items"]]

    def test_a_process_starting_beside_a_later_version_says_so_at_once_and_resumes(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(recovery, "RETRY_FIRST", 0.1)
        with running_app(database_url) as (api, container):
            World(api).build()
        model = PROJECTIONS["roster"][1]
        later = type("LaterRoster", (model,), {"generation": model.generation + 1})
        settings = container.settings
        construct_views(settings, ["roster"], {"roster": later})["roster"].factory.close()
        with running_app(database_url, read_wait_seconds=2) as (api, container):
            # No event needed: the roster is reported as it starts, the others are kept.
            health = api.get("/v1/health")
            assert health.status_code == 503
            assert list(health.json()["errors"]) == ["roster"]
            assert "kept by a later version" in health.json()["errors"]["roster"]
            # Another process of this version rolls the roster back: this one resumes.
            rolled = construct_views(settings, ["roster"])["roster"]
            try:
                projection = PROJECTIONS["roster"][0](rolled)
                ProjectionRunner(container.ledger, {"roster": projection}).rebuild(["roster"])
            finally:
                rolled.factory.close()  # type: ignore[attr-defined]
            until(lambda: api.get("/v1/health").status_code == 200)
            client_id = World(api).build().client(unit="O1")
            assert api.get(f"/v1/clients/{client_id}", headers=ADMIN).status_code == 200

    def test_health_names_the_part_of_the_log_the_chain_does_not_cover(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        api, container = app
        assert "chain" not in api.get("/v1/health").json()["warnings"]
        container.integrity.unhashed = lambda: 5  # type: ignore[method-assign]
        health = api.get("/v1/health")
        assert health.status_code == 200
        assert "position 5" in health.json()["warnings"]["chain"]
        assert "ledger chain backfill" in health.json()["warnings"]["chain"]

    def test_ledger_serve_and_ledger_rebuild_survive_such_an_event(
        self, database_url: str, tmp_path: Path
    ) -> None:
        with running_app(database_url, follow=False) as (api, container):
            position = store_below_the_api(container, World(api).build(), BEFORE_YEAR_ONE)
        server = Server(database_url, tmp_path)
        server.start()
        try:
            until(
                lambda: (
                    httpx.get(f"{server.url}/v1/health").json()["projections"]
                    == dict.fromkeys(READ_MODELS, position)
                )
            )
            assert httpx.get(f"{server.url}/v1/health").json()["status"] == "ok"
        finally:
            server.stop()
        rebuilt = run_cli(database_url, "rebuild", cwd=tmp_path)
        assert rebuilt.returncode == 0, rebuilt.stderr


class TestReadModelsNeverStopOnSQLite(ReadModelsNeverStopContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestReadModelsNeverStopOnPostgres(ReadModelsNeverStopContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
