"""A write route's plan (ledger.api.write_plan) answers a plain write without FastAPI's
dependency solving; every other request goes FastAPI's own way. Whichever way a request
goes, its answer is the same: the same refusals in the same order (the caller first, then
every field), the same headers, the same written event, nothing written when refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.api.write_plan import WritePlan
from support.api_world import ADMIN, World, WorldCase, at, bearer, new_id

# Headers that differ from one request to the next whatever answered it.
VARYING = {"x-request-id", "date", "content-length"}


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The route paths a plan answered (rather than handing the request on)."""
    answered: list[str] = []
    answer = WritePlan.answer

    async def recording(self: WritePlan, request: Any) -> Any:
        response = await answer(self, request)
        if response is not None:
            answered.append(request.scope["route"].path)
        return response

    monkeypatch.setattr(WritePlan, "answer", recording)
    return answered


class Ways:
    """Sends a request with the route's plan, then FastAPI's own way (the plan declining)."""

    def __init__(self, api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.api = api
        self.monkeypatch = monkeypatch

    def both(self, path: str, **request: Any) -> tuple[Any, Any]:
        planned = self.api.post(path, **request)
        with self.monkeypatch.context() as patch:

            async def declined(self: WritePlan, request: Any) -> None:
                return None

            patch.setattr(WritePlan, "answer", declined)
            own = self.api.post(path, **request)
        return planned, own


def same_answer(planned: Any, own: Any) -> None:
    assert planned.status_code == own.status_code, (planned.text, own.text)
    assert planned.content == own.content
    headers = {k: v for k, v in planned.headers.items() if k not in VARYING}
    assert headers == {k: v for k, v in own.headers.items() if k not in VARYING}


class WritePlanContract(WorldCase):
    @pytest.fixture
    def ways(self, world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ways]:
        yield Ways(world.api, monkeypatch)

    def position(self, world: World) -> int:
        return int(world.api.get("/v1/health").json()["position"])

    def test_every_kind_of_write_is_answered_by_its_plan(
        self, world: World, planned: list[str]
    ) -> None:
        client_id = world.client()
        base = f"/v1/clients/{client_id}"
        world.post(f"{base}/contacts", {"channel": "phone", "staff_id": world["M1"],
                                        "occurred_at": at(2)})  # fmt: skip
        world.post(f"{base}/tier-changes", {"tier": "gold", "reason": "r", "effective_at": at(3)})
        world.post(f"{base}/assignments", {"staff_id": world["M1"], "reason": "r",
                                           "effective_at": at(3)})  # fmt: skip
        world.post(f"{base}/assets", {"amount": "1200.50", "as_of": at(4)[:10]})
        world.post(f"{base}/profile", {"risk_appetite": "balanced"})
        world.post(f"{base}/churn", {"kind": "normal", "reason": "moved", "effective_at": at(5)})
        world.hire("M9", "O2", "client_manager", at(1))
        world.post("/v1/units", {"unit_id": new_id("U"), "name": "u", "kind": "outlet",
                                 "parent_id": world["S2"]})  # fmt: skip
        world.post("/v1/prospects", {"prospect_id": new_id("P"), "name": "Li", "unit_id":
                                     world["O1"], "source": "media",
                                     "owner_staff_id": world["M1"]})  # fmt: skip
        assert planned == [
            "/v1/clients",
            "/v1/clients/{client_id}/contacts",
            "/v1/clients/{client_id}/tier-changes",
            "/v1/clients/{client_id}/assignments",
            "/v1/clients/{client_id}/assets",
            "/v1/clients/{client_id}/profile",
            "/v1/clients/{client_id}/churn",
            "/v1/staff",
            "/v1/units",
            "/v1/prospects",
        ]
        world.api.get(f"{base}", headers=ADMIN)
        assert len(planned) == 10  # a read has no plan

    def test_a_refused_write_is_refused_alike_either_way_and_writes_nothing(
        self, world: World, ways: Ways
    ) -> None:
        client_id = world.client()
        far_client = world.client(unit="O3")
        _, manager = world.key("manager", "M1")
        _, auditor = world.key("auditor")
        path = f"/v1/clients/{client_id}/contacts"
        good = {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(364)}
        json_headers = {"content-type": "application/json"}
        text = {"content-type": "text/plain"}
        twice = {"client_id": client_id, "name": "Twice", "unit_id": world["O1"]}
        unit = {"unit_id": new_id("U"), "name": "u", "kind": "outlet", "parent_id": world["S1"]}
        cases: list[tuple[str, dict[str, Any]]] = [
            (path, {"json": good}),  # no bearer token
            (path, {"json": good, "headers": bearer("k1.nope")}),
            (path, {"json": good, "headers": auditor}),
            (f"/v1/clients/{far_client}/contacts", {"json": good, "headers": manager}),
            (path, {"json": {**good, "channel": "pigeon"}, "headers": manager}),
            (path, {"json": {"staff_id": 7}, "headers": manager}),
            (path, {"json": {"channel": "phone"}}),  # no token and a bad body: 401 first
            (path, {"content": b"{not json", "headers": {**manager, **json_headers}}),
            (path, {"content": b"", "headers": {**manager, **json_headers}}),
            (path, {"content": b'{"channel": "phone"}', "headers": {**manager, **text}}),
            (path, {"content": b'"a string"', "headers": {**manager, **json_headers}}),
            (f"{path}?after=1", {"json": good, "headers": manager}),
            (path, {"json": good, "headers": {**manager, "Idempotency-Key": "a b"}}),
            (path, {"json": good, "headers": {**manager, "If-Match": "soon"}}),
            (path, {"json": good, "headers": {**manager, "If-Match": '"99"'}}),
            ("/v1/clients/no%20such/contacts", {"json": good, "headers": manager}),
            (f"/v1/clients/{new_id('C')}/contacts", {"json": good, "headers": ADMIN}),
            ("/v1/clients", {"json": twice, "headers": ADMIN}),
            ("/v1/units", {"json": unit, "headers": manager}),
        ]
        before = self.position(world)
        statuses = []
        for target, request in cases:
            planned, own = ways.both(target, **request)
            same_answer(planned, own)
            statuses.append(planned.status_code)
        assert statuses == [401, 401, 403, 403, 422, 422, 401, 422, 422, 422, 422, 422, 422,
                            422, 409, 422, 404, 409, 403]  # fmt: skip
        assert self.position(world) == before

    def test_a_write_and_its_replay_answer_alike_either_way(self, world: World, ways: Ways) -> None:
        client_id = world.client()
        path = f"/v1/clients/{client_id}/contacts"
        key = {**ADMIN, "Idempotency-Key": new_id("k")}
        body = {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(6)}
        first, replayed = ways.both(path, json=body, headers=key)
        assert first.status_code == 201 and "idempotent-replayed" not in first.headers
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.content == first.content
        plain, own = ways.both(path, json=body, headers={**ADMIN, "If-Match": '"2"'})
        assert (plain.status_code, own.status_code) == (201, 409)
        assert plain.json()["version"] == 3 and plain.json()["type"] == "ContactLogged"
        assert plain.headers["content-type"] == "application/json"
        unconditional = world.api.post(path, json=body, headers=ADMIN)
        assert plain.json().keys() == unconditional.json().keys()
        assert unconditional.json()["position"] > plain.json()["position"]


class TestWritePlanOnSQLite(WritePlanContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestWritePlanOnPostgres(WritePlanContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
