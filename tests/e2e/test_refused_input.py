"""API.md 1.1, "Input that is refused" and "Headers", over HTTP on SQLite and on PostgreSQL:
each refusal is a 422 naming the field or parameter, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import Container
from support.api_world import (
    ADMIN,
    SwitchableClock,
    World,
    assert_problem,
    at,
    new_id,
    running_app,
)

# Each is outside [1900-01-01T00:00:00Z, 9999-12-31T00:00:00Z] once converted to UTC.
TIMES_OUT_OF_RANGE = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "1900-01-01T08:00:00+08:01",
    "9999-12-31T00:00:01Z",
    "9999-12-31T23:59:59-14:00",
]
LOWEST_TIME = "1900-01-01T00:00:00Z"
HIGHEST_TIME = "9999-12-31T00:00:00Z"

# C0 (with CR, LF and tab), DEL, C1 and the bidi controls that reorder a printed line.
CONTROL_TEXT = [
    "a\x00b",
    "\x1b[2Jforged",
    "a\rb",
    "a\nb",
    "a\tb",
    "a\x7fb",
    "a\x85b",
    "a\x9bb",
    "a\u202eb",
    "a\u202ab",
    "a\u2066b",
    "a\u2069b",
]
LINE_BREAKS = ["a\nb", "a\tb"]
CONTROL_TEXT_BUT_LINE_BREAKS = [text for text in CONTROL_TEXT if text not in LINE_BREAKS]

BAD_AMOUNTS: list[Any] = [
    "1_000",
    " 5 ",
    "5 ",
    "1e3",
    "+5",
    "-5",
    ".5",
    "5.",
    "5.123",
    "5\n",
    "0x10",
    "١٢٣",
    "12345678901234",
    "NaN",
    1000,
    5.5,
]
GOOD_AMOUNTS = ["0", "5", "1000.5", "0.01", "9999999999999.99"]


class RefusedInputContract:
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
        with running_app(database_url, clock, read_wait_seconds=0.5) as running:
            yield running

    @pytest.fixture
    def api(self, app: tuple[TestClient, Container]) -> TestClient:
        return app[0]

    @pytest.fixture
    def container(self, app: tuple[TestClient, Container]) -> Container:
        return app[1]

    @pytest.fixture
    def world(self, api: TestClient) -> World:
        return World(api).build()

    def refused(
        self,
        container: Container,
        answer: Any,
        field: str,
        before: int,
    ) -> None:
        body = assert_problem(answer, 422)
        assert field in [error["field"] for error in body["errors"]], body
        assert container.ledger.position == before, f"a refused call wrote: {body}"

    # ---- times -------------------------------------------------------------------------

    def _time_bodies(self, world: World) -> list[tuple[str, dict[str, Any], str]]:
        client, churned = world.client(), world.client()
        world.post(
            f"/v1/clients/{churned}/churn",
            {"kind": "normal", "reason": "moved", "effective_at": at(2)},
        )
        return [
            ("/v1/units/{O1}/head", {"staff_id": world["M1"]}, "effective_at"),
            (
                "/v1/staff",
                {
                    "staff_id": new_id("S"),
                    "name": "Staff",
                    "unit_id": world["O1"],
                    "role": "teller",
                },
                "effective_at",
            ),
            ("/v1/staff/{M3}/transfers", {"unit_id": world["O2"]}, "effective_at"),
            ("/v1/staff/{M3}/departure", {"reason": "left"}, "effective_at"),
            (
                "/v1/clients",
                {"client_id": new_id("C"), "name": "Li Lei", "unit_id": world["O1"]},
                "occurred_at",
            ),
            (f"/v1/clients/{client}/profile", {"phone": "1"}, "effective_at"),
            (
                f"/v1/clients/{client}/tier-changes",
                {"tier": "gold", "reason": "grew"},
                "effective_at",
            ),
            (
                f"/v1/clients/{client}/assignments",
                {"staff_id": world["M1"], "reason": "new"},
                "effective_at",
            ),
            (
                f"/v1/clients/{client}/contacts",
                {"channel": "visit", "staff_id": world["M1"]},
                "occurred_at",
            ),
            (
                f"/v1/clients/{client}/churn",
                {"kind": "abnormal", "reason": "lost"},
                "effective_at",
            ),
            (f"/v1/clients/{churned}/reactivation", {"reason": "back"}, "effective_at"),
            ("/v1/integrity/verify", {"position": 0, "hash": "0" * 64}, "recorded_at"),
        ]

    def test_a_time_outside_the_range_is_refused_in_every_body(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        for path, body, field in self._time_bodies(world):
            path = path.format(O1=world["O1"], M3=world["M3"])
            for moment in TIMES_OUT_OF_RANGE:
                before = container.ledger.position
                answer = api.post(path, json={**body, field: moment}, headers=ADMIN)
                self.refused(container, answer, field, before)

    def test_an_asset_date_outside_the_range_is_refused(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        client = world.client()
        for day in ("0001-01-01", "1899-12-31"):
            before = container.ledger.position
            answer = api.post(
                f"/v1/clients/{client}/assets",
                json={"amount": "10", "as_of": day},
                headers=ADMIN,
            )
            self.refused(container, answer, "as_of", before)

    def _time_queries(self, world: World, client: str) -> list[tuple[str, dict[str, str]]]:
        unit = {"unit_id": world["B"]}
        period = {"from": LOWEST_TIME, "to": HIGHEST_TIME}
        return [
            (f"/v1/clients/{client}", {"as_of": HIGHEST_TIME}),
            (f"/v1/clients/{client}", {"known_at": HIGHEST_TIME}),
            ("/v1/rosters", {**unit, "as_of": HIGHEST_TIME}),
            ("/v1/rosters/summary", {**unit, "as_of": HIGHEST_TIME}),
            ("/v1/rosters/summary", {**unit, "known_at": HIGHEST_TIME}),
            ("/v1/accountability/responsible", {"client_id": client, "at": HIGHEST_TIME}),
            ("/v1/reports/overdue-contacts", {**unit, "as_of": HIGHEST_TIME}),
            ("/v1/reports/tier-growth", {**unit, **period}),
            ("/v1/reports/manager-portfolio", {"staff_id": world["M1"], **period}),
        ]

    def test_a_time_outside_the_range_is_refused_in_every_query(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        client = world.client()
        for path, query in self._time_queries(world, client):
            for field in set(query) & {"as_of", "known_at", "at", "from", "to"}:
                for moment in TIMES_OUT_OF_RANGE:
                    before = container.ledger.position
                    answer = api.get(path, params={**query, field: moment}, headers=ADMIN)
                    self.refused(container, answer, field, before)

    def test_the_bounds_of_the_range_are_accepted_and_the_read_models_keep_up(
        self, api: TestClient, world: World
    ) -> None:
        registered = world.post(
            "/v1/clients",
            {
                "client_id": new_id("C"),
                "name": "Old Client",
                "unit_id": world["O1"],
                "occurred_at": LOWEST_TIME,
            },
        )
        client = registered["id"]
        after = str(registered["position"])
        for path, query in self._time_queries(world, client):
            # The read models answer once they have processed the 1900 registration.
            waits = {} if path.startswith("/v1/clients/") else {"after": after}
            for moment in (LOWEST_TIME, HIGHEST_TIME):
                times = {name: moment for name in set(query) & {"as_of", "known_at", "at"}}
                answer = api.get(path, params={**query, **times, **waits}, headers=ADMIN)
                # A client is unknown as the ledger knew it in 1900: a 404, not a 5xx.
                assert answer.status_code in (200, 404), (path, moment, answer.text)
        roster = api.get(
            "/v1/rosters",
            params={"unit_id": world["O1"], "as_of": HIGHEST_TIME, "after": after},
            headers=ADMIN,
        )
        assert roster.status_code == 200, roster.text
        assert client in [item["client_id"] for item in roster.json()["items"]]

    # ---- query parameters ----------------------------------------------------------------

    def test_a_query_parameter_the_endpoint_does_not_define_is_refused(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        before = container.ledger.position
        answer = api.get(
            "/v1/reports/completeness",
            params={"unit_id": world["B"], "as_of": "2025-06-30T00:00:00+08:00"},
            headers=ADMIN,
        )
        self.refused(container, answer, "as_of", before)
        answer = api.get("/v1/health", params={"verbose": "1"})
        self.refused(container, answer, "verbose", before)
        answer = api.get(
            "/v1/reports/tier-growth",
            params={"unit_id": world["B"], "start": LOWEST_TIME, "to": HIGHEST_TIME},
            headers=ADMIN,
        )
        self.refused(container, answer, "start", before)
        client_id = new_id("C")
        answer = api.post(
            "/v1/clients",
            params={"occurred_at": at(0)},
            json={"client_id": client_id, "name": "Li Lei", "unit_id": world["O1"]},
            headers=ADMIN,
        )
        self.refused(container, answer, "occurred_at", before)
        assert api.get(f"/v1/clients/{client_id}", headers=ADMIN).status_code == 404

    def test_the_parameters_an_endpoint_defines_are_still_accepted(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        # `after` the world's last write: the read models know its units (with `after=0`
        # the answer raced the projections' next pull, a 404 for an unknown unit).
        after = str(container.ledger.position)
        period = {"unit_id": world["B"], "from": LOWEST_TIME, "to": HIGHEST_TIME, "after": after}
        answer = api.get("/v1/reports/tier-growth", params=period, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        answer = api.get(
            "/v1/reports/completeness",
            params={"unit_id": world["B"], "target": "0.9", "after": after},
            headers=ADMIN,
        )
        assert answer.status_code == 200, answer.text

    def test_a_query_parameter_given_twice_is_refused(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        before = container.ledger.position
        answer = api.get(f"/v1/rosters?unit_id={world['O1']}&unit_id={world['O3']}", headers=ADMIN)
        self.refused(container, answer, "unit_id", before)

    def test_a_query_value_holding_a_control_character_is_refused(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        before = container.ledger.position
        for text in CONTROL_TEXT:
            answer = api.get("/v1/rosters", params={"unit_id": world["O1"] + text}, headers=ADMIN)
            self.refused(container, answer, "unit_id", before)

    # ---- JSON bodies -----------------------------------------------------------------------

    def test_a_body_with_a_duplicated_key_is_refused(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        first, second = new_id("C"), new_id("C")
        before = container.ledger.position
        answer = api.post(
            "/v1/clients",
            content=(
                f'{{"client_id": "{first}", "name": "Li Lei", "unit_id": "{world["O1"]}", '
                f'"client_id": "{second}"}}'
            ),
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        self.refused(container, answer, "client_id", before)
        for client_id in (first, second):
            assert api.get(f"/v1/clients/{client_id}", headers=ADMIN).status_code == 404

    # ---- text ------------------------------------------------------------------------------

    def test_control_characters_are_refused_in_names_labels_and_key_information(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        client = world.client()
        writes = [
            ("/v1/clients", {"client_id": new_id("C"), "unit_id": world["O1"]}, "name"),
            ("/v1/units", {"unit_id": new_id("U"), "kind": "branch"}, "name"),
            (
                "/v1/staff",
                {"staff_id": new_id("S"), "unit_id": world["O1"], "role": "teller"},
                "name",
            ),
            ("/v1/api-keys", {"role": "auditor"}, "label"),
            (f"/v1/clients/{client}/profile", {}, "address"),
            (f"/v1/clients/{client}/profile", {}, "phone"),
            (f"/v1/clients/{client}/profile", {}, "employer"),
        ]
        for path, body, field in writes:
            for text in CONTROL_TEXT:
                before = container.ledger.position
                answer = api.post(path, json={**body, field: text}, headers=ADMIN)
                self.refused(container, answer, field, before)

    def _free_text_writes(self, world: World) -> list[tuple[str, dict[str, Any], str]]:
        client = world.client()
        profile = f"/v1/clients/{client}/profile"
        return [
            (
                f"/v1/clients/{client}/tier-changes",
                {"tier": "gold", "effective_at": at(1)},
                "reason",
            ),
            (
                f"/v1/clients/{client}/contacts",
                {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(1)},
                "purpose",
            ),
            (
                f"/v1/clients/{client}/contacts",
                {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(1)},
                "summary",
            ),
            (profile, {}, "business_interests"),
            (profile, {}, "product_horizon"),
            (profile, {}, "personality"),
            (profile, {}, "hobbies"),
            (profile, {}, "specialties"),
        ]

    def test_free_text_takes_line_feeds_and_tabs_but_no_other_control(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        for path, body, field in self._free_text_writes(world):
            for text in CONTROL_TEXT_BUT_LINE_BREAKS:
                before = container.ledger.position
                answer = api.post(path, json={**body, field: text}, headers=ADMIN)
                self.refused(container, answer, field, before)
            for text, tier in zip(LINE_BREAKS, ("platinum", "diamond"), strict=True):
                # A tier change must change the tier: each accepted one names another.
                changes = {"tier": tier} if "tier" in body else {}
                answer = api.post(path, json={**body, **changes, field: text}, headers=ADMIN)
                assert answer.status_code == 201, (field, text, answer.text)

    # ---- money -----------------------------------------------------------------------------

    def test_money_must_be_a_plain_decimal_string(
        self, api: TestClient, container: Container, world: World
    ) -> None:
        client = world.client()
        path = f"/v1/clients/{client}/assets"
        day = at(5)[:10]
        for amount in BAD_AMOUNTS:
            before = container.ledger.position
            answer = api.post(path, json={"amount": amount, "as_of": day}, headers=ADMIN)
            self.refused(container, answer, "amount", before)
        for amount in GOOD_AMOUNTS:
            answer = api.post(path, json={"amount": amount, "as_of": day}, headers=ADMIN)
            assert answer.status_code == 201, (amount, answer.text)

    # ---- headers ---------------------------------------------------------------------------

    def test_every_answer_carries_no_store_and_nosniff(
        self, api: TestClient, world: World, clock: SwitchableClock
    ) -> None:
        client = world.client()
        answers = {
            200: api.get(f"/v1/clients/{client}", headers=ADMIN),
            201: api.post(
                "/v1/units",
                json={"unit_id": new_id("U"), "name": "U", "kind": "branch"},
                headers=ADMIN,
            ),
            401: api.get(f"/v1/clients/{client}"),
            404: api.get(f"/v1/clients/{new_id('C')}", headers=ADMIN),
            413: api.post("/v1/units", content=b"x" * 70_000, headers=ADMIN),
            422: api.get("/v1/rosters", headers=ADMIN),
            503: api.get(
                "/v1/rosters", params={"unit_id": world["B"], "after": str(2**40)}, headers=ADMIN
            ),
        }
        unrouted = api.get("/v1/no-such-thing", headers=ADMIN)
        assert unrouted.status_code == 404
        clock.failing = True
        answers[500] = api.post(
            "/v1/units", json={"unit_id": new_id("U"), "name": "U", "kind": "branch"}, headers=ADMIN
        )
        for status, answer in [*answers.items(), (404, unrouted)]:
            assert answer.status_code == status, answer.text
            assert answer.headers["cache-control"] == "no-store", status
            assert answer.headers["x-content-type-options"] == "nosniff", status


class TestRefusedInputOnSQLite(RefusedInputContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestRefusedInputOnPostgres(RefusedInputContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
