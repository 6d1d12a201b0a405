"""What an operator sees: /metrics in Prometheus' format, and one JSON log line per request
with its request id and principal, never a name or a phone number."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ledger.api.observability import JSONLogFormatter, access_log, request_id
from ledger.bootstrap import Container
from support.api_world import ADMIN, World, assert_problem, at


@pytest.fixture
def app(sqlite_app: tuple[TestClient, Container]) -> tuple[TestClient, Container]:
    return sqlite_app


@pytest.fixture
def world(sqlite_world: World) -> World:
    return sqlite_world


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONLogFormatter())
    logger = logging.getLogger("ledger")
    level, access_level = logger.level, access_log.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    access_log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        access_log.setLevel(access_level)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_writes_by_type_and_time_requests_by_route(world: World) -> None:
    client_id = world.client()
    world.post(
        f"/v1/clients/{client_id}/contacts",
        {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(1)},
    )
    answer = world.api.get("/metrics", headers=ADMIN)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    figures = samples(answer.text)
    assert figures[("ledger_writes_total", (("type", "Registered"),))] == 1  # the client
    assert figures[("ledger_writes_total", (("type", "ContactLogged"),))] == 1
    assert figures[("ledger_write_conflicts_total", ())] == 0
    assert figures[("ledger_write_retries_total", ())] == 0
    assert figures[("ledger_write_restamps_total", ())] == 0
    contacts = (
        ("method", "POST"),
        ("route", "/v1/clients/{client_id}/contacts"),
        ("status", "201"),
    )
    assert figures[("ledger_http_request_duration_seconds_count", contacts)] == 1
    for name in ("roster", "accountability", "reports"):
        assert figures[("ledger_projection_lag_events", (("read_model", name),))] >= 0
        assert figures[("ledger_projection_lag_seconds", (("read_model", name),))] >= 0


def test_projection_lag_is_counted_in_events_and_seconds(
    app: tuple[TestClient, Container], world: World
) -> None:
    api, container = app
    container.runner.stop()  # the projections stop following: the log runs ahead of them
    world.client()
    figures = samples(api.get("/metrics", headers=ADMIN).text)
    assert figures[("ledger_projection_lag_events", (("read_model", "roster"),))] >= 1
    assert figures[("ledger_projection_lag_seconds", (("read_model", "roster"),))] > 0


def test_a_conflict_on_if_match_is_counted(world: World) -> None:
    client_id = world.client()
    stale = world.api.post(
        f"/v1/clients/{client_id}/contacts",
        json={"channel": "phone", "staff_id": world["M1"], "occurred_at": at(1)},
        headers={**ADMIN, "If-Match": '"0"'},
    )
    assert stale.status_code == 409
    figures = samples(world.api.get("/metrics", headers=ADMIN).text)
    conflicts = (("method", "POST"), ("route", "/v1/clients/{client_id}/contacts"))
    assert figures[("ledger_http_request_duration_seconds_count", (*conflicts, ("status", "409")))]


def test_metrics_are_for_the_admin_token_or_the_loopback_interface(world: World) -> None:
    _, manager = world.key("manager", "M1")
    assert_problem(world.api.get("/metrics", headers=manager), 403)
    assert_problem(world.api.get("/metrics"), 403)
    with TestClient(world.api.app, client=("127.0.0.1", 50000)) as local:
        assert local.get("/metrics").status_code == 200


def test_every_answer_carries_a_request_id_and_a_sane_one_is_kept(world: World) -> None:
    fresh = world.api.get("/v1/health")
    assert len(fresh.headers["X-Request-Id"]) == 32
    assert world.api.get("/v1/health").headers["X-Request-Id"] != fresh.headers["X-Request-Id"]
    kept = world.api.get("/v1/health", headers={"X-Request-Id": "lb-7f3a.9:2"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a.9:2"
    for insane in ("a" * 65, "two words", "<script>", ""):
        assert request_id(insane) != insane


def test_a_write_is_logged_as_json_with_its_id_and_key_but_no_personal_data(
    world: World, log_lines: io.StringIO
) -> None:
    key_id, manager = world.key("manager", "M1")
    client_id = world.client()
    answer = world.api.post(
        f"/v1/clients/{client_id}/profile",
        json={"phone": "13912345678", "address": "88 Yan'an Road", "effective_at": at(1)},
        headers={**manager, "X-Request-Id": "req-profile-1"},
    )
    assert answer.status_code == 201, answer.text
    named = world.api.post(
        "/v1/clients",
        json={"client_id": "Czhouxun1", "name": "Zhou Xun", "unit_id": world["O1"]},
        headers=manager,
    )
    assert named.status_code == 201, named.text
    text = log_lines.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    (profile,) = [line for line in lines if line.get("request_id") == "req-profile-1"]
    assert profile["route"] == "/v1/clients/{client_id}/profile"
    assert profile["status"] == 201
    assert profile["principal"] == f"key:{key_id}"
    assert profile["duration_ms"] > 0
    for personal in ("13912345678", "Yan'an", "Zhou Xun", "Wang Fang", client_id):
        assert personal not in text
