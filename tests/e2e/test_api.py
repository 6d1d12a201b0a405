"""The HTTP contract end to end, through the real app, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from ledger.api import problems, writers
from ledger.bootstrap import Container
from ledger.domain.api_key import ApiKey
from support.api_world import (
    ADMIN,
    SwitchableClock,
    World,
    assert_problem,
    at,
    bearer,
    new_id,
    running_app,
)


class ApiContract:
    """Every test runs once per store; subclasses provide `database_url`."""

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> SwitchableClock:
        return SwitchableClock()

    @pytest.fixture
    def app(
        self, database_url: str, clock: SwitchableClock
    ) -> Iterator[tuple[TestClient, Container]]:
        with running_app(database_url, clock) as running:
            yield running

    @pytest.fixture
    def api(self, app: tuple[TestClient, Container]) -> TestClient:
        return app[0]

    @pytest.fixture
    def world(self, api: TestClient) -> World:
        return World(api).build()

    # ---- health and organisation ---------------------------------------------------

    def test_health_needs_no_token_and_reports_the_store(self, api, database_url) -> None:
        answer = api.get("/v1/health")
        assert answer.status_code == 200
        body = answer.json()
        assert body["status"] == "ok"
        assert body["store"] == ("sqlite" if database_url.startswith("sqlite") else "postgres")
        assert body["position"] == 0

    def test_admin_builds_the_organisation_and_reads_it_back(self, world: World) -> None:
        api = world.api
        head = world.post(
            f"/v1/units/{world['O1']}/head", {"staff_id": world["M1"], "effective_at": at(0)}
        )
        assert head["type"] == "HeadAppointed"
        assert head["recorded_by"] == "admin"
        unit = api.get(f"/v1/units/{world['O1']}", headers=ADMIN).json()
        assert unit == {
            "unit_id": world["O1"],
            "name": "unit O1",
            "kind": "outlet",
            "parent_id": world["S1"],
            "head_staff_id": world["M1"],
            "children": [],
            "version": 2,
        }
        assert api.get(f"/v1/units/{world['S1']}", headers=ADMIN).json()["children"] == [
            world["O1"],
            world["O2"],
        ]
        moved = world.post(
            f"/v1/staff/{world['M1']}/transfers", {"unit_id": world["O2"], "effective_at": at(10)}
        )
        assert (moved["type"], moved["version"]) == ("Transferred", 2)
        gone = world.post(
            f"/v1/staff/{world['M1']}/departure", {"effective_at": at(20), "reason": "resigned"}
        )
        assert gone["type"] == "Departed"
        staff = api.get(f"/v1/staff/{world['M1']}", headers=ADMIN).json()
        assert staff == {
            "staff_id": world["M1"],
            "name": "staff M1",
            "unit_id": world["O2"],
            "role": "client_manager",
            "status": "departed",
            "version": 3,
        }

    # ---- clients -------------------------------------------------------------------

    def test_a_client_lives_through_every_client_endpoint(self, world: World) -> None:
        api = world.api
        client_id = world.client(tier="gold")
        base = f"/v1/clients/{client_id}"
        first = world.post(
            f"{base}/assignments",
            {"staff_id": world["M1"], "reason": "name list", "effective_at": at(1)},
        )
        assert (first["id"], first["type"], first["version"]) == (client_id, "Assigned", 2)
        world.post(
            f"{base}/profile", {"phone": "13800000000", "address": "1 Bund", "employer": "SAIC"}
        )
        cleared = world.post(f"{base}/profile", {"address": None})
        world.post(f"{base}/assets", {"amount": "1234567.89", "as_of": at(30)[:10]})
        contact = world.post(
            f"{base}/contacts",
            {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(40), "purpose": "tea"},
        )
        world.post(
            f"{base}/tier-changes",
            {"tier": "platinum", "reason": "assets grew", "effective_at": at(50)},
        )
        retraction = world.post(
            f"{base}/retractions", {"event_id": contact["event_id"], "reason": "wrong client"}
        )
        churn = world.post(
            f"{base}/churn", {"kind": "abnormal", "reason": "competitor", "effective_at": at(60)}
        )
        determined = world.post(
            f"/v1/accountability/churn-cases/{churn['event_id']}/determinations",
            {"outcome": "confirmed", "reason": "no visits", "client_id": client_id},
        )
        assert determined["type"] == "ChurnDetermined"
        back = world.post(f"{base}/reactivation", {"reason": "won back", "effective_at": at(70)})
        assert back["version"] == 11

        now = api.get(base, headers=ADMIN).json()
        assert now == {
            "client_id": client_id,
            "name": "Wang Fang",
            "unit_id": world["O1"],
            "tier": "platinum",
            "status": "active",
            "designated_manager": world["M1"],
            "team": {"client_manager": world["M1"]},
            "profile": {"phone": "13800000000", "employer": "SAIC"},
            "assets": {"amount": "1234567.89", "as_of": at(30)[:10]},
            "last_contact_at": None,
            "version": 11,
            "source": None,
            "referred_by": None,
            "erased": False,
        }
        then = api.get(base, params={"as_of": at(55)}, headers=ADMIN).json()
        assert (then["tier"], then["status"]) == ("platinum", "active")
        churned = api.get(base, params={"as_of": at(65)}, headers=ADMIN).json()
        assert churned["status"] == "churned"
        before_clear = api.get(
            base, params={"known_at": cleared["recorded_at"].replace("Z", "+00:00")}, headers=ADMIN
        ).json()
        assert before_clear["version"] == cleared["version"]

        history = api.get(f"{base}/history", headers=ADMIN).json()
        assert history["client_id"] == client_id
        events = history["events"]
        assert [e["version"] for e in events] == list(range(1, 12))
        assert [e["type"] for e in events][:3] == ["Registered", "Assigned", "ProfileUpdated"]
        assert all(e["recorded_by"] == "admin" for e in events)
        positions = [e["position"] for e in events]
        assert positions == sorted(positions)
        by_id = {e["event_id"]: e for e in events}
        assert by_id[contact["event_id"]]["retracted_by"] == retraction["event_id"]
        assert by_id[churn["event_id"]]["data"] == {"kind": "abnormal", "reason": "competitor"}

    def test_a_write_answers_the_event_and_its_global_position(self, world: World) -> None:
        client_id = world.client()
        before = world.api.get("/v1/health").json()["position"]
        answer = world.post(
            f"/v1/clients/{client_id}/tier-changes",
            {"tier": "gold", "reason": "deposit", "effective_at": at(5)},
        )
        assert set(answer) == {
            "id",
            "event_id",
            "type",
            "version",
            "position",
            "recorded_at",
            "recorded_by",
        }
        assert answer["position"] == before + 1
        assert answer["recorded_at"].endswith(("Z", "+00:00"))

    # ---- auth ----------------------------------------------------------------------

    def test_no_token_or_an_unknown_token_is_401(self, world: World) -> None:
        api = world.api
        client_id = world.client()
        for headers in (
            {},
            bearer("nope"),
            bearer("kdeadbeef.secret"),
            {"Authorization": "Basic x"},
        ):
            answer = api.get(f"/v1/clients/{client_id}", headers=headers)
            assert_problem(answer, 401)
            assert answer.headers["www-authenticate"] == "Bearer"
        assert_problem(api.post("/v1/units", json={}), 401)

    def test_an_auditor_reads_everything_and_writes_nothing(self, world: World) -> None:
        api = world.api
        client_id = world.client()
        _, auditor = world.key("auditor")
        for path in (
            f"/v1/clients/{client_id}",
            f"/v1/clients/{client_id}/history",
            f"/v1/units/{world['O1']}",
            f"/v1/staff/{world['M1']}",
        ):
            assert api.get(path, headers=auditor).status_code == 200, path
        position = api.get("/v1/health").json()["position"]
        refused = [
            ("/v1/units", {"unit_id": new_id("U"), "name": "x", "kind": "branch"}),
            ("/v1/clients", {"client_id": new_id("C"), "name": "x", "unit_id": world["O1"]}),
            (
                f"/v1/clients/{client_id}/churn",
                {"kind": "normal", "reason": "moved", "effective_at": at(3)},
            ),
            (
                "/v1/accountability/churn-cases/x/determinations",
                {"outcome": "waived", "reason": "r", "client_id": client_id},
            ),
            ("/v1/api-keys", {"role": "admin", "label": "escalate"}),
        ]
        for path, body in refused:
            assert_problem(api.post(path, json=body, headers=auditor), 403)
        assert api.get("/v1/health").json()["position"] == position

    def test_compliance_reads_and_records_determinations_only(self, world: World) -> None:
        api = world.api
        client_id = world.client(tier="diamond")
        churn = world.post(
            f"/v1/clients/{client_id}/churn",
            {"kind": "abnormal", "reason": "competitor", "effective_at": at(10)},
        )
        key_id, compliance = world.key("compliance")
        assert api.get(f"/v1/clients/{client_id}", headers=compliance).status_code == 200
        answer = api.post(
            f"/v1/accountability/churn-cases/{churn['event_id']}/determinations",
            params={"after": churn["position"]},
            json={"outcome": "waived", "reason": "death"},
            headers=compliance,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["recorded_by"] == f"key:{key_id}"
        assert_problem(
            api.post(
                f"/v1/clients/{client_id}/reactivation",
                json={"reason": "back", "effective_at": at(20)},
                headers=compliance,
            ),
            403,
        )

    def test_a_manager_writes_only_on_clients_of_its_own_subtree(self, world: World) -> None:
        api = world.api
        key_id, manager = world.key("manager", staff="M1")
        inside = api.post(
            "/v1/clients",
            json={"client_id": new_id("C"), "name": "Li", "unit_id": world["O1"]},
            headers=manager,
        )
        assert inside.status_code == 201, inside.text
        assert inside.json()["recorded_by"] == f"key:{key_id}"
        own = inside.json()["id"]
        contact = api.post(
            f"/v1/clients/{own}/contacts",
            json={
                "channel": "phone",
                "staff_id": world["M1"],
                "occurred_at": inside.json()["recorded_at"],
            },
            headers=manager,
        )
        assert contact.status_code == 201, contact.text

        elsewhere = world.client(unit="O3")
        body = {"kind": "abnormal", "reason": "lost", "effective_at": at(5)}
        assert_problem(api.post(f"/v1/clients/{elsewhere}/churn", json=body, headers=manager), 403)
        assert_problem(
            api.post(
                "/v1/clients",
                json={"client_id": new_id("C"), "name": "Li", "unit_id": world["O2"]},
                headers=manager,
            ),
            403,
        )
        assert_problem(
            api.post(
                "/v1/units",
                json={
                    "unit_id": new_id("U"),
                    "name": "x",
                    "kind": "outlet",
                    "parent_id": world["S1"],
                },
                headers=manager,
            ),
            403,
        )
        # API.md 1.1 ("Scope of a manager key"): it reads only its own subtree too.
        assert_problem(api.get(f"/v1/clients/{elsewhere}", headers=manager), 403)

    def test_a_sub_branch_manager_reaches_every_outlet_below_it(self, world: World) -> None:
        world.post(
            "/v1/staff",
            {
                "staff_id": (boss := new_id("P")),
                "name": "President",
                "unit_id": world["S1"],
                "role": "president",
            },
        )
        world.ids["P"] = boss
        _, president = world.key("manager", staff="P")
        for outlet in ("O1", "O2"):
            answer = world.api.post(
                "/v1/clients",
                json={"client_id": new_id("C"), "name": "Zhao", "unit_id": world[outlet]},
                headers=president,
            )
            assert answer.status_code == 201, answer.text

    def test_a_departed_managers_key_may_no_longer_write(self, world: World) -> None:
        _, manager = world.key("manager", staff="M1")
        world.post(
            f"/v1/staff/{world['M1']}/departure", {"effective_at": at(300), "reason": "left"}
        )
        answer = world.api.post(
            "/v1/clients",
            json={"client_id": new_id("C"), "name": "Li", "unit_id": world["O1"]},
            headers=manager,
        )
        # API.md 1.1, "Keys": from the departure on, the key itself is refused.
        assert_problem(answer, 401)

    def test_api_keys_are_issued_once_by_admin_and_revoked(self, world: World) -> None:
        api = world.api
        answer = api.post("/v1/api-keys", json={"role": "auditor", "label": "audit"}, headers=ADMIN)
        assert answer.status_code == 201
        issued = answer.json()
        assert issued["token"].startswith(issued["key_id"] + ".")
        assert (issued["role"], issued["staff_id"]) == ("auditor", None)
        token = issued["token"]
        assert api.get(f"/v1/units/{world['B']}", headers=bearer(token)).status_code == 200
        # The secret itself is nowhere in the log: only its salted hash is.
        ledger = api.app.state.container.ledger
        (stored,) = ledger.events.get(ApiKey.id_for(issued["key_id"]))
        assert token.split(".", 1)[1] not in str(vars(stored))
        assert len(stored.salt) == 32
        assert_problem(
            api.post("/v1/api-keys", json={"role": "manager", "label": "m"}, headers=ADMIN), 422
        )
        assert_problem(
            api.post(
                "/v1/api-keys",
                json={"role": "manager", "staff_id": "ghost", "label": "m"},
                headers=ADMIN,
            ),
            404,
        )
        assert_problem(api.delete(f"/v1/api-keys/{issued['key_id']}", headers=bearer(token)), 403)
        revoked = api.delete(f"/v1/api-keys/{issued['key_id']}", headers=ADMIN)
        assert revoked.status_code == 200
        assert revoked.json()["type"] == "Revoked"
        assert_problem(api.get(f"/v1/units/{world['B']}", headers=bearer(token)), 401)
        assert_problem(api.delete(f"/v1/api-keys/{issued['key_id']}", headers=ADMIN), 409)
        assert_problem(api.delete("/v1/api-keys/knothing", headers=ADMIN), 404)

    # ---- idempotency and concurrency ---------------------------------------------------

    def test_a_retried_write_answers_the_first_response_and_appends_nothing(
        self, world: World, database_url: str
    ) -> None:
        client_id = world.client()
        body = {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(3)}
        headers = {**ADMIN, "Idempotency-Key": "retry-1"}
        first = world.api.post(f"/v1/clients/{client_id}/contacts", json=body, headers=headers)
        assert first.status_code == 201
        position = world.api.get("/v1/health").json()["position"]
        again = world.api.post(f"/v1/clients/{client_id}/contacts", json=body, headers=headers)
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert world.api.get("/v1/health").json()["position"] == position
        # The key survives a restart: a new process on the same store still knows it.
        with running_app(database_url) as (restarted, _):
            after = restarted.post(f"/v1/clients/{client_id}/contacts", json=body, headers=headers)
            assert after.json() == first.json()
            assert restarted.get("/v1/health").json()["position"] == position
        history = world.api.get(f"/v1/clients/{client_id}/history", headers=ADMIN).json()
        assert [e["type"] for e in history["events"]].count("ContactLogged") == 1

    def test_a_retried_registration_does_not_become_a_duplicate(self, world: World) -> None:
        body = {"client_id": new_id("C"), "name": "Sun", "unit_id": world["O1"]}
        headers = {**ADMIN, "Idempotency-Key": new_id("k")}
        first = world.api.post("/v1/clients", json=body, headers=headers)
        again = world.api.post("/v1/clients", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert_problem(world.api.post("/v1/clients", json=body, headers=ADMIN), 409)

    def test_only_a_write_under_an_idempotency_key_fingerprints_its_body(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        canonical = []
        monkeypatch.setattr(
            writers,
            "canonical_json",
            lambda raw: canonical.append(raw) or problems.canonical_json(raw),
        )
        client_id = world.client()
        body = {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(3)}
        path = f"/v1/clients/{client_id}/contacts"
        assert world.api.post(path, json=body, headers=ADMIN).status_code == 201
        assert canonical == []
        headers = {**ADMIN, "Idempotency-Key": new_id("k")}
        assert world.api.post(path, json=body, headers=headers).status_code == 201
        assert len(canonical) == 1

    def test_a_write_crosses_to_the_thread_pool_once_to_identify_the_caller_and_write(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        client_id = world.client()
        _, manager = world.key("manager", "M1")
        crossings = []
        run_sync = anyio.to_thread.run_sync

        async def counting(func, *args, **kwargs):  # type: ignore[no-untyped-def]
            crossings.append(getattr(func, "__name__", repr(func)))
            return await run_sync(func, *args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
        # Yesterday: a manager may date a contact only a few days back (API.md 1.1).
        body = {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(364)}
        answer = world.api.post(f"/v1/clients/{client_id}/contacts", json=body, headers=manager)
        assert answer.status_code == 201
        assert answer.json()["type"] == "ContactLogged"
        # The route's write plan (api.write_plan): FastAPI's own way crosses twice, once to
        # identify the caller (a dependency) and once to write.
        assert len(crossings) == 1, crossings

    def test_the_same_key_with_another_body_is_409(self, world: World) -> None:
        client_id = world.client()
        headers = {**ADMIN, "Idempotency-Key": "reused"}
        path = f"/v1/clients/{client_id}/tier-changes"
        ok = world.api.post(
            path, json={"tier": "gold", "reason": "r", "effective_at": at(2)}, headers=headers
        )
        assert ok.status_code == 201
        other = world.api.post(
            path, json={"tier": "diamond", "reason": "r", "effective_at": at(2)}, headers=headers
        )
        assert assert_problem(other, 409)["rule"] == "idempotency_key_reused"
        assert world.api.get(f"/v1/clients/{client_id}", headers=ADMIN).json()["tier"] == "gold"

    def test_a_stale_if_match_is_409_and_the_current_version_writes(self, world: World) -> None:
        client_id = world.client()
        path = f"/v1/clients/{client_id}/tier-changes"
        body = {"tier": "gold", "reason": "r", "effective_at": at(2)}
        stale = world.api.post(path, json=body, headers={**ADMIN, "If-Match": "7"})
        assert assert_problem(stale, 409)["rule"] == "stale_version"
        fresh = world.api.post(path, json=body, headers={**ADMIN, "If-Match": '"1"'})
        assert fresh.status_code == 201
        assert fresh.json()["version"] == 2
        again = world.api.post(
            f"/v1/staff/{world['M1']}/transfers",
            json={"unit_id": world["O2"], "effective_at": at(3)},
            headers={**ADMIN, "If-Match": "5"},
        )
        assert_problem(again, 409)
        garbage = world.api.post(path, json=body, headers={**ADMIN, "If-Match": "abc"})
        assert assert_problem(garbage, 422)["errors"][0]["field"] == "If-Match"

    # ---- errors ----------------------------------------------------------------------

    def test_unknown_ids_are_404(self, world: World) -> None:
        api = world.api
        for path in (
            "/v1/clients/nobody",
            "/v1/clients/nobody/history",
            "/v1/units/nowhere",
            "/v1/staff/noone",
        ):
            assert_problem(api.get(path, headers=ADMIN), 404)
        body = {"tier": "gold", "reason": "r", "effective_at": at(2)}
        assert_problem(api.post("/v1/clients/nobody/tier-changes", json=body, headers=ADMIN), 404)
        assert_problem(api.get("/v1/no-such-route", headers=ADMIN), 404)
        assert_problem(api.put("/v1/clients/nobody", json={}, headers=ADMIN), 405)

    def test_a_domain_rule_is_a_409_naming_the_rule(self, world: World) -> None:
        client_id = world.client()
        body = {"kind": "normal", "reason": "emigrated", "effective_at": at(10)}
        world.post(f"/v1/clients/{client_id}/churn", body)
        again = world.api.post(f"/v1/clients/{client_id}/churn", json=body, headers=ADMIN)
        problem = assert_problem(again, 409)
        assert problem["rule"] == "already_churned"
        assert client_id in problem["detail"]

    def test_a_422_lists_each_bad_field(self, world: World) -> None:
        answer = world.api.post(
            "/v1/clients",
            json={"client_id": "", "tier": "bronze", "occurred_at": "2025-01-01T10:00:00", "x": 1},
            headers=ADMIN,
        )
        fields = {e["field"] for e in assert_problem(answer, 422)["errors"]}
        assert fields == {"client_id", "name", "unit_id", "tier", "occurred_at", "x"}
        client_id = world.client()
        negative = world.api.post(
            f"/v1/clients/{client_id}/assets",
            json={"amount": "-5", "as_of": at(3)[:10]},
            headers=ADMIN,
        )
        assert assert_problem(negative, 422)["errors"] == [
            {"field": "amount", "message": "must not be negative"}
        ]
        naive = world.api.get(
            f"/v1/clients/{client_id}", params={"as_of": "2025-01-01T00:00:00"}, headers=ADMIN
        )
        assert assert_problem(naive, 422)["errors"][0]["field"] == "as_of"
        numeric = world.post_raw(
            f"/v1/clients/{client_id}/churn",
            {"kind": "normal", "reason": "r", "effective_at": 1700000000},
        )
        assert assert_problem(numeric, 422)["errors"] == [
            {
                "field": "effective_at",
                "message": "must be an RFC 3339 date-time with an offset, "
                "e.g. 2025-03-31T09:00:00+08:00",
            }
        ]
        broken = world.api.post(
            "/v1/units", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
        )
        assert assert_problem(broken, 422)["errors"][0]["field"] == "body"

    def test_a_body_over_64_kib_is_413_declared_or_streamed(self, world: World) -> None:
        api = world.api
        position = api.get("/v1/health").json()["position"]
        big = {"client_id": new_id("C"), "name": "x" * 70_000, "unit_id": world["O1"]}
        assert_problem(api.post("/v1/clients", json=big, headers=ADMIN), 413)

        def chunks() -> Iterator[bytes]:
            yield b'{"client_id": "C1", "name": "'
            for _ in range(70):
                yield b"y" * 1024
            yield b'", "unit_id": "O1"}'

        streamed = api.post(
            "/v1/clients",
            content=chunks(),
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        assert_problem(streamed, 413)
        assert api.get("/v1/health").json()["position"] == position

    def test_an_unexpected_failure_is_a_500_without_a_trace_and_changes_nothing(
        self, world: World, clock: SwitchableClock
    ) -> None:
        client_id = world.client()
        position = world.api.get("/v1/health").json()["position"]
        clock.failing = True
        answer = world.api.post(
            f"/v1/clients/{client_id}/churn",
            json={"kind": "abnormal", "reason": "lost", "effective_at": at(4)},
            headers=ADMIN,
        )
        problem = assert_problem(answer, 500)
        assert "secret internals" not in answer.text
        assert "Traceback" not in answer.text
        assert problem["detail"] == "an unexpected error occurred"
        clock.failing = False
        assert world.api.get("/v1/health").json()["position"] == position
        state = world.api.get(f"/v1/clients/{client_id}", headers=ADMIN).json()
        assert (state["status"], state["version"]) == ("active", 1)

    def test_a_determination_on_an_unknown_case_is_404(self, world: World) -> None:
        answer = world.api.post(
            "/v1/accountability/churn-cases/abc/determinations",
            json={"outcome": "confirmed", "reason": "r"},
            headers=ADMIN,
        )
        assert "churn case" in assert_problem(answer, 404)["detail"]

    def test_openapi_describes_every_body_and_answer(self, api: TestClient) -> None:
        spec = api.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        for name in (
            "ClientCreate",
            "ClientPublic",
            "ClientHistoryPublic",
            "WritePublic",
            "UnitCreate",
            "StaffCreate",
            "TierChange",
            "ApiKeyCreate",
            "ApiKeyIssued",
            "Problem",
        ):
            assert name in schemas, name
        churn = spec["paths"]["/v1/clients/{client_id}/churn"]["post"]
        assert {"201", "401", "403", "404", "409", "413", "422"} <= set(churn["responses"])
        assert "application/problem+json" in churn["responses"]["409"]["content"]
        assert spec["components"]["securitySchemes"]
        assert api.get("/docs").status_code == 200


class TestApiOnSQLite(ApiContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestApiOnPostgres(ApiContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
